"""The engine's seams: the pipeline-variant lookup, post-processors (generation and Extras) and conditioning steps;
duplicates raise, order holds, isolated entries are reported and skipped, built-ins' errors propagate."""

import random

import numpy as np
import pytest
import torch
from PIL import Image

from webui.engine.conditioning_steps import ConditioningChange, ConditioningInput, apply_steps, conditioning_registry
from webui.engine.extras_request import ExtrasRequest
from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.postprocess import extras_postprocessors, postprocess_image
from webui.engine.postprocessors import (
    PostprocessInput,
    PostprocessResult,
    postprocessor_registry,
    register_step,
    run_postprocessors,
)
from webui.engine.registry import DuplicateRegistration, Entry, NamedRegistry
from webui.engine.request import GenerationRequest, Img2ImgInput, InpaintMask
from webui.engine.samplers import default_sampler_table
from webui.engine.seams import EngineSeams
from webui.engine.upscale import UpscalerRegistry
from webui.engine.variant_registry import NoVariantFor, VariantNeeds, candidates
from webui.engine.variants import default_variants
from webui.infotext.parse import parse_infotext

OPTIONS = InfotextOptions(version="kestrel-test")
SMALL = {"prompt": "a cat", "sampler_name": "Euler", "steps": 2, "width": 64, "height": 64, "seed": 9}


def test_a_registry_refuses_a_name_twice_and_keeps_order():
    registry: NamedRegistry[int] = NamedRegistry("thing")
    registry.register("b", 1)
    registry.register("a", 2)
    with pytest.raises(DuplicateRegistration, match="thing 'a' is already registered"):
        registry.register("a", 3)
    assert registry.names() == ["b", "a"] and registry.get("a") == 2
    with pytest.raises(KeyError, match="no thing named 'c'; registered: b, a"):
        registry.get("c")


def test_each_request_mode_finds_its_built_in_variant():
    entries = default_variants().entries()
    image = Image.new("RGB", (64, 64))
    requests = {"txt2img": GenerationRequest(**SMALL),
                "img2img": GenerationRequest(**SMALL, img2img=Img2ImgInput(image=image)),
                "inpaint": GenerationRequest(**SMALL, img2img=Img2ImgInput(image=image, mask=InpaintMask(image)))}
    for mode, request in requests.items():
        assert request.mode == mode and [entry.name for entry in candidates(entries, request)] == [mode]
    with pytest.raises(NoVariantFor):
        candidates(entries[:1], requests["inpaint"])


class Painted:
    """A variant answering 'paint:' prompts with flat pictures: proves the lookup runs it."""

    needs = VariantNeeds("StableDiffusionPipeline")

    def applies(self, request):
        return request.prompt.startswith("paint:")

    def run(self, batch):
        return [Image.new("RGB", (batch.request.width, batch.request.height), (1, 2, 3)) for _ in batch.seeds]


@pytest.fixture
def seams():
    return EngineSeams()


@pytest.fixture
def engine(loaded_manager, seams):
    return GenerationEngine(loaded_manager, default_sampler_table(), rng=random.Random(2), seams=seams)


def test_a_registered_variant_runs_the_requests_it_accepts_and_no_others(engine, seams):
    seams.variants.register("painted", Painted())
    painted = engine.generate(GenerationRequest(**{**SMALL, "prompt": "paint: a cat"}), OPTIONS).images[0]
    assert (np.asarray(painted.image) == (1, 2, 3)).all()
    normal = engine.generate(GenerationRequest(**SMALL), OPTIONS).images[0]
    assert np.asarray(normal.image).std() > 0


class DiffusersPass:
    """An API-v2 variant that runs a diffusers pipeline built from the resident components, observed through
    `callback_on_step_end=batch.observer`, as docs/extensions.md describes."""

    needs = VariantNeeds("StableDiffusionPipeline")

    def applies(self, request):
        return request.prompt.startswith("diffusers:")

    def run(self, batch):
        import diffusers

        pipe = diffusers.StableDiffusionPipeline.from_pipe(batch.pipeline)
        pipe.set_progress_bar_config(disable=True)
        cond, uncond = batch.observer.initial_embeds()
        latents = pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, num_inference_steps=batch.settings.steps,
                       width=64, height=64, generator=batch.generators, output_type="latent",
                       callback_on_step_end=batch.observer,
                       callback_on_step_end_tensor_inputs=batch.observer.tensor_inputs).images
        return batch.decode(latents)


def test_a_diffusers_pipeline_variant_still_reports_progress_and_stops(engine, seams):
    seams.variants.register("diffusers-pass", DiffusersPass())
    steps: list = []
    request = GenerationRequest(**{**SMALL, "prompt": "diffusers: a cat", "steps": 3})
    result = engine.generate(request, OPTIONS, progress=lambda batch, step, total: steps.append(step))
    assert steps[-1] == 3 and np.asarray(result.images[0].image).std() > 0
    seen: list = []
    stopped = engine.generate(request, OPTIONS, progress=lambda batch, step, total: seen.append(step),
                              cancelled=lambda: bool(seen))
    assert stopped.interrupted and len(stopped.images) == 1 and len(seen) == 1  # stopped after its first step


