"""The Extensions tab (A1111's last tab): installed extensions with version, status, load time and failures;
enable/disable (A1111's `disabled_extensions` in config.json, applied at the next start); install from a git URL,
which is refused when the page is reachable from the network (--listen, --server-name) unless
--enable-insecure-extension-access, as in A1111."""

from __future__ import annotations

import html

import gradio as gr

from webui.app_context import App
from webui.extensions.context import extension_data_dir
from webui.extensions.git import InstallError, install_from_url
from webui.extensions.registry import ExtensionRecord
from webui.extensions.requirements import InstallPlan, install, read_plan
from webui.ui.callers import require_admin, ui_caller

ACCESS_DISABLED = ("Installing extensions from the page is off because the server is reachable from the network "
                   "(--listen or --server-name); start it with --enable-insecure-extension-access to allow it.")
NEXT_START = "Enabling and disabling take effect at the next start of the server."


def _failures_html(record: ExtensionRecord) -> str:
    if not record.failures:
        return ""
    items = "".join(f"<details><summary>{html.escape(failure.stage)}</summary>"
                    f"<pre class=\"extension-traceback\">{html.escape(failure.traceback)}</pre></details>"
                    for failure in record.failures)
    return f'<div class="extension-failures">{items}</div>'


def _row(record: ExtensionRecord, adapted: list[str] | None = None) -> str:
    status = record.status.value
    if record.hook_failures:
        status += f" ({record.hook_failures} hook failure{'s' if record.hook_failures > 1 else ''})"
    git = record.git
    origin = html.escape(git.remote or "local")
    if git.commit_hash:
        origin += f" ({html.escape(git.branch or 'detached')} {git.commit_hash[:8]})"
    return (f'<tr data-extension="{html.escape(record.folder.name)}">'
            f"<td>{html.escape(record.name)}</td><td>{html.escape(record.kind)}</td>"
            f"<td>{html.escape(record.version or '')}</td>"
            f'<td class="extension-status status-{record.status.value.replace(" ", "-")}">{html.escape(status)}</td>'
            f"<td>{record.load_seconds * 1000:.1f} ms</td><td>{origin}</td>"
            f"<td>{html.escape(record.message)}{_adapted_html(adapted)}{_failures_html(record)}</td></tr>")


def _adapted_html(adapted: list[str] | None) -> str:
    if not adapted:
        return ""
    return (f'<details class="extension-adapted"><summary>Gradio 3 → 6: {len(adapted)} adaptations</summary>'
            f"<ul>{''.join(f'<li>{html.escape(note)}</li>' for note in adapted)}</ul></details>")


def extensions_table(app: App) -> str:
    records = app.extensions.records()
    if not records:
        return f"<p>No extensions in {html.escape(str(app.paths.extensions))}.</p>"
    head = ("<tr><th>Extension</th><th>Kind</th><th>Version</th><th>Status</th><th>Load time</th>"
            "<th>Source</th><th>Details</th></tr>")
    shims = dict(app.extensions.a1111_shims())
    rows = "".join(_row(record, getattr(shims.get(record.name), "adapter_notes", None)) for record in records)
    return f'<table id="extensions"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _build_installed(app: App) -> gr.HTML:
    folders = [record.folder.name for record in app.extensions.records()]
    disabled = set(app.settings.get("disabled_extensions"))
    notice = NEXT_START + (" All extensions are off for this run (--disable-all-extensions)."
                           if app.options.disable_all_extensions else "")
    with gr.Row(elem_id="extensions_installed_top"):
        enabled = gr.CheckboxGroup(folders, value=[name for name in folders if name not in disabled],
                                   label="Enabled extensions", elem_id="extensions_enabled", scale=3)
        apply = gr.Button("Apply (at the next start)", variant="primary", elem_id="extensions_apply", scale=1)
    gr.Markdown(notice, elem_id="extensions_notice")
    result = gr.HTML(elem_id="extensions_apply_result")
    table = gr.HTML(extensions_table(app), elem_id="extensions_table")

    def save(chosen: list[str], request: gr.Request) -> str:
        require_admin(app, request, "Enabling or disabling extensions")
        now_disabled = sorted(name for name in folders if name not in chosen)
        unknown_kept = [name for name in disabled if name not in folders]  # removed folders keep their entry
        try:
            app.settings.set("disabled_extensions", sorted({*now_disabled, *unknown_kept}))
        except (ValueError, OSError) as error:
            raise gr.Error(str(error)) from error
        return html.escape(f"Saved. Disabled: {', '.join(now_disabled) or 'none'}. {NEXT_START}")

    apply.click(save, inputs=[enabled], outputs=[result], show_progress="hidden")
    return table


