"""Admission: the one step every generation request passes before it is queued.

The UI and the API only map their own fields onto a `GenerationRequest` (its constructor validates the values);
admission then decides the model facts the job will run with — the checkpoint (the request's own, from
`override_settings` or a non-admin's dropdown, else the instance's), clip skip and the sampler settings (eta, ENSD,
the noise source, ...) — and records them on the request.
So a job that names its own checkpoint never changes what the next job runs on: that one names the instance's
checkpoint again, and the worker switches back through the RAM cache (A1111's
`override_settings_restore_afterwards`, default true).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from webui.engine.request import GenerationRequest, SamplerParameters
from webui.errors import ModelMissing
from webui.jobs.queue import QueueFullError
from webui.model_manager.catalog import CheckpointRecord
from webui.security.quotas import JobSize, Quota, QuotaBook, QuotaExceeded


class HourlyQuotaExceeded(QueueFullError):
    """Over the account's jobs per hour: a 429 with Retry-After, like a full share of the queue."""


@dataclass(frozen=True)
class InstanceModel:
    """What the instance runs when a request names nothing (A1111's sd_model_checkpoint, CLIP_stop_at_last_layers)."""

    checkpoint: str | None
    clip_skip: int = 1
    sampling: SamplerParameters = SamplerParameters()  # the Settings' sampler parameters, noise source, ENSD


def admit_generation(request: GenerationRequest, instance: InstanceModel,
                     find: Callable[[str], CheckpointRecord]) -> GenerationRequest:
    """The request with its checkpoint resolved to a title and its clip skip decided. Raises ModelMissing when
    the checkpoint it names (or the instance's) is not installed, CheckpointRefused when the file is unusable."""
    query = request.checkpoint or instance.checkpoint
    if not query:
        raise ModelMissing("checkpoint", "(none)", where="models/Stable-diffusion")
    record = find(query)
    return replace(request, checkpoint=record.title,
                   clip_skip=request.clip_skip if request.clip_skip is not None else instance.clip_skip,
                   sampling=request.sampling if request.sampling is not None else instance.sampling)


def job_size(request: GenerationRequest) -> JobSize:
    """The request in quota terms: the most steps of any pass, the largest image (hires fix's target), batch×n."""
    steps, (width, height) = request.steps, (request.width, request.height)
    if request.hires is not None:
        steps = max(steps, request.hires.steps or request.steps)
        width, height = request.hires.target_size(request.width, request.height)
    return JobSize(steps=steps, pixels=max(width * height, request.width * request.height),
                   batch=request.image_count)


def check_quota(book: QuotaBook, owner: str, quota: Quota, request: GenerationRequest) -> None:
    """Raise QuotaExceeded (403) naming the limit a request is over, or HourlyQuotaExceeded (429, Retry-After)."""
    try:
        book.admit(owner, quota, job_size(request))
    except QuotaExceeded as error:
        if error.retry_after is None:
            raise
        raise HourlyQuotaExceeded(str(error), retry_after=error.retry_after) from error
