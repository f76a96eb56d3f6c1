"""One diffusers denoising pass, observed and steered through `callback_on_step_end`.

The callback is diffusers' documented seam for everything we need during sampling: progress, live previews,
Interrupt and Skip (by setting the pipeline's `_interrupt` flag), and prompt editing — returning new `prompt_embeds`
makes the next step use the conditioning A1111's timeline prescribes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image

from webui.engine.conditioning import JobConditioning
from webui.engine.preview import cheap_preview

ProgressCallback = Callable[[int, int, int], None]  # (batch index, step, total steps)
CancelCheck = Callable[[], bool]
SkipCheck = Callable[[], bool]  # True once per Skip press: abandon the current batch, go on with the next
PreviewCallback = Callable[[Image.Image], None]


@dataclass
class JobSignals:
    """The job's observers and stop requests, shared by every pass of every batch."""

    progress: ProgressCallback | None = None
    cancelled: CancelCheck | None = None
    skip: SkipCheck | None = None
    preview: PreviewCallback | None = None
    preview_every: int = 0
    stopped: bool = False   # the job was cancelled
    skipped: bool = False   # this batch was abandoned (reset per batch)

    def cancel_requested(self) -> bool:
        """Cancellation only: between batches a Skip press must stay for the batch it was meant for."""
        if self.cancelled is not None and self.cancelled():
            self.stopped = True
        return self.stopped

    def should_stop(self) -> bool:
        if self.cancelled is not None and self.cancelled():
            self.stopped = True
        elif self.skip is not None and self.skip():
            self.skipped = True
        return self.stopped or self.skipped


@dataclass
class PassObserver:
    """The callback for one pass: `steps` sampling steps reported after `offset` of the batch's `total` steps."""

    signals: JobSignals
    batch_index: int
    conditioning: JobConditioning
    batch_size: int
    steps: int
    offset: int
    total: int
    preview_size: tuple[int, int]

    def initial_embeds(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conditioning.embeds_at(0, self.batch_size)

    @property
    def tensor_inputs(self) -> list[str]:
        return ["latents", "prompt_embeds"] if self.conditioning.changes_during_sampling else ["latents"]

    def __call__(self, pipe, index: int, timestep, callback_kwargs: dict) -> dict:
        # Second-order samplers (Heun, DPM2) run about two loop iterations per step.
        iterations = max(1, int(getattr(pipe, "num_timesteps", self.steps) or self.steps))
        step = min(self.steps, (index + 1) * self.steps // iterations)
        signals = self.signals
        if signals.progress is not None:
            signals.progress(self.batch_index, self.offset + step, self.total)
        if signals.preview is not None and signals.preview_every > 0 and (index + 1) % signals.preview_every == 0:
            signals.preview(cheap_preview(callback_kwargs["latents"], self.preview_size))
        if self.conditioning.changes_during_sampling:
            callback_kwargs["prompt_embeds"] = self._embeds_for(pipe, step)
        if signals.should_stop():
            pipe._interrupt = True  # diffusers' documented way to stop the denoising loop
        return callback_kwargs

    def _embeds_for(self, pipe, step: int) -> torch.Tensor:
        cond, uncond = self.conditioning.embeds_at(step, self.batch_size)
        return torch.cat([uncond, cond]) if pipe.do_classifier_free_guidance else cond
