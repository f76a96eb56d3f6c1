"""LoRA (kohya files through diffusers' adapters) and textual-inversion embeddings in real generations."""

import hashlib
import random
import struct

import numpy as np
import pytest
import safetensors.torch
import torch

from tests.support.networks import write_a1111_embedding, write_diffusers_lora, write_kohya_lora
from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.lora import LoraArchitectureError
from webui.engine.request import GenerationRequest, HiresFix
from webui.engine.samplers import default_sampler_table
from webui.infotext.parse import parse_infotext
from webui.model_manager.networks import EmbeddingLibrary, ExtraNetworks, LoraLibrary, LoraRecord
from webui.model_manager.safetensors_header import CheckpointFormatError

OPTIONS = InfotextOptions(version="kestrel-test")


@pytest.fixture(scope="module")
def folders(tmp_path_factory, loaded_manager):
    root = tmp_path_factory.mktemp("networks")
    lora, embeddings = root / "Lora", root / "embeddings"
    lora.mkdir()
    embeddings.mkdir()
    pipeline = loaded_manager.loaded.pipeline
    width = pipeline.text_encoder.config.hidden_size
    write_kohya_lora(pipeline, lora / "flatcolor.safetensors", seed=1, metadata={"ss_output_name": "flat_v2"})
    write_kohya_lora(pipeline, lora / "unet-only.safetensors", seed=2, text_encoder=False)
    write_diffusers_lora(pipeline, lora / "diffusers-style.safetensors", seed=7)
    safetensors.torch.save_file({"lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight":
                                 torch.zeros(4, 768)}, str(lora / "sdxl-style.safetensors"))
    write_a1111_embedding(embeddings / "easynegative.safetensors", width, vectors=3, seed=4)
    write_a1111_embedding(embeddings / "badhands.pt", width, vectors=2, seed=5)
    write_a1111_embedding(embeddings / "sd2-only.pt", width + 8, vectors=1, seed=6)
    return lora, embeddings


@pytest.fixture(scope="module")
def networks(folders):
    lora, embeddings = folders
    networks = ExtraNetworks(LoraLibrary(lora), EmbeddingLibrary(embeddings))
    networks.refresh()
    return networks


@pytest.fixture(scope="module")
def engine(loaded_manager, networks):
    return GenerationEngine(loaded_manager, default_sampler_table(), rng=random.Random(3), networks=networks)


def make(engine, **fields):
    values = {"prompt": "1girl", "negative_prompt": "lowres", "sampler_name": "Euler", "steps": 2,
              "width": 64, "height": 64, "seed": 5}
    values.update(fields)
    return engine.generate(GenerationRequest(**values), OPTIONS)


def pixels(result):
    return np.asarray(result.images[0].image, dtype=np.int16)


def snapshot(module):
    return {name: tensor.clone() for name, tensor in module.state_dict().items()}


def test_lora_changes_the_image_and_leaves_the_base_model_bit_identical(engine, loaded_manager, folders):
    pipeline = loaded_manager.loaded.pipeline
    unet_before, te_before = snapshot(pipeline.unet), snapshot(pipeline.text_encoder)
    flags_before = [(module.training, sorted(vars(module))) for module in (pipeline.unet, pipeline.text_encoder)]
    grads_before = [parameter.requires_grad for parameter in pipeline.unet.parameters()]
    plain = make(engine)
    with_lora = make(engine, prompt="1girl <lora:flatcolor:0.9>")
    assert not np.array_equal(pixels(plain), pixels(with_lora))
    for module, before in ((pipeline.unet, unet_before), (pipeline.text_encoder, te_before)):
        after = module.state_dict()
        assert set(after) == set(before)
        assert all(torch.equal(after[name], before[name]) for name in before)
    assert np.array_equal(pixels(make(engine)), pixels(plain))  # gone after the job
    assert [(module.training, sorted(vars(module))) for module in (pipeline.unet, pipeline.text_encoder)] \
        == flags_before
    assert [parameter.requires_grad for parameter in pipeline.unet.parameters()] == grads_before
    path = folders[0] / "flatcolor.safetensors"
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    expected = hashlib.sha256(data[8 + length:]).hexdigest()[:12]
    params = parse_infotext(with_lora.images[0].infotext)
    assert params["Prompt"] == "1girl <lora:flatcolor:0.9>"
    assert params["Lora hashes"] == f"flatcolor: {expected}"
    assert f'Lora hashes: "flatcolor: {expected}"' in with_lora.images[0].infotext


def test_lora_found_by_alias_and_weights_per_component(engine):
    by_alias = make(engine, prompt="1girl <lora:flat_v2:0.9>")
    by_name = make(engine, prompt="1girl <lora:flatcolor:0.9>")
    assert np.array_equal(pixels(by_alias), pixels(by_name))
    unet_only_weight = make(engine, prompt="1girl <lora:flatcolor:0:0.9>")
    assert not np.array_equal(pixels(unet_only_weight), pixels(by_name))  # text encoder weight 0 differs


