import copy

import gradio as gr
from modules import scripts
from modules.processing import Processed, process_images


class PromptList(scripts.Script):
    def title(self):
        return "Prompts from lines"

    def ui(self, is_img2img):
        return [gr.Textbox(label="One prompt per line", lines=3, elem_id=self.elem_id("lines"))]

    def run(self, p, lines):
        images, infotexts = [], []
        for line in [line.strip() for line in lines.splitlines() if line.strip()]:
            copy_p = copy.copy(p)
            copy_p.prompt = line
            copy_p.all_prompts = [line] * copy_p.image_count
            processed = process_images(copy_p)
            images += processed.images
            infotexts += processed.infotexts
        return Processed(p, images, p.seed, infotexts[0] if infotexts else "", infotexts=infotexts)
