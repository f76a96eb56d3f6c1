"""Prompt → text-encoder conditioning the way A1111 computes it, fed to diffusers as `prompt_embeds`.

diffusers' own prompt encoding truncates at 77 tokens and knows no emphasis, so we encode ourselves with the
pipeline's tokenizer and text encoder: A1111's 75-token chunks (`prompt_chunks`), each chunk through CLIP (stopping
`clip_skip` layers early, then the final layer norm, as A1111's "Clip skip"), textual-inversion vectors spliced into
the token embeddings with a PyTorch forward hook (the module's public extension point), and "Original" emphasis:
multiply each token's vector by its weight, then rescale so the mean is unchanged.

Prompt editing and alternation give each prompt a schedule of texts; `JobConditioning.embeds_at(step)` answers the
pair (cond, uncond) for a sampling step, every entry padded with empty chunks to one length so the tensors can
change between steps inside diffusers' loop (through `callback_on_step_end`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from webui.engine.prompt_chunks import ChunkedPrompt, EmbeddingMatch, SpecialTokens, chunk_prompt
from webui.engine.prompt_syntax import parse_attention, prompt_schedule, text_at_step

CLIP_SKIP_RANGE = (1, 12)


class _EmbeddingFinder:
    """Finds textual-inversion triggers (the embedding's name, tokenized) in a token stream; longest match wins."""

    def __init__(self, tokenizer, vectors: Mapping[str, torch.Tensor]) -> None:
        self._by_first_token: dict[int, list[tuple[tuple[int, ...], str]]] = {}
        self._vectors = vectors
        for name in vectors:
            ids = tuple(tokenizer(name, add_special_tokens=False, truncation=False)["input_ids"])
            if ids:
                self._by_first_token.setdefault(ids[0], []).append((ids, name))
        for candidates in self._by_first_token.values():
            candidates.sort(key=lambda candidate: len(candidate[0]), reverse=True)

    def __call__(self, tokens, position: int) -> EmbeddingMatch | None:
        for ids, name in self._by_first_token.get(tokens[position], ()):
            if tuple(tokens[position:position + len(ids)]) == ids:
                return EmbeddingMatch(name, len(ids), int(self._vectors[name].shape[0]))
        return None


@dataclass(frozen=True)
class EncodedText:
    vectors: torch.Tensor  # [tokens, width]
    embeddings_used: tuple[str, ...]


class PromptEncoder:
    """Encodes texts with one pipeline's tokenizer and text encoder; `embeddings` maps trigger → vectors."""

    def __init__(self, tokenizer, text_encoder, clip_skip: int = 1,
                 embeddings: Mapping[str, torch.Tensor] | None = None, comma_backtrack: int = 20,
                 device: torch.device | str | None = None) -> None:
        low, high = CLIP_SKIP_RANGE
        if not low <= clip_skip <= high:
            raise ValueError(f"CLIP skip {clip_skip} is out of range: use {low} to {high}")
        self._tokenizer = tokenizer
        self._device = device if device is not None else text_encoder.device  # offloading: the execution device
        self._text_encoder = text_encoder
        self._clip_skip = clip_skip
        self._embeddings = dict(embeddings or {})
        self._comma_backtrack = comma_backtrack
        comma = tokenizer.convert_tokens_to_ids(",</w>")  # not get_vocab(): that copies 49k entries per job
        self._special = SpecialTokens(tokenizer.bos_token_id, tokenizer.eos_token_id, comma)
        self._finder = _EmbeddingFinder(tokenizer, self._embeddings)

    def _tokenize(self, text: str) -> list[int]:
        return self._tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]

    def chunk(self, text: str) -> ChunkedPrompt:
        return chunk_prompt(parse_attention(text), self._tokenize, self._special, self._finder, self._comma_backtrack)

    def encode(self, text: str) -> EncodedText:
        chunked = self.chunk(text)
        tokens = torch.tensor([chunk.tokens for chunk in chunked.chunks], device=self._device)
        with self._spliced_embeddings(chunked):
            hidden = self._hidden_states(tokens)
        hidden = _apply_emphasis(hidden, [chunk.multipliers for chunk in chunked.chunks])
        return EncodedText(hidden.reshape(-1, hidden.shape[-1]), chunked.embeddings_used)

    def empty_chunk(self) -> torch.Tensor:
        """The encoding of an empty 77-token chunk, used to pad shorter conditionings."""
        return self.encode("").vectors

    def _hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        if self._clip_skip == 1:
            return self._text_encoder(input_ids=tokens).last_hidden_state
        output = self._text_encoder(input_ids=tokens, output_hidden_states=True)
        # transformers 5 puts the layer norm on the model itself; older releases under `.text_model`
        owner = self._text_encoder if hasattr(self._text_encoder, "final_layer_norm") else self._text_encoder.text_model
        final_norm = owner.final_layer_norm
        return final_norm(output.hidden_states[-self._clip_skip])

    @contextmanager
    def _spliced_embeddings(self, chunked: ChunkedPrompt) -> Iterator[None]:
        slots = [(row, slot) for row, chunk in enumerate(chunked.chunks) for slot in chunk.embeddings]
        if not slots:
            yield
            return

        def splice(module, inputs, output: torch.Tensor) -> torch.Tensor:
            output = output.clone()
            for row, slot in slots:
                vectors = self._embeddings[slot.name].to(device=output.device, dtype=output.dtype)
                start = slot.offset + 1  # after the start token
                output[row, start:start + vectors.shape[0]] = vectors
            return output

        token_embedding = self._text_encoder.get_input_embeddings()
        handle = token_embedding.register_forward_hook(splice)
        try:
            yield
        finally:
            handle.remove()