def test_postprocessors_run_in_order_on_generated_images_and_write_infotext(engine, seams):
    calls = []

    def darken(target):
        calls.append("darken")
        return PostprocessResult(target.image.point(lambda value: value // 2), (("Darkened", "yes"),))

    def mark(target):
        calls.append("mark")
        image = target.image.copy()
        image.putpixel((0, 0), (255, 255, 255))
        return PostprocessResult(image, (("Marked", target.seed),))

    register_step(seams.postprocessors, "mark", mark, order=20)
    register_step(seams.postprocessors, "darken", darken, order=10)
    with pytest.raises(DuplicateRegistration):
        register_step(seams.postprocessors, "mark", mark)
    plain = GenerationEngine(engine._models, default_sampler_table()).generate(GenerationRequest(**SMALL), OPTIONS)
    result = engine.generate(GenerationRequest(**SMALL), OPTIONS).images[0]
    assert calls == ["darken", "mark"]
    expected = np.asarray(plain.images[0].image) // 2
    got = np.asarray(result.image)
    assert tuple(got[0, 0]) == (255, 255, 255) and np.array_equal(got[1:], expected[1:])
    params = parse_infotext(result.infotext)
    assert params["Darkened"] == "yes" and params["Marked"] == "9" and list(params)[-1] == "Version"


def test_an_isolated_postprocessor_that_raises_is_reported_and_skipped():
    reports = []
    registry = postprocessor_registry()
    register_step(registry, "bad", lambda target: 1 / 0, on_failure=reports.append)
    register_step(registry, "wrong type", lambda target: "not a result", on_failure=reports.append)
    register_step(registry, "good", lambda target: PostprocessResult(
        target.image.transpose(Image.Transpose.ROTATE_90), (("Rotated", 90),)))
    image = Image.new("RGB", (4, 2))
    outcome = run_postprocessors(registry.entries(), PostprocessInput(image, generation=GenerationRequest()))
    assert outcome.image.size == (2, 4) and outcome.fields == (("Rotated", 90),) and outcome.applied == ("good",)
    assert "ZeroDivisionError" in reports[0] and "must return PostprocessResult" in reports[1]
    builtin = postprocessor_registry()
    register_step(builtin, "bad", lambda target: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # a built-in's error is the job's
        run_postprocessors(builtin.entries(), PostprocessInput(image))


def test_extras_goes_through_the_registry_with_upscale_built_in():
    registry = UpscalerRegistry()
    steps = extras_postprocessors()
    assert steps.names() == ["upscale"]

    def border(target):
        if target.extras is None:
            return None
        image = target.image.copy()
        image.paste((0, 0, 0), (0, 0, image.width, 1))
        return PostprocessResult(image, (("Border", "top"),))

    register_step(steps, "border", border, order=3000)  # after the upscale
    photo = Image.new("RGB", (16, 8), (200, 100, 50))
    result = postprocess_image(photo, ExtrasRequest(upscaler_1="Nearest", upscaling_resize=2), registry,
                               registry.control(), steps=steps.entries())
    assert result.image.size == (32, 16) and (np.asarray(result.image)[0] == 0).all()
    assert result.infotext == "Postprocess upscale by: 2, Postprocess upscaler: Nearest, Border: top"


def conditioning_input(hires=False):
    return ConditioningInput(GenerationRequest(prompt="x"), (torch.ones(77, 8), torch.ones(77, 8) * 2),
                             (torch.zeros(77, 8),), hires)


def test_conditioning_steps_chain_and_a_malformed_isolated_step_is_skipped():
    reports = []
    registry = conditioning_registry()
    registry.register("double", lambda event: ConditioningChange(positive=tuple(v * 2 for v in event.positive)))
    registry.register("short", lambda event: ConditioningChange(negative=(torch.zeros(1, 8),)),
                      on_failure=reports.append)
    registry.register("too many", lambda event: ConditioningChange(positive=event.positive * 2),
                      on_failure=reports.append)
    registry.register("plus one", lambda event: ConditioningChange(negative=(event.negative[0] + 1,)))
    result = apply_steps(registry.entries(), conditioning_input())
    assert [float(v[0, 0]) for v in result.positive] == [2.0, 4.0] and float(result.negative[0][0, 0]) == 1.0
    assert "changed a negative tensor's shape" in reports[0] and "returned 4 positive tensors for 2" in reports[1]
    strict = [Entry("short", registry.get("short"))]
    with pytest.raises(ValueError, match="shape"):
        apply_steps(strict, conditioning_input())


def test_a_conditioning_step_on_the_engine_changes_the_image(engine, seams, loaded_manager):
    seen = []

    def silence(event):
        seen.append((len(event.positive), event.hires))
        return ConditioningChange(positive=tuple(vectors * 0 for vectors in event.positive))

    plain = GenerationEngine(loaded_manager, default_sampler_table()).generate(GenerationRequest(**SMALL), OPTIONS)
    seams.conditioning.register("silence", silence)
    changed = engine.generate(GenerationRequest(**SMALL), OPTIONS)
    assert seen == [(1, False)]
    assert not np.array_equal(np.asarray(plain.images[0].image), np.asarray(changed.images[0].image))
