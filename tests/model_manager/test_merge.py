"""A1111's Checkpoint Merger maths, fp16 output, the inpainting rule, a baked-in VAE, and clear refusals."""

import json

import pytest
import safetensors
import torch

from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.demo import TinySD1Spec, write_tiny_checkpoint
from webui.model_manager.merge import MergeRequest, merge_checkpoints
from webui.model_manager.safetensors_header import CheckpointFormatError

READ = CheckpointReaders().read_state_dict
KEY = "model.diffusion_model.middle_block.0.in_layers.2.weight"
INPUT_CONV = "model.diffusion_model.input_blocks.0.0.weight"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("merge")
    return {name: write_tiny_checkpoint(folder / f"{name}.safetensors", TinySD1Spec(seed=seed, **extra))
            for name, seed, extra in (("a", 1, {}), ("b", 2, {}), ("c", 3, {}), ("inpaint", 4, {"in_channels": 9}),
                                      ("wide", 5, {"model_channels": 64}))}


def test_weighted_sum(models, tmp_path):
    out = merge_checkpoints(MergeRequest(models["a"], models["b"], None, "Weighted sum", 0.3,
                                         tmp_path / "m.safetensors"))
    a, b, merged = READ(models["a"]), READ(models["b"]), READ(out)
    assert merged[KEY].dtype == torch.float16
    assert torch.equal(merged[KEY], (a[KEY].float() * 0.7 + b[KEY].float() * 0.3).half())
    assert set(merged) == set(a)
    with safetensors.safe_open(str(out), "pt") as handle:
        recipe = json.loads(handle.metadata()["sd_merge_recipe"])
    assert (recipe["method"], recipe["multiplier"], recipe["secondary_model"]) == ("Weighted sum", 0.3, "b.safetensors")
    assert out.with_suffix(".yaml").is_file()


def test_add_difference(models, tmp_path):
    out = merge_checkpoints(MergeRequest(models["a"], models["b"], models["c"], "Add difference", 1.0,
                                         tmp_path / "d.safetensors"))
    a, b, c, merged = READ(models["a"]), READ(models["b"]), READ(models["c"]), READ(out)
    assert torch.equal(merged[KEY], (a[KEY].float() + (b[KEY].float() - c[KEY].float())).half())


def test_inpainting_model_as_a_keeps_its_mask_channels(models, tmp_path):
    out = merge_checkpoints(MergeRequest(models["inpaint"], models["b"], models["c"], "Add difference", 0.5,
                                         tmp_path / "i.safetensors"))
    a, b, c, merged = READ(models["inpaint"]), READ(models["b"]), READ(models["c"]), READ(out)
    expected_latent = (a[INPUT_CONV][:, :4].float() + (b[INPUT_CONV].float() - c[INPUT_CONV].float()) * 0.5).half()
    assert merged[INPUT_CONV].shape[1] == 9
    assert torch.equal(merged[INPUT_CONV][:, :4], expected_latent)
    assert torch.equal(merged[INPUT_CONV][:, 4:], a[INPUT_CONV][:, 4:])
    with pytest.raises(CheckpointFormatError, match="the inpainting model must be A"):
        merge_checkpoints(MergeRequest(models["b"], models["inpaint"], None, "Weighted sum", 0.5,
                                       tmp_path / "j.safetensors"))


def test_baked_in_vae(models, tmp_path):
    from safetensors.torch import save_file

    c = READ(models["c"])
    vae = tmp_path / "anime.vae.safetensors"
    save_file({key.removeprefix("first_stage_model."): value.contiguous() for key, value in c.items()
               if key.startswith("first_stage_model.")}, str(vae))
    out = merge_checkpoints(MergeRequest(models["a"], models["b"], None, "Weighted sum", 0.5,
                                         tmp_path / "v.safetensors", vae=vae))
    merged = READ(out)
    vae_key = "first_stage_model.decoder.conv_out.weight"
    assert torch.equal(merged[vae_key], c[vae_key])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"method": "Sum twice"}, ValueError, "unknown merge method 'Sum twice'; allowed: Weighted sum, Add difference"),
    ({"method": "Add difference"}, ValueError, "Add difference needs a tertiary model"),
    ({"multiplier": 1.5}, ValueError, "multiplier 1.5 is out of range"),
])
def test_bad_requests_are_named(models, tmp_path, kwargs, error, message):
    values = {"primary": models["a"], "secondary": models["b"], "tertiary": None, "method": "Weighted sum",
              "multiplier": 0.5, "destination": tmp_path / "x.safetensors", **kwargs}
    with pytest.raises(error, match=message):
        merge_checkpoints(MergeRequest(**values))
    assert not (tmp_path / "x.safetensors").exists()


def test_different_architectures_are_refused(models, tmp_path):
    with pytest.raises(CheckpointFormatError, match="shapes .* differ"):
        merge_checkpoints(MergeRequest(models["a"], models["wide"], None, "Weighted sum", 0.5,
                                       tmp_path / "w.safetensors"))
    existing = tmp_path / "exists.safetensors"
    existing.write_bytes(b"x")
    with pytest.raises(FileExistsError, match="already exists"):
        merge_checkpoints(MergeRequest(models["a"], models["b"], None, "Weighted sum", 0.5, existing))


def test_merge_from_the_command_line(models, tmp_path):
    from pathlib import Path

    from tests.support.server import run_app  # app.py in its own process, forked without the imports' wait

    out = tmp_path / "cli.safetensors"
    done = run_app(["merge", str(models["a"]), str(models["b"]), "--multiplier", "0.5", "--out", str(out)],
                   cwd=Path.cwd())
    assert done.returncode == 0, done.stderr
    expected = (READ(models["a"])[KEY].float() * 0.5 + READ(models["b"])[KEY].float() * 0.5).half()
    assert torch.equal(READ(out)[KEY], expected)
    bad = run_app(["merge", str(models["a"]), str(models["b"]), "--method", "Add difference", "--out",
                   str(tmp_path / "x.safetensors")], cwd=Path.cwd())
    assert bad.returncode == 2 and "Add difference needs a tertiary model (C)" in bad.stderr