def _apply_emphasis(hidden: torch.Tensor, multipliers: list[list[float]]) -> torch.Tensor:
    """A1111's "Original" emphasis, chunk by chunk: scale each token's vector by its weight, then rescale the chunk
    so its mean is what it was. Unweighted chunks are left bit-identical; a chunk whose mean is (numerically) zero
    is not rescaled, where the ratio would be meaningless."""
    weights = torch.tensor(multipliers, dtype=hidden.dtype, device=hidden.device)
    if bool((weights == 1.0).all()):
        return hidden
    original_mean = hidden.mean(dim=(1, 2), keepdim=True)
    weighted = hidden * weights.unsqueeze(-1)
    new_mean = weighted.mean(dim=(1, 2), keepdim=True)
    ratio = torch.where(new_mean.abs() > 1e-12, original_mean / new_mean, torch.ones_like(new_mean))
    return weighted * ratio


@dataclass(frozen=True)
class ScheduledConditioning:
    """One prompt's conditioning over the sampling steps: (last step, vectors) entries, A1111's timeline."""

    entries: tuple[tuple[int, torch.Tensor], ...]

    def at(self, step: int) -> torch.Tensor:
        return self.entries[text_at_step(self.entries, step)][1]

    @property
    def changes(self) -> bool:
        return len(self.entries) > 1


@dataclass(frozen=True)
class JobConditioning:
    cond: ScheduledConditioning
    uncond: ScheduledConditioning
    embeddings_used: tuple[str, ...]

    @property
    def changes_during_sampling(self) -> bool:
        return self.cond.changes or self.uncond.changes

    def embeds_at(self, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(prompt_embeds, negative_prompt_embeds) for 0-based sampling `step`, batched."""
        cond, uncond = self.cond.at(step), self.uncond.at(step)
        return cond.unsqueeze(0).expand(batch_size, -1, -1), uncond.unsqueeze(0).expand(batch_size, -1, -1)

    def tensors(self) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """(positive, negative): one tensor per schedule entry, what a conditioning step receives."""
        return (tuple(vectors for _, vectors in self.cond.entries),
                tuple(vectors for _, vectors in self.uncond.entries))

    def with_tensors(self, positive: tuple[torch.Tensor, ...], negative: tuple[torch.Tensor, ...]) -> JobConditioning:
        """The same schedules with each entry's tensor replaced (a conditioning step's result)."""
        old_positive, old_negative = self.tensors()
        if all(new is old for new, old in zip((*positive, *negative), (*old_positive, *old_negative), strict=True)):
            return self  # nothing replaced: keep the very same object
        cond = ScheduledConditioning(tuple((end, vectors) for (end, _), vectors in
                                           zip(self.cond.entries, positive, strict=True)))
        uncond = ScheduledConditioning(tuple((end, vectors) for (end, _), vectors in
                                             zip(self.uncond.entries, negative, strict=True)))
        return JobConditioning(cond, uncond, self.embeddings_used)


def build_conditioning(encoder: PromptEncoder, prompt: str, negative_prompt: str, steps: int,
                       hires_steps: int | None = None) -> JobConditioning:
    """Encode every distinct text of both prompts' schedules once. Entries of one prompt's schedule are padded with
    empty chunks to one length; the prompt and the negative prompt are not padded to each other (A1111's default,
    "Pad prompt/negative prompt" off): the denoiser runs them apart when their lengths differ."""
    used: list[str] = []
    encoded: dict[str, torch.Tensor] = {}
    schedules = [prompt_schedule(text, steps, hires_steps) for text in (prompt, negative_prompt)]
    for schedule in schedules:
        for _, text in schedule:
            if text not in encoded:
                result = encoder.encode(text)
                encoded[text] = result.vectors
                used += [name for name in result.embeddings_used if name not in used]
    cond, uncond = (_padded_schedule(encoder, schedule, encoded) for schedule in schedules)
    return JobConditioning(cond, uncond, tuple(used))


def _padded_schedule(encoder: PromptEncoder, schedule, encoded: dict[str, torch.Tensor]) -> ScheduledConditioning:
    longest = max(encoded[text].shape[0] for _, text in schedule)
    if all(encoded[text].shape[0] == longest for _, text in schedule):
        return ScheduledConditioning(tuple((end, encoded[text]) for end, text in schedule))
    empty = encoder.empty_chunk()
    return ScheduledConditioning(tuple((end, _pad_with(encoded[text], empty, longest)) for end, text in schedule))


def _pad_with(vectors: torch.Tensor, empty_chunk: torch.Tensor, length: int) -> torch.Tensor:
    missing = (length - vectors.shape[0]) // empty_chunk.shape[0]
    return torch.cat([vectors, *[empty_chunk] * missing]) if missing else vectors
