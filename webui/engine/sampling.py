"""What a sampling pass reports to its job and asks of it: progress, live previews, Interrupt and Skip, and the
conditioning for each UNet call (prompt editing). The sampler loop itself is in `ksampling`."""

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
    """One pass's link to the job: `steps` sampling steps reported after `offset` of the batch's `total` steps, the
    conditioning the denoiser looks up by call count (A1111's timeline, so prompt editing switches where A1111's
    does), live previews from each step's x0 prediction, and Interrupt/Skip."""

    signals: JobSignals
    batch_index: int
    conditioning: JobConditioning
    batch_size: int
    steps: int
    offset: int
    total: int
    preview_size: tuple[int, int]

    def conditioning_at(self, call: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conditioning.embeds_at(call, batch_size)

    def should_stop(self) -> bool:
        return self.signals.should_stop()

    # --- as a diffusers `callback_on_step_end`, for extension variants that run a diffusers pipeline (API v2) ---

    def initial_embeds(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conditioning.embeds_at(0, self.batch_size)

    @property
    def tensor_inputs(self) -> list[str]:
        return ["latents", "prompt_embeds"] if self.conditioning.changes_during_sampling else ["latents"]

    def __call__(self, pipe, index: int, timestep, callback_kwargs: dict) -> dict:
        """Progress, previews, prompt editing and Interrupt/Skip inside a diffusers pipeline's loop."""
        iterations = max(1, int(getattr(pipe, "num_timesteps", self.steps) or self.steps))
        step = min(self.steps, (index + 1) * self.steps // iterations)
        self.on_step(step - 1, callback_kwargs["latents"])
        if self.conditioning.changes_during_sampling:
            cond, uncond = self.conditioning.embeds_at(step, self.batch_size)
            callback_kwargs["prompt_embeds"] = torch.cat([uncond, cond]) if pipe.do_classifier_free_guidance \
                else cond
        if self.signals.should_stop():
            pipe._interrupt = True  # diffusers' documented way to stop the denoising loop
        return callback_kwargs

    def on_step(self, index: int, prediction: torch.Tensor) -> None:
        signals = self.signals
        step = min(self.steps, index + 1)
        if signals.progress is not None:
            signals.progress(self.batch_index, self.offset + step, self.total)
        if signals.preview is not None and signals.preview_every > 0 and (index + 1) % signals.preview_every == 0:
            signals.preview(cheap_preview(prediction, self.preview_size))
