"""Infotext → controls, golden strings in A1111's exact format (hires keys, LoRA/TI hashes, quoted values)."""

from webui.infotext.paste import generation_parameters, pasted_fields

A1111_HIRES = (
    "masterpiece, 1girl, <lora:flat:0.8>, (red hair:1.2)\n"
    "Negative prompt: EasyNegative, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 1234567890, Size: 512x768, "
    "Model hash: 6ce0161689, Model: anything-v5, VAE hash: 735e4c3a44, VAE: kl-f8-anime2.safetensors, "
    "Denoising strength: 0.45, Clip skip: 2, Hires upscale: 2, Hires steps: 15, Hires upscaler: Latent, "
    'Lora hashes: "flat: 0123456789ab", TI hashes: "EasyNegative: c74b4e810b03", Version: v1.10.1'
)
OLD_STYLE = ("a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, "
             "Model hash: 81761151, Denoising strength: 0.7, First pass size: 0x0")


def test_a1111_hires_infotext_fills_every_control():
    params = generation_parameters(A1111_HIRES)
    assert params["Lora hashes"] == "flat: 0123456789ab" and params["TI hashes"] == "EasyNegative: c74b4e810b03"
    fields = pasted_fields(params)
    assert fields.prompt == "masterpiece, 1girl, <lora:flat:0.8>, (red hair:1.2)"
    assert fields.negative_prompt == "EasyNegative, lowres"
    assert (fields.steps, fields.sampler, fields.schedule_type, fields.cfg_scale) == (28, "DPM++ 2M", "Karras", 7.5)
    assert (fields.seed, fields.width, fields.height, fields.clip_skip) == (1234567890, 512, 768, 2)
    assert fields.enable_hr and fields.denoising_strength == 0.45 and fields.hr_scale == 2.0
    assert (fields.hr_steps, fields.hr_upscaler, fields.hr_sampler) == (15, "Latent", "Use same sampler")
    assert fields.hr_resize_x == 0 and fields.model_hash == "6ce0161689"


def test_missing_keys_get_a1111_defaults():
    params = generation_parameters(OLD_STYLE)
    assert params["Clip skip"] == "1" and params["Schedule type"] == "Automatic"
    assert params["Hires sampler"] == "Use same sampler" and params["Masked content"] == "original"
    fields = pasted_fields(params)
    assert fields.clip_skip == 1 and fields.negative_prompt == "" and not fields.enable_hr
    assert fields.sampler == "Euler a" and fields.hr_scale is None


def test_unreadable_numbers_leave_the_control_alone():
    fields = pasted_fields(generation_parameters("x\nSteps: many, Sampler: Euler, CFG scale: ?, Seed: 3"))
    assert fields.steps is None and fields.cfg_scale is None and fields.seed == 3
