import json
import sys
from pathlib import Path

import gradio as gr
from modules import extensions, images, paths, script_callbacks, scripts, shared
from modules.ui_components import FormRow, ToolButton
from scripts.sibling import VALUE

sys.path.append(str(Path(scripts.basedir()) / "lib"))
import helper_module  # noqa: E402

seen = {"basedir": scripts.basedir(), "sibling": VALUE, "helper": helper_module.WORD,
        "embeddings_dir": shared.cmd_opts.embeddings_dir, "lora_dir": shared.cmd_opts.lora_dir,
        "gradio_auth": shared.cmd_opts.gradio_auth, "models_path": paths.models_path,
        "script_path": paths.script_path, "callbacks_alias": scripts.script_callbacks is script_callbacks,
        "read_info": images.read_info_from_image is not None}


def on_ui_settings():
    section = ("gradio3_tab", "Gradio 3 tab")
    shared.opts.add_option("gradio3_word", shared.OptionInfo("owl", "A word", gr.Textbox, section=section))
    shared.opts.add_option("gradio3_tabs", shared.OptionInfo([], "Tabs", gr.CheckboxGroup,
                                                             lambda: {"choices": ["one", "two"]}, section=section))
    shared.opts.onchange("gradio3_word", word_changed, call=False)


def word_changed():
    (Path(scripts.basedir()) / "changed.txt").write_text(shared.opts.gradio3_word)


def on_ui_tabs():
    seen["active"] = [extension.name for extension in extensions.active()]
    with gr.Blocks(analytics_enabled=False, variant="compact") as tab:
        with gr.Box():
            with FormRow():
                word = gr.Textbox(label="Word", elem_id="gradio3_word").style(container=False)
                ToolButton("🔁", elem_id="gradio3_refresh")
            gr.Image(source="upload", tool="editor", type="pil", elem_id="gradio3_image")
            show = gr.Button("Show", variant="primary", elem_id="gradio3_show").style(full_width=True)
        show.click(fn=lambda: shared.opts.gradio3_word, inputs=[], outputs=[word], _js="(x) => x")
        show.click(fn=None, _js="() => { document.documentElement.dataset.gradio3 = 'clicked'; }")
    return [(tab, "Gradio 3 tab", "gradio3_tab")]


def on_app_started(demo, app):
    @app.get("/gradio3-tab/seen")
    def report():
        return seen


script_callbacks.on_ui_settings(on_ui_settings)
script_callbacks.on_ui_tabs(on_ui_tabs)
script_callbacks.on_app_started(on_app_started)
script_callbacks.on_after_component(
    lambda component, **kwargs: kwargs.get("elem_id") == "txt2img_prompt" and component.change(
        fn=None, js="() => { document.documentElement.dataset.gradio3Prompt = 'changed'; }"))
script_callbacks.on_model_loaded(lambda sd_model: (Path(scripts.basedir()) / "model.txt").write_text(
    f"{sd_model.sd_checkpoint_info.title} {sd_model.sd_model_hash}"))
(Path(scripts.basedir()) / "seen.json").write_text(json.dumps(seen))
