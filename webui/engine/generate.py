"""The generation engine: a `GenerationRequest` in, images with A1111 infotext out (txt2img, hires fix, img2img,
inpaint).

The engine composes diffusers' own pipelines; it never reimplements the sampling loop. Samplers are swapped with
`Scheduler.from_config`, conditioning is A1111's (`conditioning.py`), every pass reports through
`callback_on_step_end` (`sampling.py`). Seeds follow A1111: image i of a job uses seed + i, each from its own
generator, so any image of a batch can be reproduced alone.
"""

from __future__ import annotations

import random
import traceback
from dataclasses import dataclass, replace

import torch
from PIL import Image

from webui.engine.conditioning import JobConditioning, PromptEncoder, build_conditioning
from webui.engine.conditioning_steps import ConditioningInput, apply_steps
from webui.engine.controlnet.job import JobControl, prepared_control
from webui.engine.controlnet.service import ControlNetService
from webui.engine.decode import decode_latents
from webui.engine.job_infotext import InfotextOptions, JobInfotext
from webui.engine.ksampling.noise import ImageNoise
from webui.engine.lora import LoraToApply, applied_loras
from webui.engine.model_facts import ModelFacts, uses_inpainting_conditioning
from webui.engine.network_tags import NetworkTag, extract_network_tags
from webui.engine.passes import SamplingSettings, sampling_device
from webui.engine.postprocessors import PostprocessInput, run_postprocessors
from webui.engine.request import LATENT_UPSCALE_MODES, GenerationRequest
from webui.engine.samplers import ResolvedSampler, SamplerTable
from webui.engine.sampling import (
    CancelCheck,
    JobSignals,
    PassObserver,
    PreviewCallback,
    ProgressCallback,
    SkipCheck,
)
from webui.engine.seamless import pipeline_tiling
from webui.engine.seams import EngineSeams
from webui.engine.seeds import batch_noise, batch_seeds, image_seeds, resolve_seed
from webui.engine.upscale import UnknownUpscalerError, UpscalerRegistry
from webui.engine.variant_registry import BatchRun, candidates
from webui.infotext.format import add_parameters
from webui.model_manager.manager import LoadedModel, ModelManager
from webui.model_manager.networks import ExtraNetworks

__all__ = ["GenerationEngine", "GenerationOutOfMemory", "GenerationResult", "GeneratedImage", "InfotextOptions",
           "ModelFacts"]


@dataclass(frozen=True)
class GeneratedImage:
    image: Image.Image
    seed: int
    infotext: str


@dataclass(frozen=True)
class GenerationResult:
    """Interrupted or skipped batches are in `images` too, with what their latents had reached (A1111)."""

    images: tuple[GeneratedImage, ...]
    interrupted: bool
    checkpoint_title: str
    is_demo_model: bool
    notes: tuple[str, ...] = ()  # things the user should know (NaN fallback, out-of-memory retry, unknown LoRA)
    model: ModelFacts | None = None  # what the job really ran with (None only from results built by hand)
    skipped: int = 0                 # batches cut short by Skip (their partial images are kept)
    subseed: int = -1                # the first image's variation seed, resolved (A1111's p.subseed)
    control_maps: tuple[Image.Image, ...] = ()  # the ControlNet units' detected maps (save_detected_map on)


def model_facts(loaded: LoadedModel, request: GenerationRequest) -> ModelFacts:
    """The facts of the model the job held, read from the LoadedModel `ModelManager.use` gave it."""
    record, vae = loaded.record, loaded.vae
    has_mask = request.img2img is not None and request.img2img.mask is not None
    return ModelFacts(
        checkpoint_title=record.title, model_name=record.model_name, model_short_hash=record.short_hash,
        vae_name=vae.model_name if vae else None, vae_short_hash=vae.short_hash if vae else None,
        clip_skip=request.clip_skip or 1,
        inpainting_conditioning=uses_inpainting_conditioning(int(loaded.pipeline.unet.config.in_channels), has_mask),
        is_demo=loaded.is_demo)


def schedule_steps(sampler: ResolvedSampler, steps: int) -> int:
    """A1111's SamplerData.total_steps: the step count its prompt schedules are built over."""
    return steps * 2 if sampler.sampler.second_order else steps


class GenerationOutOfMemory(RuntimeError):
    """Still out of memory after the retry with a leaner memory plan."""


@dataclass(frozen=True)
class PromptNetworks:
    """A request's prompts with their `<lora:…>` tags taken out, the LoRAs found, and what could not be used."""

    prompt: str
    hires_prompt: str
    loras: tuple[LoraToApply, ...]
    lora_hashes: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class JobPlan:
    """What every batch of one job shares: samplers, conditionings and step counts, resolved once."""

    request: GenerationRequest
    sampler: ResolvedSampler
    hires_sampler: ResolvedSampler | None
    conditioning: JobConditioning
    hires_conditioning: JobConditioning | None
    first_pass_steps: int
    hires_steps: int
    control: JobControl | None = None  # the ControlNet units, ready (models built, maps detected)

    @property
    def total_steps(self) -> int:
        return self.first_pass_steps + self.hires_steps


