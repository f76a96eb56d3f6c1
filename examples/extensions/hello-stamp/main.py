"""hello-stamp: an example Kestrel extension (API version 1). Copy this folder into your data dir's
`extensions/` and restart. It imports nothing of Kestrel but `webui.extensions.api`.

- a "Hello Stamp" tab that makes a small picture through the shared job queue (`ctx.generate`);
- two settings (Settings → Hello Stamp): a suffix appended to every prompt, and a stamp written into the infotext;
- a route, GET /ext/hello-stamp/models, listing the models Kestrel knows;
- a before-generation hook (the suffix) and an after-image hook (the "Stamp" infotext field and a log file).
"""

from __future__ import annotations

import dataclasses
import io

import gradio as gr
from PIL import Image

from webui.extensions import api

SUFFIX = "hello_stamp_suffix"
STAMP = "hello_stamp_text"


def append_suffix(ctx: api.ExtensionContext):
    def hook(event: api.BeforeGeneration) -> api.GenerationRequest | None:
        suffix = str(ctx.setting(SUFFIX)).strip()
        if not suffix or event.request.prompt.endswith(suffix):
            return None  # leave the request as it is
        return dataclasses.replace(event.request, prompt=f"{event.request.prompt}, {suffix}")
    return hook


def stamp_image(ctx: api.ExtensionContext):
    def hook(event: api.ImageReady) -> dict[str, str] | None:
        text = str(ctx.setting(STAMP)).strip()
        if not text:
            return None
        with (ctx.data_dir / "stamped.log").open("a", encoding="utf-8") as log:
            log.write(f"{event.seed}\t{event.request.prompt}\n")
        return {"Stamp": text}
    return hook


def build_tab(ctx: api.ExtensionContext) -> None:
    gr.Markdown("Makes a 64×64 picture through the same queue as txt2img (the hooks of every extension apply).")
    with gr.Row():
        prompt = gr.Textbox(label="Prompt", value="a lighthouse at dusk", elem_id="hello_stamp_prompt", scale=4)
        run = gr.Button("Generate", variant="primary", elem_id="hello_stamp_generate", scale=1)
    picture = gr.Image(label="Result", format="png", elem_id="hello_stamp_image")
    infotext = gr.Textbox(label="Infotext", lines=3, elem_id="hello_stamp_infotext")

    def generate(text: str):
        try:
            result = ctx.generate(api.GenerationRequest(prompt=text, width=64, height=64, steps=4,
                                                        sampler_name="Euler a", save_images=False))
        except (ValueError, RuntimeError, TimeoutError) as error:
            raise gr.Error(str(error)) from error
        first = result.images[0]
        return Image.open(io.BytesIO(first.png)), first.infotext

    run.click(generate, inputs=[prompt], outputs=[picture, infotext])


def setup(ctx: api.ExtensionContext) -> None:
    ctx.add_setting(SUFFIX, "", "Text appended to every prompt (empty: nothing)", section="Hello Stamp")
    ctx.add_setting(STAMP, "hello", "Written as 'Stamp' in each image's infotext (empty: nothing)",
                    section="Hello Stamp")
    ctx.add_tab("Hello Stamp", build_tab, elem_id="hello_stamp")
    ctx.add_route("/models", lambda: dataclasses.asdict(ctx.models()))
    ctx.on_before_generation(append_suffix(ctx))
    ctx.on_image(stamp_image(ctx))
    ctx.log.info("hello-stamp ready; its data folder is %s", ctx.data_dir)