def _build_install(app: App) -> None:
    allowed = not app.options.disable_extension_access
    if not allowed:
        gr.HTML(f'<p class="extension-access-disabled">{html.escape(ACCESS_DISABLED)}</p>',
                elem_id="extension_install_disabled")
    url = gr.Textbox(label="URL for extension's git repository", elem_id="extension_install_url",
                     interactive=allowed)
    branch = gr.Textbox(label="Specific branch name", placeholder="Leave empty for the default branch",
                        elem_id="extension_install_branch", interactive=allowed)
    folder = gr.Textbox(label="Local directory name", placeholder="Leave empty for auto",
                        elem_id="extension_install_dirname", interactive=allowed)
    install = gr.Button("Install", variant="primary", elem_id="extension_install_button", interactive=allowed)
    result = gr.HTML(elem_id="extension_install_result")

    def run_install(url_text: str, branch_text: str, folder_text: str, request: gr.Request) -> str:
        if app.options.disable_extension_access:  # checked here too: the button state is only a hint
            raise gr.Error(ACCESS_DISABLED)
        require_admin(app, request, "Installing an extension (it runs code on the server)")
        try:
            target = install_from_url(app.paths.extensions, url_text, branch_text, folder_text)
        except InstallError as error:
            raise gr.Error(str(error)) from error
        return html.escape(f"Installed into {target}. Restart the server to load it.")

    install.click(run_install, inputs=[url, branch, folder], outputs=[result])


def _plans(app: App) -> dict[str, InstallPlan]:
    """Extensions whose requirements.txt / install.py still wait for the admin's consent, by folder name."""
    plans = {}
    for record in app.extensions.records():
        plan = read_plan(record.folder.name, record.folder, extension_data_dir(app.paths.root, record.folder.name))
        if plan is not None and plan.needed:
            plans[record.folder.name] = plan
    return plans


def _build_requirements(app: App) -> None:
    """Installing what an extension's requirements.txt / install.py ask for: shown first, run only when an admin
    presses the button, logged, and refused where installing extensions from the page is."""
    plans = _plans(app)
    if not plans:
        return
    listed = "".join(f"<li><b>{html.escape(name)}</b>: {html.escape(plan.describe())}"
                     f"{' — ' + html.escape(', '.join(plan.requirements)) if plan.requirements else ''}</li>"
                     for name, plan in plans.items())
    gr.HTML(f'<div id="extension_requirements_list"><p>These extensions ask for packages to be installed into '
            f"Kestrel's Python (their own code runs to install them):</p><ul>{listed}</ul></div>")
    allowed = not app.options.disable_extension_access
    with gr.Row():
        chosen = gr.Dropdown(list(plans), value=next(iter(plans)), label="Extension",
                             elem_id="extension_requirements_choice", interactive=allowed, scale=3)
        button = gr.Button("Install its requirements", elem_id="extension_requirements_install",
                           interactive=allowed, scale=1)
    result = gr.HTML(elem_id="extension_requirements_result")

    async def run(name: str, request: gr.Request) -> str:
        if app.options.disable_extension_access:
            raise gr.Error(ACCESS_DISABLED)
        require_admin(app, request, "Installing an extension's requirements (it runs code on the server)")
        caller = ui_caller(app, request).name
        plan = _plans(app).get(name)
        if plan is None:
            return html.escape(f"{name}: nothing left to install.")
        outcome = await app.jobs.off_loop(install, plan, f"the admin {caller or 'on localhost'} in the Extensions tab")
        verdict = "Installed; restart the server to load it." if outcome.ok else "The install failed:"
        return f"<p>{html.escape(verdict)}</p><pre class=\"extension-install-log\">{html.escape(outcome.log)}</pre>"

    button.click(run, inputs=[chosen], outputs=[result])


def build_extensions_tab(app: App) -> gr.HTML:
    """Returns the installed-extensions table so the page can refresh it when the tab is opened."""
    with gr.Tabs(elem_id="tabs_extensions"):
        with gr.Tab("Installed", id="installed"):
            table = _build_installed(app)
            _build_requirements(app)
        with gr.Tab("Install from URL", id="install_from_url"):
            _build_install(app)
    return table
