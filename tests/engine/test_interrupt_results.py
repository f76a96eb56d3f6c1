"""Interrupt and Skip return what was made (A1111): the batch's latents reached so far are decoded and kept, later
batches do not run after an Interrupt, the next batch does after a Skip. Also the model facts on each result."""

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.engine.test_img2img_and_hires import pixels
from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.model_facts import ModelFacts, uses_inpainting_conditioning
from webui.engine.request import GenerationRequest, HiresFix, Img2ImgInput, InpaintMask
from webui.engine.samplers import default_sampler_table

OPTIONS = InfotextOptions(version="kestrel-test")


@pytest.fixture(scope="module")
def engine(loaded_manager):
    return GenerationEngine(loaded_manager, default_sampler_table(), rng=random.Random(3))


def request(**overrides) -> GenerationRequest:
    values = {"prompt": "a girl", "sampler_name": "Euler", "steps": 3, "width": 64, "height": 64, "seed": 21}
    values.update(overrides)
    return GenerationRequest(**values)


class StopAfter:
    """A cancel (or skip) check that answers True once `steps` progress reports have arrived."""

    def __init__(self, steps: int, once: bool = False) -> None:
        self.steps, self.once, self.seen, self.fired = steps, once, 0, False

    def progress(self, batch_index, step, total) -> None:
        self.seen += 1

    def __call__(self) -> bool:
        if self.seen >= self.steps and not (self.once and self.fired):
            self.fired = True
            return True
        return False


def test_interrupt_at_step_1_of_3_returns_the_partial_image_and_runs_no_later_batch(engine):
    full = engine.generate(request(batch_count=2), OPTIONS)
    stop = StopAfter(1)
    cut = engine.generate(request(batch_count=2), OPTIONS, progress=stop.progress, cancelled=stop)
    assert cut.interrupted and [image.seed for image in cut.images] == [21]
    assert cut.images[0].image.size == (64, 64)
    assert cut.images[0].infotext == full.images[0].infotext  # A1111 writes the job's parameters all the same
    assert not np.array_equal(pixels(cut.images[0].image), pixels(full.images[0].image))


def test_skip_keeps_the_skipped_batch_partial_image_and_runs_the_next(engine):
    full = engine.generate(request(batch_count=2), OPTIONS)
    skip = StopAfter(1, once=True)
    cut = engine.generate(request(batch_count=2), OPTIONS, progress=skip.progress, skip=skip)
    assert not cut.interrupted and cut.skipped == 1
    assert [image.seed for image in cut.images] == [21, 22]
    assert not np.array_equal(pixels(cut.images[0].image), pixels(full.images[0].image))
    assert np.array_equal(pixels(cut.images[1].image), pixels(full.images[1].image))  # batch 2 ran in full


def test_interrupt_in_the_first_pass_of_hires_fix_returns_the_first_pass_size(engine):
    hires = HiresFix(upscaler="Latent", scale=2.0, steps=2)
    stop = StopAfter(1)
    cut = engine.generate(request(hires=hires), OPTIONS, progress=stop.progress, cancelled=stop)
    assert cut.interrupted and cut.images[0].image.size == (64, 64)  # A1111's sample_hr_pass: no second pass


def test_interrupt_during_the_hires_pass_returns_the_hires_latents_reached(engine):
    hires = HiresFix(upscaler="Latent", scale=2.0, steps=4, denoising_strength=0.75)
    full = engine.generate(request(hires=hires), OPTIONS)
    stop = StopAfter(4)  # 3 first-pass steps, then 1 of the 3 hires steps
    cut = engine.generate(request(hires=hires), OPTIONS, progress=stop.progress, cancelled=stop)
    assert cut.interrupted and cut.images[0].image.size == (128, 128)
    assert not np.array_equal(pixels(cut.images[0].image), pixels(full.images[0].image))


def test_interrupted_img2img_returns_its_partial_image(engine, init_image):
    spec = Img2ImgInput(image=init_image, denoising_strength=1.0)
    full = engine.generate(request(img2img=spec), OPTIONS)
    stop = StopAfter(1)
    cut = engine.generate(request(img2img=spec), OPTIONS, progress=stop.progress, cancelled=stop)
    assert cut.interrupted and len(cut.images) == 1
    assert not np.array_equal(pixels(cut.images[0].image), pixels(full.images[0].image))


def test_interrupted_inpaint_still_keeps_the_unmasked_pixels(engine, init_image):
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 31, 63), fill=255)
    spec = Img2ImgInput(image=init_image, denoising_strength=1.0, mask=InpaintMask(mask=mask, blur=0))
    full = engine.generate(request(img2img=spec), OPTIONS)
    stop = StopAfter(1)
    cut = engine.generate(request(img2img=spec), OPTIONS, progress=stop.progress, cancelled=stop)
    got = pixels(cut.images[0].image)
    assert cut.interrupted and np.array_equal(got[:, 40:], pixels(init_image)[:, 40:])
    assert not np.array_equal(got, pixels(full.images[0].image))


def test_the_result_carries_the_facts_of_the_model_it_ran_on(engine, loaded_manager, init_image):
    record = loaded_manager.loaded.record
    result = engine.generate(request(clip_skip=2), OPTIONS)
    assert result.model == ModelFacts(
        checkpoint_title=record.title, model_name=record.model_name, model_short_hash=record.short_hash,
        vae_name=None, vae_short_hash=None, clip_skip=2, inpainting_conditioning=False, is_demo=False)
    assert result.checkpoint_title == record.title and result.is_demo_model is False
    mask = Image.new("L", (64, 64), 255)
    inpaint = request(img2img=Img2ImgInput(image=init_image, denoising_strength=0.0, mask=InpaintMask(mask=mask)))
    facts = engine.generate(inpaint, OPTIONS).model
    assert facts is not None and facts.clip_skip == 1
    assert facts.inpainting_conditioning is False  # the tiny model's UNet has 4 input channels


def test_inpainting_conditioning_needs_nine_channels_and_a_mask():
    assert uses_inpainting_conditioning(9, True)
    assert not uses_inpainting_conditioning(9, False) and not uses_inpainting_conditioning(4, True)
