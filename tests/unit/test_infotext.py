"""A1111's infotext format, pinned by golden strings (the format other tools parse)."""

from pathlib import Path

from PIL import Image

from webui.infotext.format import GenerationInfo, create_infotext, parameters_line, quote
from webui.infotext.png import png_bytes_with_infotext, read_infotext, read_png_text_chunks


def make_info(**overrides) -> GenerationInfo:
    values = dict(prompt="masterpiece, 1girl, (red hair:1.2)", negative_prompt="lowres, bad anatomy", steps=20,
                  sampler="DPM++ 2M", schedule_type="Karras", cfg_scale=7.0, seed=1234567890, width=512, height=768,
                  model_hash="6ce0161689", model_name="anything-v4.5", version="kestrel-0.1.0")
    values.update(overrides)
    return GenerationInfo(**values)


def test_txt2img_infotext_golden():
    assert make_info().text() == (
        "masterpiece, 1girl, (red hair:1.2)\n"
        "Negative prompt: lowres, bad anatomy\n"
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, Size: 512x768, "
        "Model hash: 6ce0161689, Model: anything-v4.5, Version: kestrel-0.1.0"
    )


def test_empty_negative_prompt_omits_its_line_and_fractional_cfg_is_kept():
    text = make_info(negative_prompt="", cfg_scale=7.5, prompt="a cat").text()
    assert text == ("a cat\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 1234567890, "
                    "Size: 512x768, Model hash: 6ce0161689, Model: anything-v4.5, Version: kestrel-0.1.0")


def test_none_values_are_left_out_and_multiline_prompt_kept():
    text = make_info(prompt="line one\nline two", negative_prompt="", model_hash=None, model_name=None,
                     version=None).text()
    assert text == ("line one\nline two\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, "
                    "Seed: 1234567890, Size: 512x768")


def test_empty_prompt_is_stripped_like_a1111():
    assert create_infotext("", "", {"Steps": 20}) == "Steps: 20"


def test_quoting_follows_a1111():
    assert quote("plain") == "plain"
    assert quote("a, b") == '"a, b"'
    assert quote("name: 0123") == '"name: 0123"'
    assert quote("line\nbreak") == '"line\\nbreak"'
    assert quote("ünï, 猫") == '"ünï, 猫"'
    assert parameters_line({"Lora hashes": "x: 0123456789ab", "Tiling": "Tiling", "Skip": None}) == \
        'Lora hashes: "x: 0123456789ab", Tiling'


def test_png_parameters_chunk_round_trip(tmp_path: Path):
    text = make_info(prompt="ünïcode ✓ 猫").text()
    path = tmp_path / "image.png"
    path.write_bytes(png_bytes_with_infotext(Image.new("RGB", (8, 8), "red"), text))
    assert read_infotext(path) == text
    assert read_png_text_chunks(path) == {"parameters": text}
    with Image.open(path) as image:
        assert image.size == (8, 8) and image.getpixel((0, 0)) == (255, 0, 0)


def test_external_vae_keys_follow_the_model_keys():
    text = make_info(negative_prompt="", vae_hash="735e4c3a44", vae_name="kl-f8-anime2").text()
    assert text.endswith("Model hash: 6ce0161689, Model: anything-v4.5, VAE hash: 735e4c3a44, VAE: kl-f8-anime2, "
                         "Version: kestrel-0.1.0")


def test_parse_round_trips_our_infotext_like_a1111():
    from webui.infotext.parse import parse_infotext

    text = make_info(prompt="line one\n(red hair:1.2), 1girl").text()
    parsed = parse_infotext(text)
    assert parsed["Prompt"] == "line one\n(red hair:1.2), 1girl"
    assert parsed["Negative prompt"] == "lowres, bad anatomy"
    assert (parsed["Steps"], parsed["Sampler"], parsed["CFG scale"], parsed["Seed"]) == ("20", "DPM++ 2M", "7",
                                                                                         "1234567890")
    assert (parsed["Size"], parsed["Size-1"], parsed["Size-2"]) == ("512x768", "512", "768")
    assert parse_infotext('a cat\nSteps: 2, Lora hashes: "x: 0123456789ab", Tiling: True')["Lora hashes"] == \
        "x: 0123456789ab"
    assert parse_infotext("just a prompt, with commas") == {"Prompt": "just a prompt, with commas",
                                                            "Negative prompt": ""}
