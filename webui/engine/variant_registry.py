"""Pipeline variants: which diffusers pipeline runs one batch of a job, chosen by lookup instead of an if-chain.

A variant declares what it needs (an init image, a mask, the diffusers pipeline class it builds from the resident
components with `from_pipe` — never a copy — and any extra component such as a ControlNet) and runs its pass(es)
for one batch. txt2img (with hires fix), img2img and inpaint are the built-ins (`variants.py`); a ControlNet variant
is one more registration: diffusers' ControlNet pipelines take the same components plus `controlnet=`.

Choosing: the latest registered variant whose `applies(request)` holds wins, so an extension's variant can take over
the requests it recognises and everything else still runs on the built-ins. Pure at run time (no torch import) so
the extension API can name these types.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from webui.engine.registry import Entry, NamedRegistry
from webui.engine.request import GenerationRequest

if TYPE_CHECKING:
    from webui.engine.generate import JobPlan
    from webui.engine.passes import SamplingSettings
    from webui.engine.sampling import JobSignals, PassObserver
    from webui.engine.upscale import UpscalerRegistry
    from webui.model_manager.manager import LoadedModel


@dataclass(frozen=True)
class VariantNeeds:
    """What a variant reads from the request and which pipeline it builds from the resident components."""

    pipeline_class: str                    # a diffusers class name, built with `from_pipe(resident, **extra)`
    init_image: bool = False               # request.img2img must be set
    mask: bool = False                     # request.img2img.mask must be set
    extra_components: tuple[str, ...] = ()  # components the variant brings itself (e.g. "controlnet")

    def met_by(self, request: GenerationRequest) -> bool:
        has_image = request.img2img is not None
        has_mask = has_image and request.img2img is not None and request.img2img.mask is not None
        return has_image == self.init_image and has_mask == self.mask


@dataclass(frozen=True)
class BatchRun:
    """One batch of one job, as a variant receives it: the resident pipeline (the built-ins sample its UNet with
    A1111's samplers, `ksampling`; a variant running a diffusers pipeline gets the checkpoint's own scheduler),
    one seeded generator per image (for VAE encoding), per-image noise at a size (A1111's ImageRNG: a second pass
    makes new noise at its size from the same seeds), the first pass's observer (progress, previews, Interrupt/Skip,
    prompt editing) and settings, and the job's plan. A variant returns one decoded image per seed — also when it was
    interrupted or skipped: then what the latents had reached (A1111 returns what was made)."""

    loaded: LoadedModel
    plan: JobPlan
    signals: JobSignals
    batch_index: int
    seeds: tuple[int, ...]
    generators: list[Any]                  # torch.Generator, one per seed
    observer: PassObserver
    settings: SamplingSettings
    upscalers: UpscalerRegistry
    decode: Callable[[Any], list[Any]]     # latents → PIL images (with the fp16-VAE NaN fallback and its note)
    new_generators: Callable[[], list[Any]]  # fresh generators for the seeds (a second pass reseeds, as A1111)
    noise_for: Callable[[int, int], Any]   # (width, height) → the batch's per-image noise (ksampling.ImageNoise)
    notes: list[str] = field(default_factory=list)
    control: Any = None                    # the job's ControlNet units (controlnet.job.JobControl), or None

    def control_for(self, width: int, height: int, hires: bool = False) -> Any:
        """The ControlNet hook for a pass at this size (None without units); built-ins pass it to `sample`."""
        return None if self.control is None else self.control.for_pass(width, height, hires)

    @property
    def request(self) -> GenerationRequest:
        return self.plan.request

    @property
    def pipeline(self) -> Any:
        return self.loaded.pipeline

    @property
    def stopped_or_skipped(self) -> bool:
        return self.signals.stopped or self.signals.skipped


class PipelineVariant(Protocol):
    @property
    def needs(self) -> VariantNeeds: ...

    def applies(self, request: GenerationRequest) -> bool:
        """Whether this variant should run `request` (built-ins: `needs.met_by(request)`)."""
        ...

    def run(self, batch: BatchRun) -> list[Any]:
        """One PIL image per seed of the batch."""
        ...


class NoVariantFor(LookupError):
    """No registered variant accepts the request (only possible when a built-in was left out)."""


def candidates(entries: list[Entry[PipelineVariant]], request: GenerationRequest) -> list[Entry[PipelineVariant]]:
    """The entries accepting `request`, latest registered first; an isolated (extension) entry whose `applies`
    raises is reported and left out."""
    chosen = []
    for entry in reversed(entries):
        try:
            accepted = bool(entry.item.applies(request))
        except Exception:
            if entry.on_failure is None:
                raise
            entry.on_failure(traceback.format_exc())
            continue
        if accepted:
            chosen.append(entry)
    if not chosen:
        raise NoVariantFor(f"no pipeline variant accepts a {request.mode} request")
    return chosen


def variant_registry() -> NamedRegistry[PipelineVariant]:
    return NamedRegistry("pipeline variant")
