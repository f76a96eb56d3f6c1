"""The page: one Gradio Blocks with A1111's quicksettings row and tabs. Only this package imports gradio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from webui.app_context import App
from webui.app_options import read_extras_options, read_job_options
from webui.security.request_caller import caller_of_scope
from webui.ui.extension_tabs import build_extension_tabs, call_after_component, collect_a1111_tabs, extension_head
from webui.ui.extensions_tab import build_extensions_tab, extensions_table
from webui.ui.extras_tab import build_extras_tab
from webui.ui.img2img_tab import build_img2img_tab
from webui.ui.memory_ledger import footer_text
from webui.ui.merger_tab import build_merger_tab
from webui.ui.pnginfo_tab import build_pnginfo_tab, wire_paste
from webui.ui.settings_tab import build_settings_tab
from webui.ui.system_tab import build_system_tab
from webui.ui.top_row import build_top_row
from webui.ui.txt2img_tab import build_txt2img_tab
from webui.ui.users_tab import build_users_tab

STYLE_FILE = Path(__file__).parent / "static" / "style.css"
PAGE_SCRIPT_FILE = Path(__file__).parent / "static" / "kestrel-page.js"
PAGE_TITLE = "Stable Diffusion (Kestrel)"


def build_ui(app: App) -> gr.Blocks:
    a1111_tabs = collect_a1111_tabs(app.extensions)  # A1111 builds these before its page, outside any Blocks
    with gr.Blocks(title=PAGE_TITLE, analytics_enabled=False) as page:
        top_row = build_top_row(app)
        top_row.refresh_on_load(app, page)
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
                txt2img = build_txt2img_tab(app, top_row.checkpoint)
            with gr.Tab("img2img", id="img2img", elem_id="tab_img2img"):
                img2img = build_img2img_tab(app, top_row.checkpoint)
            with gr.Tab("Extras", id="extras", elem_id="tab_extras"):
                build_extras_tab(app)
            with gr.Tab("PNG Info", id="pnginfo", elem_id="tab_pnginfo"):
                pnginfo = build_pnginfo_tab()
            with gr.Tab("Checkpoint Merger", id="modelmerger", elem_id="tab_modelmerger"):
                build_merger_tab(app, top_row.checkpoint)
            build_extension_tabs(app.extensions, a1111_tabs)
            with gr.Tab("Settings", id="settings", elem_id="tab_settings"):
                build_settings_tab(app)
            with gr.Tab("System", id="system", elem_id="tab_system"):
                build_system_tab(app)
            with gr.Tab("Extensions", id="extensions", elem_id="tab_extensions") as extensions_tab:
                extensions_html = build_extensions_tab(app)
            if app.accounts.ui_login_required:
                with gr.Tab("Users", id="users", elem_id="tab_users") as users_tab:
                    build_users_tab(app, users_tab)
        extensions_tab.select(lambda: extensions_table(app), outputs=[extensions_html], show_progress="hidden")
        wire_paste(app, tabs, top_row, txt2img, img2img, pnginfo)
        call_after_component(app.extensions, page)  # A1111 extensions' on_after_component, once the page is built
        memory_plan = gr.Markdown(elem_id="memory_plan")
        if app.accounts.ui_login_required:
            gr.HTML('<a href="/logout" id="logout_link">Log out</a>', elem_id="logout")
        page.load(lambda: footer_text(app), outputs=[memory_plan], show_progress="hidden")  # the memory ledger
    app.ui_config.save_missing()  # A1111 adds the page's control defaults to ui-config.json
    return page


def mount_options(app: App) -> dict:
    """Keyword arguments for `gr.mount_gradio_app`: our css and the extensions' (style.css, javascript/*.js), and
    the image folders as the only extra file roots (the gallery shows the saved PNGs themselves, so a download
    keeps its infotext; Gradio copies them into its cache, and the security gate serves files from the cache only).
    With logins on, Gradio learns the account from the gate through `auth_dependency`, which is what
    `gr.Request.username` reports to the handlers."""
    options = read_job_options(app.settings, app.paths)
    folders = (options.save, options.save_img2img, options.grids.txt2img, options.grids.img2img)
    image_folders = {str(app.paths.outputs), *(str(save.folder) for save in folders if save is not None),
                     str(read_extras_options(app.settings, app.paths).folder)}
    private = [app.paths.models, app.paths.config_file, app.paths.root / "auth.json", app.paths.cache_file,
               app.paths.root / "queue.sqlite3", app.paths.extensions, app.paths.root / "extensions-data"]
    css = STYLE_FILE.read_text(encoding="utf-8") + "\n" + app.extensions.css()  # extensions' style.css after ours
    page_script = f"<script>/* Kestrel's page script */\n{PAGE_SCRIPT_FILE.read_text(encoding='utf-8')}\n</script>"
    head = page_script + "\n" + extension_head(app.extensions)  # shortcuts, tooltips, the generate box
    mount: dict[str, Any] = {"css": css, "head": head, "allowed_paths": sorted(image_folders),
                             "blocked_paths": [str(path) for path in private],
                             "max_file_size": f"{app.options.max_upload_mb}mb"}
    if app.accounts.ui_login_required:
        mount["auth_dependency"] = lambda request: caller_of_scope(request.scope).name
    return mount


def add_theme_redirect(http, theme: str | None) -> None:
    """--theme as A1111 does it: the page is opened with Gradio's `?__theme=` query unless the URL names one."""
    if theme is None:
        return
    from starlette.responses import RedirectResponse

    @http.middleware("http")
    async def themed(request, call_next):
        if request.method == "GET" and request.url.path == "/" and "__theme" not in request.query_params:
            query = f"{request.url.query}&" if request.url.query else ""
            return RedirectResponse(f"/?{query}__theme={theme}", status_code=307)
        return await call_next(request)