def test_unknown_lora_is_a_warning_and_the_image_is_made(engine):
    result = make(engine, prompt="1girl <lora:nowhere:1>")
    assert len(result.images) == 1 and "Networks not found: nowhere" in result.notes
    assert "Lora hashes" not in result.images[0].infotext


def test_lora_for_another_architecture_is_a_clear_error(engine, loaded_manager):
    before = snapshot(loaded_manager.loaded.pipeline.unet)
    with pytest.raises(LoraArchitectureError, match="LoRA sdxl-style is for SDXL"):
        make(engine, prompt="<lora:sdxl-style:1>")
    after = loaded_manager.loaded.pipeline.unet.state_dict()
    assert set(after) == set(before) and all(torch.equal(after[name], before[name]) for name in before)


def test_embeddings_in_the_negative_prompt_change_the_image_and_are_hashed(engine, folders):
    plain = make(engine, negative_prompt="lowres")
    embedded = make(engine, negative_prompt="lowres, easynegative, badhands")
    assert not np.array_equal(pixels(plain), pixels(embedded))
    params = parse_infotext(embedded.images[0].infotext)
    expected = {name: hashlib.sha256((folders[1] / file).read_bytes()).hexdigest()[:12]
                for name, file in (("easynegative", "easynegative.safetensors"), ("badhands", "badhands.pt"))}
    assert params["TI hashes"] == f"easynegative: {expected['easynegative']}, badhands: {expected['badhands']}"


def test_embeddings_of_another_width_are_skipped_with_a_reason(networks, loaded_manager):
    width = loaded_manager.loaded.pipeline.text_encoder.config.hidden_size
    usable = networks.embeddings.vectors_for_width(width)
    assert set(usable) == {"easynegative", "badhands"} and usable["easynegative"].shape == (3, width)
    assert "wide" in networks.embeddings.skipped()["sd2-only"]


def test_hostile_embedding_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = tmp_path / "embeddings"
    folder.mkdir()
    torch.save({"string_to_param": {"*": Exploit()}}, folder / "evil.pt")
    library = EmbeddingLibrary(folder)
    library.refresh()
    assert library.vectors_for_width(32) == {}
    assert "refused" in library.skipped()["evil"] and not marker.exists()
    with pytest.raises(CheckpointFormatError):
        LoraLibrary(folder).read(LoraRecord("evil", folder / "evil.pt"))  # LoRA pickles are as strict


def test_everything_together_at_64px(engine):
    result = make(engine, prompt="(masterpiece:1.2), [cat:dog:1], <lora:flatcolor:0.6> <lora:unet-only:0.5> BREAK x",
                  negative_prompt="easynegative", clip_skip=2, steps=3, sampler_name="DPM++ 2M",
                  hires=HiresFix(scale=1.5, steps=2, denoising_strength=0.5))
    image = result.images[0]
    assert image.image.size == (96, 96)
    params = parse_infotext(image.infotext)
    assert params["Clip skip"] == "2" and params["Hires upscale"] == "1.5"
    assert params["Lora hashes"].startswith("flatcolor: ") and ", unet-only: " in params["Lora hashes"]
    assert params["TI hashes"].startswith("easynegative: ")
    keys = list(params)
    assert keys.index("Hires upscaler") < keys.index("Lora hashes") < keys.index("TI hashes") < keys.index("Version")


def test_diffusers_format_lora_works_too(engine):
    plain = make(engine)
    with_lora = make(engine, prompt="1girl <lora:diffusers-style:1>")
    assert not np.array_equal(pixels(plain), pixels(with_lora))
    assert "Lora hashes" in with_lora.images[0].infotext


@pytest.mark.parametrize("mode", ["txt2img", "hires", "img2img", "inpaint"])
@pytest.mark.parametrize("extras", [False, True])
def test_feature_combinations_run(engine, mode, extras):
    from PIL import Image

    from webui.engine.request import Img2ImgInput, InpaintMask

    init = Image.new("RGB", (64, 64), (120, 40, 200))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 32))
    fields = {
        "txt2img": {},
        "hires": {"hires": HiresFix(scale=1.5, steps=2, denoising_strength=0.5, upscaler="Lanczos")},
        "img2img": {"img2img": Img2ImgInput(init, denoising_strength=0.6)},
        "inpaint": {"img2img": Img2ImgInput(init, denoising_strength=0.8, mask=InpaintMask(mask, only_masked=True))},
    }[mode]
    if extras:
        fields.update(prompt="[cat|dog] (1girl:1.3) <lora:flatcolor:0.7> BREAK scenery", negative_prompt="easynegative",
                      clip_skip=2)
    result = make(engine, steps=3, **fields)
    (image,) = result.images
    assert image.image.size == ((96, 96) if mode == "hires" else (64, 64))
    assert ("Clip skip: 2" in image.infotext) == extras and ("Lora hashes" in image.infotext) == extras
