from pathlib import Path

import gradio as gr
from modules import scripts
from PIL import Image


class Painter(scripts.Script):
    def title(self):
        return "Painter"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [gr.Checkbox(True, label="Paint it red")]

    def postprocess_image(self, p, pp, enabled):
        if enabled:
            pp.image = Image.new("RGB", pp.image.size, (255, 0, 0))

    def postprocess(self, p, processed, enabled):
        log = Path(scripts.basedir()) / "postprocessed.txt"
        log.write_text(f"{len(processed.images)} {processed.images[0].getpixel((0, 0))}\n")
