"""Same infotext, same image: our sampling against an independent A1111 reference (tests/support/a1111_reference).

The checkpoint is tiny but not degenerate: its norm layers are perturbed away from their init values (the demo's
LayerNorms at init make A1111's emphasis divide by a mean near 1e-8). Each case compares the final latents (caught
as they enter the VAE decoder) within 1e-4 relative, and the decoded pixels within 1/255 on average.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from tests.support import a1111_reference as ref
from webui.engine.conditioning import PromptEncoder
from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.request import GenerationRequest, HiresFix, Img2ImgInput, SamplerParameters
from webui.engine.samplers import default_sampler_table

OPTIONS = InfotextOptions(version="kestrel-test")
SIZE = 64
# A1111 v1.10's k-diffusion samplers: (function, default schedule, discard penultimate, brownian, solver type)
KDIFFUSION = {
    "DPM++ 2M": ("sample_dpmpp_2m", "karras", False, False, None),
    "DPM++ SDE": ("sample_dpmpp_sde", "karras", False, True, None),
    "DPM++ 2M SDE": ("sample_dpmpp_2m_sde", "exponential", False, True, None),
    "DPM++ 2M SDE Heun": ("sample_dpmpp_2m_sde", "exponential", False, True, "heun"),
    "DPM++ 2S a": ("sample_dpmpp_2s_ancestral", "karras", False, False, None),
    "DPM++ 3M SDE": ("sample_dpmpp_3m_sde", "exponential", True, True, None),
    "Euler a": ("sample_euler_ancestral", None, False, False, None),
    "Euler": ("sample_euler", None, False, False, None),
    "LMS": ("sample_lms", None, False, False, None),
    "Heun": ("sample_heun", None, False, False, None),
    "DPM2": ("sample_dpm_2", "karras", True, False, None),
    "DPM2 a": ("sample_dpm_2_ancestral", "karras", True, False, None),
    "DPM fast": ("sample_dpm_fast", None, False, False, None),
    "DPM adaptive": ("sample_dpm_adaptive", None, False, False, None),
}
SECOND_ORDER = {"DPM++ SDE", "DPM++ 2S a", "Heun", "DPM2", "DPM2 a"}
SCHEDULES = ["uniform", "karras", "exponential", "polyexponential", "sgm_uniform", "kl_optimal", "align_your_steps",
             "simple", "normal", "ddim", "beta"]


@pytest.fixture(scope="module")
def varied_manager(tmp_path_factory, cpu_plan):
    """A tiny checkpoint whose norm layers are not at their init values, loaded through the model manager."""
    from webui.model_manager import ldm_layout
    from webui.model_manager.demo import TinySD1Spec, a1111_state_dict, build_tiny_components
    from webui.model_manager.hashing import HashCache
    from webui.model_manager.manager import ModelManager, ModelSources

    unet, vae, text_encoder = build_tiny_components(TinySD1Spec())
    generator = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for module in [*text_encoder.modules(), *unet.modules()]:
            if isinstance(module, torch.nn.LayerNorm | torch.nn.GroupNorm) and module.weight is not None:
                module.weight.add_(0.3 * torch.randn(module.weight.shape, generator=generator))
                module.bias.add_(0.3 * torch.randn(module.bias.shape, generator=generator))
    folder = tmp_path_factory.mktemp("varied") / "Stable-diffusion"
    folder.mkdir(parents=True)
    path = folder / "varied.safetensors"
    ldm_layout.save_single_file(path, a1111_state_dict(unet, vae, text_encoder, torch.float32), {})
    path.with_suffix(".yaml").write_text(yaml.safe_dump(TinySD1Spec().ldm_yaml(), sort_keys=False))
    manager = ModelManager(ModelSources((folder,)), cpu_plan, HashCache(folder.parent / "cache.json"))
    manager.refresh()
    manager.load(path.name)
    return manager


@pytest.fixture(scope="module")
def engine(varied_manager):
    return GenerationEngine(varied_manager, default_sampler_table())


@pytest.fixture(scope="module")
def pipeline(varied_manager):
    return varied_manager.loaded.pipeline


def _encoder(pipeline) -> PromptEncoder:
    return PromptEncoder(pipeline.tokenizer, pipeline.text_encoder, 1)


def _prompt(pipeline, *texts_until: tuple[str, int]) -> ref.Prompt:
    encoder = _encoder(pipeline)
    with torch.inference_mode():
        return ref.Prompt([(end, encoder.encode(text).vectors[None]) for text, end in texts_until])


def _latents_of(engine, pipeline, request) -> tuple[torch.Tensor, np.ndarray]:
    """Our final latents (caught at the VAE decoder's input) and pixels."""
    caught = []
    hook = pipeline.vae.post_quant_conv.register_forward_pre_hook(lambda module, args: caught.append(args[0]))
    try:
        result = engine.generate(request, OPTIONS)
    finally:
        hook.remove()
    latents = torch.cat(caught[-len(result.images):]) * pipeline.vae.config.scaling_factor
    return latents, np.stack([np.asarray(image.image) for image in result.images])


def _assert_same(engine, pipeline, request, expected: torch.Tensor) -> None:
    ours, pixels = _latents_of(engine, pipeline, request)
    with torch.inference_mode():
        reference_pixels = ref.decode(pipeline.vae, expected)
    relative = (ours - expected).abs().max().item() / expected.abs().max().item()
    assert relative < 1e-4, f"latents differ by {relative:.2e} (relative)"
    difference = np.abs(pixels.astype(np.int16) - reference_pixels.astype(np.int16)).mean()
    assert difference <= 1.0, f"pixels differ by {difference:.3f}/255 on average"


def _case(pipeline, name: str, schedule: str | None, steps: int = 4, seeds=(7, 8), prompt="a cat",
          negative="", cfg=6.5, **extra) -> ref.Case:
    function, default, discard, brownian, solver = KDIFFUSION[name]
    total = steps * (2 if name in SECOND_ORDER else 1)
    return ref.Case(name, function, schedule or default, steps, cfg, list(seeds), SIZE, SIZE,
                    _prompt(pipeline, (prompt, total)), _prompt(pipeline, (negative, total)),
                    discard_penultimate=discard, brownian=brownian, solver_type=solver, **extra)


@pytest.mark.parametrize("name", list(KDIFFUSION))
def test_every_kdiffusion_sampler_at_its_default_schedule(engine, pipeline, name):
    case = _case(pipeline, name, None)
    with torch.inference_mode():
        expected = ref.run(case, pipeline.unet)
    request = GenerationRequest(prompt="a cat", sampler_name=name, steps=4, cfg_scale=6.5, width=SIZE,
                                height=SIZE, seed=7, batch_size=2)
    _assert_same(engine, pipeline, request, expected)


@pytest.mark.parametrize("sampler", ["Euler", "DPM++ 2M SDE"])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_schedule_type(engine, pipeline, sampler, schedule):
    case = _case(pipeline, sampler, schedule, seeds=(3,))
    with torch.inference_mode():
        expected = ref.run(case, pipeline.unet)
    label = default_sampler_table().schedule(schedule).label
    request = GenerationRequest(prompt="a cat", sampler_name=sampler, scheduler=label, steps=4, cfg_scale=6.5,
                                width=SIZE, height=SIZE, seed=3)
    _assert_same(engine, pipeline, request, expected)


@pytest.mark.parametrize("name, function", [("DDIM", "ddim"), ("DDIM CFG++", "ddim_cfgpp"), ("PLMS", "plms")])
def test_timestep_samplers(engine, pipeline, name, function):
    case = ref.Case(name, function, None, 5, 6.5, [11, 12], SIZE, SIZE, _prompt(pipeline, ("a cat", 5)),
                    _prompt(pipeline, ("", 5)))
    with torch.inference_mode():
        expected = ref.run(case, pipeline.unet)
    request = GenerationRequest(prompt="a cat", sampler_name=name, steps=5, cfg_scale=6.5, width=SIZE, height=SIZE,
                                seed=11, batch_size=2)
    _assert_same(engine, pipeline, request, expected)


def test_weighted_prompt_with_a_negative_prompt(engine, pipeline):
    case = _case(pipeline, "Euler a", None, prompt="(a cat:1.3), [dog]", negative="blurry")
    with torch.inference_mode():
        expected = ref.run(case, pipeline.unet)
    request = GenerationRequest(prompt="(a cat:1.3), [dog]", negative_prompt="blurry", sampler_name="Euler a",
                                steps=4, cfg_scale=6.5, width=SIZE, height=SIZE, seed=7, batch_size=2)
    _assert_same(engine, pipeline, request, expected)


def test_a_long_prompt_runs_apart_from_a_short_negative(engine, pipeline):
    long_prompt = ", ".join(["a cat"] * 40)  # more than 75 tokens: two chunks against the negative's one
    case = _case(pipeline, "DPM++ 2M", None, prompt=long_prompt, seeds=(5,))
    assert case.cond.at(0).shape[1] != case.uncond.at(0).shape[1]
    with torch.inference_mode():
        expected = ref.run(case, pipeline.unet)
    request = GenerationRequest(prompt=long_prompt, steps=4, cfg_scale=6.5, width=SIZE, height=SIZE, seed=5)
    _assert_same(engine, pipeline, request, expected)


@pytest.mark.parametrize("name", ["Euler", "Heun"])
def test_prompt_editing_switches_where_a1111_does(engine, pipeline, name):
    steps = 4
    total = steps * (2 if name in SECOND_ORDER else 1)
    case = _case(pipeline, name, None, seeds=(9,))
    case.cond = _prompt(pipeline, ("a cat", int(0.5 * total)), ("a dog", total))
    with torch.inference_mode():
        expected = ref.run(case, pipeline.unet)
    request = GenerationRequest(prompt="a [cat:dog:0.5]", sampler_name=name, steps=steps, cfg_scale=6.5, width=SIZE,
                                height=SIZE, seed=9)
    _assert_same(engine, pipeline, request, expected)


def test_variation_seed_and_ensd(engine, pipeline):
    case = _case(pipeline, "Euler a", None, subseeds=[100, 101], subseed_strength=0.4, ensd=31337)
    case.seeds = [7, 7]  # with a variation seed every image keeps the seed; the subseeds count up
    with torch.inference_mode():
        expected = ref.run(case, pipeline.unet)
    request = GenerationRequest(prompt="a cat", sampler_name="Euler a", steps=4, cfg_scale=6.5, width=SIZE,
                                height=SIZE, seed=7, batch_size=2, subseed=100, subseed_strength=0.4,
                                sampling=SamplerParameters(eta_noise_seed_delta=31337))
    _assert_same(engine, pipeline, request, expected)


def test_eta_and_downcast_alphas(engine, pipeline):
    case = _case(pipeline, "DPM++ 2S a", None, eta=0.5, seeds=(4,))
    with torch.inference_mode():
        expected = ref.run(case, pipeline.unet, half_alphas=True)
    request = GenerationRequest(prompt="a cat", sampler_name="DPM++ 2S a", steps=4, cfg_scale=6.5, width=SIZE,
                                height=SIZE, seed=4,
                                sampling=SamplerParameters(eta=0.5, downcast_alphas_cumprod=True))
    _assert_same(engine, pipeline, request, expected)


def _encode(pipeline, image) -> torch.Tensor:
    from webui.engine.passes import encode_images

    with torch.inference_mode():
        return encode_images(pipeline, [image], [torch.Generator().manual_seed(21)])


def test_img2img_at_denoising_half(engine, pipeline, init_image):
    init = _encode(pipeline, init_image)
    case = _case(pipeline, "DPM++ 2M", None, steps=6, seeds=(21,))
    with torch.inference_mode():
        expected = ref.run(case, pipeline.unet, init=init, strength=0.5)
    request = GenerationRequest(prompt="a cat", steps=6, cfg_scale=6.5, width=SIZE, height=SIZE, seed=21,
                                img2img=Img2ImgInput(init_image, denoising_strength=0.5))
    _assert_same(engine, pipeline, request, expected)


def test_hires_fix_latent(engine, pipeline):
    import torch.nn.functional as functional

    first = _case(pipeline, "Euler", None, steps=3, seeds=(2,))
    with torch.inference_mode():
        low = ref.run(first, pipeline.unet)
        upscaled = functional.interpolate(low, size=(16, 16), mode="bilinear", antialias=False)
        second = _case(pipeline, "Euler", None, steps=3, seeds=(2,))
        second.width = second.height = 2 * SIZE
        second.cond = _prompt(pipeline, ("a cat", 3))
        expected = ref.run(second, pipeline.unet, init=upscaled, strength=0.6, fixed_steps=True)
    request = GenerationRequest(prompt="a cat", sampler_name="Euler", steps=3, cfg_scale=6.5, width=SIZE,
                                height=SIZE, seed=2, hires=HiresFix("Latent", 2.0, steps=3, denoising_strength=0.6))
    _assert_same(engine, pipeline, request, expected)


@pytest.mark.parametrize("name", ["Euler", "Heun", "DPM2"])
def test_churn_draws_the_image_generators_noise(engine, pipeline, name):
    case = _case(pipeline, name, None, seeds=(13, 14), churn={"s_churn": 0.8, "s_noise": 0.95})
    with torch.inference_mode():
        expected = ref.run(case, pipeline.unet)
    request = GenerationRequest(prompt="a cat", sampler_name=name, steps=4, cfg_scale=6.5, width=SIZE, height=SIZE,
                                seed=13, batch_size=2, sampling=SamplerParameters(s_churn=0.8, s_noise=0.95))
    _assert_same(engine, pipeline, request, expected)


@pytest.mark.parametrize("name", list(KDIFFUSION))
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_sigmas_of_every_sampler_with_every_schedule(name, schedule):
    """The sampler functions are pinned above at their default schedule; here every sampler × schedule pair gets
    A1111's sigmas (with the penultimate sigma discarded where the sampler does)."""
    from types import SimpleNamespace

    from webui.engine.ksampling.denoiser import UNetModel
    from webui.engine.ksampling.library import load_kdiffusion
    from webui.engine.ksampling.run import a1111_alphas_cumprod, get_sigmas

    external = load_kdiffusion().external
    table = default_sampler_table()
    job = SimpleNamespace(sampler=table.resolve(name, table.schedule(schedule).label),
                          parameters=SamplerParameters(), device=torch.device("cpu"))
    ours = get_sigmas(job, external.CompVisDenoiser(UNetModel(None, a1111_alphas_cumprod({}))), 7)
    _, _, discard, _, _ = KDIFFUSION[name]
    case = ref.Case(name, "", schedule, 7, 1.0, [1], SIZE, SIZE, ref.Prompt([]), ref.Prompt([]))
    reference_wrap = ref.kdiffusion()[1].CompVisDenoiser(SimpleNamespace(alphas_cumprod=ref.alphas_cumprod()))
    expected = ref.sigmas_for(case, reference_wrap, 8 if discard else 7)
    if discard:
        expected = torch.cat([expected[:-2], expected[-1:]])
    torch.testing.assert_close(ours.float(), expected.float(), rtol=1e-5, atol=1e-6)


def test_restart_below_20_steps_is_heun_on_karras_sigmas(engine, pipeline):
    """A1111's Restart adds restarts from 20 steps on; below that it is Heun steps on its Karras schedule."""
    case = _case(pipeline, "Heun", "karras", seeds=(17,))
    with torch.inference_mode():
        expected = ref.run(case, pipeline.unet)
    request = GenerationRequest(prompt="a cat", sampler_name="Restart", steps=4, cfg_scale=6.5, width=SIZE,
                                height=SIZE, seed=17)
    _assert_same(engine, pipeline, request, expected)
