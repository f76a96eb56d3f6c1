"""A1111's 75-token chunking of a weighted prompt, on token ids (pure: the tokenizer is passed in as a function).

CLIP sees 77 tokens at a time, so A1111 cuts long prompts into chunks of 75 tokens, each wrapped in start/end tokens
and padded with the end token, and encodes them one by one. `BREAK` starts a new chunk; when a chunk fills up, the
text after its last comma (if that comma is within `comma_backtrack` tokens of the end) moves to the next chunk; a
textual-inversion embedding is never split across chunks. Each token carries the emphasis weight of its text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from webui.engine.prompt_syntax import BREAK_MARKER, AttentionRun

CHUNK_LENGTH = 75


@dataclass(frozen=True)
class SpecialTokens:
    start: int
    end: int
    comma: int | None


@dataclass(frozen=True)
class EmbeddingMatch:
    """A textual-inversion trigger found in the token stream: it spans `trigger_length` prompt tokens and is
    replaced by `vector_count` vectors."""

    name: str
    trigger_length: int
    vector_count: int


EmbeddingFinder = Callable[[Sequence[int], int], "EmbeddingMatch | None"]


@dataclass(frozen=True)
class EmbeddingSlot:
    offset: int  # index in the chunk's tokens (after the start token) where the vectors go
    name: str


@dataclass
class PromptChunk:
    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)
    embeddings: list[EmbeddingSlot] = field(default_factory=list)


@dataclass(frozen=True)
class ChunkedPrompt:
    chunks: tuple[PromptChunk, ...]
    token_count: int  # what A1111's counter shows: tokens used, full chunks counted as 75
    embeddings_used: tuple[str, ...]


def no_embeddings(tokens: Sequence[int], position: int) -> EmbeddingMatch | None:
    return None


class _Chunker:
    def __init__(self, special: SpecialTokens, comma_backtrack: int) -> None:
        self.special = special
        self.comma_backtrack = comma_backtrack
        self.chunks: list[PromptChunk] = []
        self.chunk = PromptChunk()
        self.token_count = 0
        self.last_comma = -1

    def close_chunk(self, is_last: bool = False) -> None:
        chunk = self.chunk
        self.token_count += len(chunk.tokens) if is_last else CHUNK_LENGTH
        padding = CHUNK_LENGTH - len(chunk.tokens)
        chunk.tokens = [self.special.start, *chunk.tokens, *[self.special.end] * padding, self.special.end]
        chunk.multipliers = [1.0, *chunk.multipliers, *[1.0] * padding, 1.0]
        self.chunks.append(chunk)
        self.chunk = PromptChunk()
        self.last_comma = -1

    def before_token(self, token: int) -> None:
        """A1111's order: note a comma, else move the text after a recent comma out of a full chunk; then close a
        full chunk."""
        chunk = self.chunk
        if token == self.special.comma:
            self.last_comma = len(chunk.tokens)
        elif (self.comma_backtrack and len(chunk.tokens) == CHUNK_LENGTH and self.last_comma != -1
              and len(chunk.tokens) - self.last_comma <= self.comma_backtrack):
            cut = self.last_comma + 1
            moved_tokens, moved_weights = chunk.tokens[cut:], chunk.multipliers[cut:]
            chunk.tokens, chunk.multipliers = chunk.tokens[:cut], chunk.multipliers[:cut]
            self.close_chunk()
            self.chunk.tokens, self.chunk.multipliers = moved_tokens, moved_weights
        if len(self.chunk.tokens) == CHUNK_LENGTH:
            self.close_chunk()

    def add_run(self, tokens: Sequence[int], weight: float, find_embedding: EmbeddingFinder, used: list[str]) -> None:
        position = 0
        while position < len(tokens):
            token = tokens[position]
            match = find_embedding(tokens, position)
            self.before_token(token)
            if match is None:
                self.chunk.tokens.append(token)
                self.chunk.multipliers.append(weight)
                position += 1
                continue
            if len(self.chunk.tokens) + match.vector_count > CHUNK_LENGTH:
                self.close_chunk()
            self.chunk.embeddings.append(EmbeddingSlot(len(self.chunk.tokens), match.name))
            self.chunk.tokens += [0] * match.vector_count
            self.chunk.multipliers += [weight] * match.vector_count
            position += match.trigger_length
            if match.name not in used:
                used.append(match.name)


def chunk_prompt(runs: Sequence[AttentionRun], tokenize: Callable[[str], list[int]], special: SpecialTokens,
                 find_embedding: EmbeddingFinder = no_embeddings, comma_backtrack: int = 20) -> ChunkedPrompt:
    """Weighted runs (from `parse_attention`) → chunks of 77 token ids with per-token multipliers."""
    chunker = _Chunker(special, comma_backtrack)
    used: list[str] = []
    for text, weight in runs:
        if (text, weight) == BREAK_MARKER:
            chunker.close_chunk()
            continue
        chunker.add_run(tokenize(text), weight, find_embedding, used)
    if chunker.chunk.tokens or not chunker.chunks:
        chunker.close_chunk(is_last=True)
    return ChunkedPrompt(tuple(chunker.chunks), chunker.token_count, tuple(used))
