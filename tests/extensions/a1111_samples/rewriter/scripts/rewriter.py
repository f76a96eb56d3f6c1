import gradio as gr
from modules import scripts


class PromptRewriter(scripts.Script):
    def title(self):
        return "Prompt rewriter"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        with gr.Accordion("Prompt rewriter", open=False):
            suffix = gr.Textbox(value="in watercolour", label="Suffix", elem_id=self.elem_id("suffix"))
        return [suffix]

    def process(self, p, suffix):
        if not suffix:
            return
        p.prompt = f"{p.prompt}, {suffix}"
        p.all_prompts = [f"{prompt}, {suffix}" for prompt in p.all_prompts]
        p.extra_generation_params["Rewriter"] = suffix
        if suffix == "per image":
            p.all_prompts = [f"image {index}" for index in range(len(p.all_prompts))]
        if suffix == "reach inside":
            p.sd_model.first_stage_model  # noqa: B018 - an A1111 internal Kestrel cannot honour