class GenerationEngine:
    def __init__(self, models: ModelManager, samplers: SamplerTable, rng: random.Random | None = None,
                 networks: ExtraNetworks | None = None, upscalers: UpscalerRegistry | None = None,
                 seams: EngineSeams | None = None, controlnet: ControlNetService | None = None) -> None:
        self._models = models
        self._controlnet = controlnet
        self._samplers = samplers
        self._rng = rng or random.Random()
        self._networks = networks
        self._upscalers = upscalers or UpscalerRegistry()
        self._seams = seams or EngineSeams()

    @property
    def seams(self) -> EngineSeams:
        """Pipeline variants, conditioning steps and post-processors (built-ins and extensions')."""
        return self._seams

    @property
    def upscalers(self) -> UpscalerRegistry:
        return self._upscalers

    @property
    def controlnet(self) -> ControlNetService | None:
        """The installed ControlNets and preprocessors (None when the app was built without them)."""
        return self._controlnet

    def hires_upscaler_names(self) -> list[str]:
        """A1111's hires list: the latent modes, then every image upscaler (Lanczos, Nearest, the models)."""
        return [*LATENT_UPSCALE_MODES, *self._upscalers.names()]

    def check_hires_upscaler(self, request: GenerationRequest) -> None:
        """hr_upscaler must be a latent mode or an upscaler that exists now — a model file added since the start is
        found (ValueError listing the names otherwise)."""
        if request.hires is None or request.hires.is_latent:
            return
        try:
            self._upscalers.get(request.hires.upscaler)
        except UnknownUpscalerError as error:
            raise ValueError(f"hr_upscaler {request.hires.upscaler!r} is not one of: "
                             f"{', '.join(self.hires_upscaler_names())}") from error

    @property
    def networks(self) -> ExtraNetworks | None:
        return self._networks

    @property
    def samplers(self) -> SamplerTable:
        return self._samplers

    def generate(self, request: GenerationRequest, options: InfotextOptions,
                 progress: ProgressCallback | None = None, cancelled: CancelCheck | None = None,
                 skip: SkipCheck | None = None, preview: PreviewCallback | None = None) -> GenerationResult:
        sampler = self._samplers.resolve(request.sampler_name, request.scheduler)  # fails before any work
        self.check_hires_upscaler(request)
        hires_sampler = self._hires_sampler(request)
        request = replace(request, seed=resolve_seed(request.seed, self._rng),
                          subseed=resolve_seed(request.subseed, self._rng))
        networks = self._prompt_networks(request)
        signals = JobSignals(progress, cancelled, skip, preview, options.preview_every)
        images: list[GeneratedImage] = []
        notes: list[str] = list(networks.notes)
        skipped = 0
        maps: tuple[Image.Image, ...] = ()
        with self._models.use(request.checkpoint) as loaded, applied_loras(loaded.pipeline, networks.loras), \
                self._control(request, loaded) as control, pipeline_tiling(loaded.pipeline, request.tiling):
            facts = model_facts(loaded, request)
            plan = replace(self._plan(loaded, request, networks, sampler, hires_sampler), control=control)
            tiling_keys = (("Tiling", True),) if request.tiling else ()
            maps = tuple(control.detected_maps()) if control is not None else ()
            infotext = JobInfotext(request, plan, loaded, options, (*tiling_keys, *self._control_keys(request, control),
                                                                    *self._hash_keys(networks, plan)))
            for batch_index in range(request.batch_count):
                if signals.cancel_requested():
                    break
                signals.skipped = False
                seeds = image_seeds(request, batch_index)
                loaded, batch = self._run_with_memory_retry(loaded, plan, signals, batch_index, seeds, notes)
                subseeds = batch_seeds(request.subseed, batch_index, request.batch_size)
                images.extend(self._finished(batch, seeds, subseeds, len(images), request, infotext))
                if signals.stopped:
                    break  # A1111: the interrupted batch keeps what it made; later batches do not run
                if signals.skipped:
                    skipped += 1
                    notes.append(f"batch {batch_index + 1} of {request.batch_count} skipped")
        return GenerationResult(tuple(images), signals.stopped, loaded.record.title, loaded.is_demo, tuple(notes),
                                facts, skipped, request.subseed, maps)

    def _finished(self, batch: list[Image.Image], seeds: list[int], subseeds: list[int], first_index: int,
                  request: GenerationRequest, infotext: JobInfotext) -> list[GeneratedImage]:
        """Each decoded image through the post-processors; their infotext fields join the image's infotext."""
        entries = self._seams.postprocessor_entries()
        finished = []
        for offset, (image, seed, subseed) in enumerate(zip(batch, seeds, subseeds, strict=True)):
            text = infotext.for_seed(seed, subseed)
            if entries:
                outcome = run_postprocessors(entries, PostprocessInput(image, generation=request, seed=seed,
                                                                       index=first_index + offset,
                                                                       upscalers=self._upscalers,
                                                                       control=self._upscalers.control()))
                image, text = outcome.image, add_parameters(text, outcome.fields)
            finished.append(GeneratedImage(image, seed, text))
        return finished

    def _prompt_networks(self, request: GenerationRequest) -> PromptNetworks:
        """A1111 reads extra-network tags from the prompt (and the hires prompt); an unknown LoRA is a warning and
        the image is still made, as there."""
        prompt, tags = extract_network_tags(request.prompt)
        hires_prompt = ""
        if request.hires is not None and request.hires.prompt:
            hires_prompt, hires_tags = extract_network_tags(request.hires.prompt)
            tags += tuple(tag for tag in hires_tags if tag not in tags)
        loras: list[LoraToApply] = []
        hashes: list[tuple[str, str]] = []
        missing: list[str] = []
        notes: list[str] = []
        for tag in tags:
            if not tag.is_lora:
                notes.append(f"<{tag.kind}:{tag.name}> ignored: {tag.kind} networks are not supported")
                continue
            found = self._find_lora(tag)
            if found is None:
                missing.append(tag.name)
                continue
            loras.append(found[0])
            hashes.append((tag.name, found[1]))
        if missing:
            notes.append(f"Networks not found: {', '.join(missing)}")
        return PromptNetworks(prompt, hires_prompt, tuple(loras), tuple(hashes), tuple(notes))

    def _find_lora(self, tag: NetworkTag) -> tuple[LoraToApply, str] | None:
        record = self._networks.loras.find(tag.name) if self._networks else None
        if record is None or self._networks is None:
            return None
        state_dict = self._networks.loras.read(record)
        return LoraToApply(tag.name, state_dict, tag.te_weight, tag.unet_weight), \
            self._networks.loras.short_hash(record)

    def _hash_keys(self, networks: PromptNetworks, plan: JobPlan) -> tuple[tuple[str, object | None], ...]:
        keys: list[tuple[str, object | None]] = []
        if networks.lora_hashes:
            keys.append(("Lora hashes", ", ".join(f"{name}: {short}" for name, short in networks.lora_hashes)))
        used = list(plan.conditioning.embeddings_used)
        if plan.hires_conditioning is not None:
            used += [name for name in plan.hires_conditioning.embeddings_used if name not in used]
        if used and self._networks is not None:
            records = {record.name: record for record in self._networks.embeddings.records}
            keys.append(("TI hashes", ", ".join(f"{name}: {self._networks.embeddings.short_hash(records[name])}"
                                                 for name in used if name in records)))
        return tuple(keys)

    def _control(self, request: GenerationRequest, loaded: LoadedModel):
        """The job's ControlNet units, ready for the job's device (a no-op context without units)."""
        if request.controlnet and self._controlnet is None:
            raise ValueError("controlnet: this instance was started without ControlNet support")
        return prepared_control(self._controlnet, request, loaded.pipeline.unet,  # type: ignore[arg-type]
                                sampling_device(loaded.pipeline), offloaded=loaded.plan.offloaded)

    def _control_keys(self, request: GenerationRequest, control: JobControl | None
                      ) -> list[tuple[str, object | None]]:
        if control is None or self._controlnet is None:
            return []
        return list(self._controlnet.infotext_keys(request.controlnet, control.resolutions()))

    def _hires_sampler(self, request: GenerationRequest) -> ResolvedSampler | None:
        hires = request.hires
        if hires is None or (hires.sampler_name is None and hires.scheduler is None):
            return None
        return self._samplers.resolve(hires.sampler_name or request.sampler_name,
                                      hires.scheduler or request.scheduler)

    def _plan(self, loaded: LoadedModel, request: GenerationRequest, networks: PromptNetworks,
              sampler: ResolvedSampler, hires_sampler: ResolvedSampler | None) -> JobPlan:
        pipeline = loaded.pipeline
        execution = loaded.plan.execution_device
        device = torch.device(execution) if execution is not None else None
        embeddings = None
        if self._networks is not None:
            embeddings = self._networks.embeddings.vectors_for_width(pipeline.text_encoder.config.hidden_size)
        encoder = PromptEncoder(pipeline.tokenizer, pipeline.text_encoder, request.clip_skip or 1,
                                embeddings=embeddings, device=device)
        first_steps = request.steps
        if request.img2img is not None:  # A1111 runs t_enc + 1 steps
            first_steps = min(request.steps, int(min(request.img2img.denoising_strength, 0.999) * request.steps) + 1)
        hires = request.hires
        hires_steps = 0
        hires_conditioning = None
        # A1111 builds prompt schedules over the sampler's UNet calls: twice the steps for second-order samplers
        first_total = schedule_steps(sampler, request.steps)
        with torch.inference_mode():
            conditioning = self._stepped(request, build_conditioning(encoder, networks.prompt,
                                                                     request.negative_prompt, first_total))
            if hires is not None:
                second = hires.steps or request.steps
                hires_steps = second
                hires_conditioning = self._stepped(request, build_conditioning(
                    encoder, networks.hires_prompt or networks.prompt,
                    hires.negative_prompt or request.negative_prompt, first_total,
                    hires_steps=schedule_steps(hires_sampler or sampler, second)), hires=True)
        return JobPlan(request, sampler, hires_sampler, conditioning, hires_conditioning, first_steps, hires_steps)

    def _stepped(self, request: GenerationRequest, conditioning: JobConditioning, hires: bool = False
                 ) -> JobConditioning:
        """The conditioning after every conditioning step (the same object when there are none)."""
        entries = self._seams.conditioning_entries()
        if not entries:
            return conditioning
        positive, negative = conditioning.tensors()
        result = apply_steps(entries, ConditioningInput(request, positive, negative, hires))
        return conditioning.with_tensors(result.positive, result.negative)

    def _run_with_memory_retry(self, loaded: LoadedModel, plan: JobPlan, signals: JobSignals, batch_index: int,
                               seeds: list[int], notes: list[str]) -> tuple[LoadedModel, list[Image.Image]]:
        """Out of memory → retry this batch once with the next leaner plan; the server never dies of it."""
        try:
            return loaded, self._run_batch(loaded, plan, signals, batch_index, seeds, notes)
        except torch.OutOfMemoryError as error:
            leaner = self._models.use_leaner_plan()
            if leaner is None:
                raise GenerationOutOfMemory(
                    f"out of memory with {loaded.plan.describe()} and no leaner plan is left; "
                    "use a smaller size or batch") from error
            notes.append(f"out of memory; retried with {leaner.plan.reasons[-1].removeprefix('out of memory: ')}")
        try:
            return leaner, self._run_batch(leaner, plan, signals, batch_index, seeds, notes)
        except torch.OutOfMemoryError as error:
            raise GenerationOutOfMemory(
                f"out of memory again with {leaner.plan.describe()}; use a smaller size or batch") from error

    def _run_batch(self, loaded: LoadedModel, plan: JobPlan, signals: JobSignals, batch_index: int,
                   seeds: list[int], notes: list[str]) -> list[Image.Image]:
        """The batch on the pipeline variant that accepts the request (an extension's first, built-ins last). An
        extension's variant that raises is reported and the next candidate runs the batch from the start."""
        request = plan.request
        for entry in candidates(self._seams.variant_entries(), request):
            batch = self._batch_run(loaded, plan, signals, batch_index, seeds, notes)
            try:
                with torch.inference_mode():
                    return entry.item.run(batch)
            except torch.OutOfMemoryError:
                raise  # the memory retry's business, whoever ran
            except Exception:
                if entry.on_failure is None:
                    raise
                entry.on_failure(traceback.format_exc())
        raise RuntimeError(f"every pipeline variant for this {request.mode} request failed; see the Extensions tab")

    def _batch_run(self, loaded: LoadedModel, plan: JobPlan, signals: JobSignals, batch_index: int,
                   seeds: list[int], notes: list[str]) -> BatchRun:
        request = plan.request
        observer = PassObserver(signals, batch_index, plan.conditioning, len(seeds), plan.first_pass_steps, 0,
                                plan.total_steps, (request.width, request.height))
        settings = SamplingSettings(request.steps, request.cfg_scale, request.width, request.height)

        def decode(latents: torch.Tensor) -> list[Image.Image]:
            images, note = decode_latents(loaded.pipeline, latents)
            if note and note not in notes:
                notes.append(note)
            return images

        def noise_for(width: int, height: int) -> ImageNoise:
            return batch_noise(request, seeds, batch_index, width, height, sampling_device(loaded.pipeline))

        return BatchRun(loaded, plan, signals, batch_index, tuple(seeds), _generators(loaded, seeds), observer,
                        settings, self._upscalers, decode, lambda: _generators(loaded, seeds), noise_for, notes,
                        plan.control)


def _generators(loaded: LoadedModel, seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator(device=loaded.plan.generator_device).manual_seed(seed) for seed in seeds]
