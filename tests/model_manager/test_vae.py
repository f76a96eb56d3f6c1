"""External VAEs as A1111 selects them: Automatic (file beside the checkpoint), None, or a file; infotext keys."""

import hashlib
import random

import pytest
import torch
from safetensors.torch import save_file

from tests.support import copy_checkpoint
from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.request import GenerationRequest
from webui.engine.samplers import default_sampler_table
from webui.model_manager.catalog import CheckpointRecord
from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.demo import TinySD1Spec, write_tiny_checkpoint
from webui.model_manager.hashing import HashCache
from webui.model_manager.manager import ModelManager, ModelSources
from webui.model_manager.vae import resolve_vae, scan_vaes

DECODER_KEY = "decoder.conv_out.weight"


def write_vae_file(path, source_checkpoint):
    """A standalone VAE file the way they are shared: the LDM VAE keys without the checkpoint prefix."""
    state = CheckpointReaders().read_state_dict(source_checkpoint)
    save_file({key.removeprefix("first_stage_model."): value.contiguous() for key, value in state.items()
               if key.startswith("first_stage_model.")}, str(path))
    return state["first_stage_model.decoder.conv_out.weight"]


@pytest.fixture
def setup(tmp_path, tiny_checkpoint, cpu_plan):
    checkpoints, vae_folder = tmp_path / "Stable-diffusion", tmp_path / "VAE"
    checkpoints.mkdir()
    vae_folder.mkdir()
    copy_checkpoint(tiny_checkpoint, checkpoints / "anime.safetensors")
    donor = write_tiny_checkpoint(tmp_path / "donor.safetensors", TinySD1Spec(seed=21))
    beside = write_vae_file(checkpoints / "anime.vae.safetensors", donor)
    other = write_tiny_checkpoint(tmp_path / "other-donor.safetensors", TinySD1Spec(seed=22))
    shared = write_vae_file(vae_folder / "kl-f8-anime2.safetensors", other)
    manager = ModelManager(ModelSources((checkpoints,), vae_folders=(vae_folder,)), cpu_plan,
                           HashCache(tmp_path / "cache.json"))
    manager.refresh()
    return manager, checkpoints, vae_folder, beside, shared


def live_decoder(manager):
    return manager.loaded.pipeline.vae.decoder.conv_out.weight.detach()


def test_scan_and_resolve(setup):
    manager, checkpoints, _, _, _ = setup
    vaes = scan_vaes((checkpoints.parent / "VAE",), (checkpoints,))
    assert [record.name for record in vaes] == ["anime.vae.safetensors", "kl-f8-anime2.safetensors"]
    record = CheckpointRecord(checkpoints / "anime.safetensors", "anime.safetensors")
    assert resolve_vae("Automatic", record, vaes).name == "anime.vae.safetensors"
    assert resolve_vae("None", record, vaes) is None
    assert resolve_vae("kl-f8-anime2", record, vaes).name == "kl-f8-anime2.safetensors"
    assert resolve_vae("Automatic", CheckpointRecord(checkpoints / "x.safetensors", "x.safetensors"), vaes) is None
    with pytest.raises(LookupError, match="VAE 'nope' not found; allowed: Automatic, None, anime.vae.safetensors"):
        resolve_vae("nope", record, vaes)


def test_automatic_uses_the_vae_beside_the_checkpoint_and_none_restores_the_baked_one(setup, tiny_checkpoint):
    manager, checkpoints, _, beside, shared = setup
    loaded = manager.load("anime.safetensors")
    assert loaded.vae is not None and loaded.vae.name == "anime.vae.safetensors"
    assert torch.equal(live_decoder(manager), beside.float())
    assert loaded.vae.sha256 == hashlib.sha256((checkpoints / "anime.vae.safetensors").read_bytes()).hexdigest()

    manager.set_vae("None")
    baked = CheckpointReaders().read_state_dict(tiny_checkpoint)["first_stage_model.decoder.conv_out.weight"]
    assert manager.loaded.vae is None and torch.equal(live_decoder(manager), baked.float())

    manager.set_vae("kl-f8-anime2.safetensors")
    assert torch.equal(live_decoder(manager), shared.float())
    with pytest.raises(LookupError, match="not found"):
        manager.set_vae("missing.pt")
    assert manager.vae_choice == "kl-f8-anime2.safetensors"


def test_infotext_names_the_external_vae(setup):
    manager, _, _, _, _ = setup
    manager.load("anime.safetensors")
    engine = GenerationEngine(manager, default_sampler_table(), rng=random.Random(0))
    result = engine.generate(GenerationRequest(prompt="x", steps=1, width=64, height=64, seed=5), InfotextOptions())
    vae = manager.loaded.vae
    assert f"Model: anime, VAE hash: {vae.short_hash}, VAE: anime, " in result.images[0].infotext + ", "
    manager.set_vae("None")
    result = engine.generate(GenerationRequest(prompt="x", steps=1, width=64, height=64, seed=5), InfotextOptions())
    assert "VAE" not in result.images[0].infotext


def test_a_broken_vae_file_keeps_the_baked_vae(setup):
    manager, checkpoints, _, _, _ = setup
    (checkpoints / "anime.vae.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    manager.refresh()
    loaded = manager.load("anime.safetensors")  # the checkpoint loads; the VAE problem is logged
    assert loaded.vae is None
