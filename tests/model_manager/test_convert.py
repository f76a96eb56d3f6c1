"""`python app.py convert`: any checkpoint → a pruned fp16 .safetensors that loads and keeps its weights."""

from pathlib import Path

import torch

from tests.support.server import run_app
from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.convert import convert_checkpoint
from webui.model_manager.probe import default_probes, identify


def fp32_ckpt_with_training_leftovers(tiny_checkpoint: Path, folder: Path) -> tuple[Path, dict]:
    state = {key: value.float() if value.is_floating_point() else value
             for key, value in CheckpointReaders().read_state_dict(tiny_checkpoint).items()}
    extras = {"model_ema.decay": torch.tensor(0.9999), "model_ema.num_updates": torch.tensor(1000),
              "model_ema.diffusion_modelinput_blocks00weight": torch.zeros(32, 4, 3, 3)}
    path = folder / "legacy-fp32.ckpt"
    torch.save({"state_dict": {**state, **extras}, "global_step": 1000}, path)
    (folder / "legacy-fp32.yaml").write_bytes(tiny_checkpoint.with_suffix(".yaml").read_bytes())
    return path, state


def test_fp32_ckpt_becomes_pruned_fp16_safetensors(tiny_checkpoint, tmp_path):
    source, state = fp32_ckpt_with_training_leftovers(tiny_checkpoint, tmp_path)
    report = convert_checkpoint(source)
    assert report.destination == tmp_path / "legacy-fp32-pruned-fp16.safetensors"
    assert report.tensors_dropped == 3 and report.tensors_kept == len(state)
    assert report.bytes_after < report.bytes_before / 1.9
    converted = CheckpointReaders().read_state_dict(report.destination)
    assert set(converted) == set(state)
    unet_key = "model.diffusion_model.input_blocks.0.0.weight"
    assert converted[unet_key].dtype == torch.float16
    assert torch.equal(converted[unet_key], state[unet_key].half())
    assert converted["alphas_cumprod"].dtype == torch.float32
    assert identify(CheckpointReaders().read_index(report.destination), default_probes(), "x").name == "sd1"


def test_the_converted_file_loads_with_its_yaml(tiny_checkpoint, tmp_path, cpu_plan):
    from webui.model_manager.manager import ModelManager, ModelSources

    source, _ = fp32_ckpt_with_training_leftovers(tiny_checkpoint, tmp_path)
    report = convert_checkpoint(source)
    assert report.destination.with_suffix(".yaml").read_bytes() == source.with_suffix(".yaml").read_bytes()
    manager = ModelManager(ModelSources((tmp_path,)), cpu_plan, hash_cache=None)
    manager.refresh()
    assert manager.load(report.destination.name).architecture.name == "sd1"


def test_cli_reports_and_refuses_bad_requests(tiny_checkpoint, tmp_path):
    source, _ = fp32_ckpt_with_training_leftovers(tiny_checkpoint, tmp_path)
    command = ["convert", str(source), "--out", str(tmp_path / "out.safetensors")]
    done = run_app(command)
    assert done.returncode == 0, done.stderr
    assert "legacy-fp32.ckpt" in done.stdout and "→ out.safetensors" in done.stdout and "3 training-only" in done.stdout
    again = run_app(command)
    assert again.returncode == 2 and "out.safetensors already exists; pass --overwrite" in again.stderr
    lora = tmp_path / "lora.safetensors"
    from safetensors.torch import save_file

    save_file({"lora_unet_x.alpha": torch.ones(1)}, str(lora))
    refused = run_app(["convert", str(lora)])
    assert refused.returncode == 2 and "not a Stable Diffusion checkpoint" in refused.stderr
