"""A1111's "extra networks" browser: the installed LoRAs and embeddings as clickable cards that add their tag to
the prompt (`<lora:name:1>`, or the embedding's trigger word), with a refresh button that rescans the folders."""

from __future__ import annotations

import gradio as gr

from webui.app_context import App

DEFAULT_MULTIPLIER = 1  # A1111's extra_networks_default_multiplier


def _lora_samples(app: App) -> list[list[str]]:
    networks = app.engine.networks
    return [[record.name] for record in (networks.loras.records if networks else [])]


def _embedding_samples(app: App) -> list[list[str]]:
    networks = app.engine.networks
    return [[record.name] for record in (networks.embeddings.records if networks else [])]


def add_to_prompt(prompt: str | None, addition: str) -> str:
    """Append with A1111's separator: a space after a trailing comma, else ", " (nothing for an empty prompt)."""
    text = (prompt or "").rstrip()
    if not text:
        return addition
    return f"{text} {addition}" if text.endswith(",") else f"{text}, {addition}"


def build_extra_networks(app: App, tab: str, prompt: gr.Textbox) -> None:
    with gr.Accordion("Extra networks", open=False, elem_id=f"{tab}_extra_networks"):
        with gr.Tabs(elem_id=f"{tab}_extra_tabs_networks"):
            with gr.Tab("Textual Inversion", elem_id=f"{tab}_textual_inversion_tab"):
                embeddings = gr.Dataset(components=["text"], samples=_embedding_samples(app), label="Embeddings",
                                        elem_id=f"{tab}_textual_inversion_cards", samples_per_page=40)
            with gr.Tab("Lora", elem_id=f"{tab}_lora_tab"):
                loras = gr.Dataset(components=["text"], samples=_lora_samples(app), label="LoRA",
                                   elem_id=f"{tab}_lora_cards", samples_per_page=40)
        refresh = gr.Button("🔄 Refresh", elem_id=f"{tab}_extra_refresh", size="sm")

    def insert_lora(sample, current):
        return add_to_prompt(current, f"<lora:{sample[0]}:{DEFAULT_MULTIPLIER}>")

    def insert_embedding(sample, current):
        return add_to_prompt(current, sample[0])

    def rescan():
        app.refresh_networks()
        return gr.Dataset(samples=_embedding_samples(app)), gr.Dataset(samples=_lora_samples(app))

    loras.click(insert_lora, inputs=[loras, prompt], outputs=[prompt], show_progress="hidden")
    embeddings.click(insert_embedding, inputs=[embeddings, prompt], outputs=[prompt], show_progress="hidden")
    refresh.click(rescan, outputs=[embeddings, loras], show_progress="hidden")
