"""Conditioning steps: functions that may change a job's prompt embeddings after encoding, before sampling.

A step sees the request and the encoded embeddings of both prompts — one `[tokens, width]` tensor per entry of the
prompt's A1111 schedule (prompt editing `[a:b:0.5]` gives two) — and returns replacements, or None to leave them.
Replacements must keep the count and the shapes: diffusers needs cond and uncond of one shape, and prompt editing
swaps tensors inside its loop. Changing the *request* (prompt text, steps, size) is the before-generation hook's
job (extension API v1); this seam is for what only exists after encoding. Hires fix encodes its own prompts, and
its steps run again with `hires=True`.

Pure at run time (tensors are only passed through and compared by `.shape`) so the extension API can name the types.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from webui.engine.registry import Entry, NamedRegistry
from webui.engine.request import GenerationRequest


@dataclass(frozen=True)
class ConditioningInput:
    request: GenerationRequest
    positive: tuple[Any, ...]   # torch.Tensor [tokens, width] per schedule entry of the prompt
    negative: tuple[Any, ...]   # the same for the negative prompt
    hires: bool = False         # True for the hires-fix pass's own conditioning


@dataclass(frozen=True)
class ConditioningChange:
    positive: tuple[Any, ...] | None = None   # None: keep what the step received
    negative: tuple[Any, ...] | None = None


ConditioningStep = Callable[[ConditioningInput], ConditioningChange | None]


def conditioning_registry() -> NamedRegistry[ConditioningStep]:
    return NamedRegistry("conditioning step")


def _checked(name: str, which: str, before: tuple[Any, ...], after: Sequence[Any] | None) -> tuple[Any, ...]:
    if after is None:
        return before
    after = tuple(after)
    if len(after) != len(before):
        raise ValueError(f"conditioning step {name!r} returned {len(after)} {which} tensors for {len(before)}")
    for old, new in zip(before, after, strict=True):
        if tuple(getattr(new, "shape", ())) != tuple(old.shape):
            raise ValueError(f"conditioning step {name!r} changed a {which} tensor's shape from "
                             f"{tuple(old.shape)} to {tuple(getattr(new, 'shape', ()))}; keep the shape")
    return after


def apply_steps(entries: Sequence[Entry[ConditioningStep]], start: ConditioningInput) -> ConditioningInput:
    """Run every step in order, each on what the previous one left. An isolated (extension) step that raises or
    returns something malformed is reported and skipped; a built-in's error is the job's error."""
    current = start
    for entry in entries:
        try:
            change = entry.item(current)
            if change is not None and not isinstance(change, ConditioningChange):
                raise TypeError(f"a conditioning step returns ConditioningChange or None, not {type(change).__name__}")
            if change is not None:
                current = ConditioningInput(current.request,
                                            _checked(entry.name, "positive", current.positive, change.positive),
                                            _checked(entry.name, "negative", current.negative, change.negative),
                                            current.hires)
        except Exception:
            if entry.on_failure is None:
                raise
            entry.on_failure(traceback.format_exc())
    return current
