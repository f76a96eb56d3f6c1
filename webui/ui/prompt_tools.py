"""A1111's small prompt-row tools: the token counter on each prompt box, 🗑️ clear prompt, ⇅ swap width/height.

The counter counts as the conditioning does (`webui.engine.prompt_chunks`: 75-token chunks, BREAK, the comma
backtrack, extra-network tags left out, the longest text of a prompt schedule), so "76/150" means the prompt
really spilled into a second chunk. Ours also shows each chunk's own count ("75 + 1"), which A1111's does not:
a user trimming a prompt sees which chunk is nearly full.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from webui.app_context import App
from webui.engine.prompt_chunks import CHUNK_LENGTH, ChunkedPrompt, SpecialTokens, chunk_prompt
from webui.engine.prompt_syntax import parse_attention, prompt_schedule

EXTRA_NETWORK_TAG = re.compile(r"<[^<>:]+:[^<>]*>")  # <lora:name:1>, A1111 strips these before counting
COUNTER_STEPS = 20  # the step count prompt schedules are resolved at, only to find their longest text


@dataclass(frozen=True)
class TokenCount:
    used: int
    limit: int
    per_chunk: tuple[int, ...]

    def text(self) -> str:
        chunks = f" ({' + '.join(str(count) for count in self.per_chunk)})" if len(self.per_chunk) > 1 else ""
        return f"{self.used}/{self.limit}{chunks}"


def _chunk_counts(chunked: ChunkedPrompt, end_token: int) -> tuple[int, ...]:
    """Each chunk's prompt tokens: its ids after the start token, up to the first end (padding) token."""
    counts = []
    for chunk in chunked.chunks:
        body = chunk.tokens[1:]
        counts.append(body.index(end_token) if end_token in body else len(body))
    return tuple(counts)


def make_token_counter(app: App) -> Callable[[str | None], TokenCount]:
    """A function text → TokenCount with the loaded model's tokenizer (the SD 1.x CLIP tokenizer when none is
    loaded yet, built once for this page)."""
    built: list = []

    def tokenizer():
        loaded = app.models.loaded
        if loaded is not None and getattr(loaded.pipeline, "tokenizer", None) is not None:
            return loaded.pipeline.tokenizer
        if not built:
            from webui.model_manager.tokenizer import build_clip_tokenizer

            built.append(build_clip_tokenizer())
        return built[0]

    def count(text: str | None) -> TokenCount:
        clip = tokenizer()
        special = SpecialTokens(clip.bos_token_id, clip.eos_token_id, clip.convert_tokens_to_ids(",</w>"))

        def tokenize(part: str) -> list[int]:
            return clip(part, add_special_tokens=False, truncation=False)["input_ids"]

        plain = EXTRA_NETWORK_TAG.sub("", text or "")
        try:
            texts = [entry for _step, entry in prompt_schedule(plain, COUNTER_STEPS)] or [plain]
        except ValueError:
            texts = [plain]
        best = max((chunk_prompt(parse_attention(entry), tokenize, special) for entry in texts),
                   key=lambda chunked: chunked.token_count)
        per_chunk = _chunk_counts(best, special.end)
        limit = max(CHUNK_LENGTH, len(best.chunks) * CHUNK_LENGTH)
        return TokenCount(best.token_count, limit, per_chunk)

    return count


def token_counter_html(count: TokenCount) -> str:
    title = f"{count.used} tokens in {len(count.per_chunk)} chunk(s) of {CHUNK_LENGTH}"
    return f'<span class="token-count" title="{html.escape(title)}">{html.escape(count.text())}</span>'


def attach_token_counter(app: App, box: gr.Textbox, elem_id: str) -> gr.HTML:
    """A counter under the box's top-right corner (A1111's place), updated as the text changes."""
    counter = make_token_counter(app)
    shown = gr.HTML(token_counter_html(TokenCount(0, CHUNK_LENGTH, (0,))), elem_id=elem_id,
                    elem_classes=["token-counter"], padding=False)

    def update(text: str | None) -> str:
        return token_counter_html(counter(text))

    box.change(update, inputs=[box], outputs=[shown], show_progress="hidden", trigger_mode="always_last",
               queue=False)
    return shown


def wire_clear_prompt(button: gr.Button, prompt: gr.Textbox, negative: gr.Textbox) -> None:
    """🗑️ empties both prompt boxes (A1111 asks first when its confirm setting is on; ours undoes with Ctrl+Z)."""
    button.click(lambda: ("", ""), outputs=[prompt, negative], show_progress="hidden", queue=False)


def wire_swap(button: gr.Button, width: gr.Slider, height: gr.Slider) -> None:
    """⇅ swaps width and height, as A1111's button between the sliders."""
    button.click(lambda w, h: (h, w), inputs=[width, height], outputs=[width, height], show_progress="hidden",
                 queue=False)
