"""Every refused checkpoint is one typed error naming the file as the user knows it and the reason; the check
needs only the header, runs on the caller's thread while a job holds the model, and the live model keeps serving."""

import json
import os
import pickle
import struct
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.support import copy_checkpoint
from webui.errors import CheckpointRefused, ModelMissing
from webui.model_manager.hashing import HashCache
from webui.model_manager.manager import CheckpointNotFoundError, ModelManager, ModelSources
from webui.model_manager.safetensors_header import MAX_HEADER_BYTES, MAX_HEADER_ENTRIES


class RunsCode:
    def __reduce__(self):
        return os.system, ("true",)


def raw_safetensors(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def many_entries(count: int) -> bytes:
    """A header of `count` one-element tensors that all point at the same two bytes (valid, just huge)."""
    entries = b",".join(b'"t%d":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}' % number
                        for number in range(count))
    return b"{" + entries + b"}"


def sd_shaped(marker_key: str) -> dict[str, torch.Tensor]:
    return {marker_key: torch.zeros(4), "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3)}


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_checkpoint, cpu_plan):
    root = tmp_path_factory.mktemp("refusals")
    models = root / "Stable-diffusion"
    bad = models / "bad"  # a subfolder: the refusal names "bad/<file>", the user's name for it
    bad.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, models / "good.safetensors")
    (bad / "truncated.safetensors").write_bytes(tiny_checkpoint.read_bytes()[:5000])
    (bad / "my model v2.ckpt").write_bytes(b"PK\x03\x04 not really a zip")
    (bad / "not-json.safetensors").write_bytes(raw_safetensors(b"\xff" * 64))
    (bad / "past-the-end.safetensors").write_bytes(raw_safetensors(json.dumps(
        {"w": {"dtype": "F16", "shape": [1024], "data_offsets": [0, 2048]}}).encode(), b"\0" * 16))
    (bad / "empty.safetensors").write_bytes(b"")
    (bad / "empty.ckpt").write_bytes(b"")
    save_file(sd_shaped("conditioner.embedders.1.model.ln_final.weight"), str(bad / "sdxl.safetensors"))
    save_file(sd_shaped("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"),
              str(bad / "sd2.safetensors"))
    save_file(sd_shaped("model.diffusion_model.x_embedder.proj.weight"), str(bad / "sd3.safetensors"))
    torch.save({"state_dict": {"model.diffusion_model.w": RunsCode()}}, bad / "hostile.ckpt")
    (bad / "hostile-legacy.ckpt").write_bytes(pickle.dumps({"state_dict": RunsCode()}, protocol=2))
    outside = root / "elsewhere"
    outside.mkdir()
    copy_checkpoint(tiny_checkpoint, outside / "real.safetensors")
    (bad / "link-out.safetensors").symlink_to(outside / "real.safetensors")
    manager = ModelManager(ModelSources((models,)), cpu_plan, HashCache(root / "cache.json"))
    manager.refresh()
    manager.load("good.safetensors")
    return manager, models


REFUSED = {
    "bad/truncated.safetensors": "corrupt or truncated",
    "bad/not-json.safetensors": "corrupt .safetensors header",
    "bad/my model v2.ckpt": "corrupt or truncated checkpoint",
    "bad/past-the-end.safetensors": "truncated file: tensor 'w' needs bytes 0–2048",
    "bad/empty.safetensors": "the file is empty",
    "bad/empty.ckpt": "the file is empty",
    "bad/sdxl.safetensors": "not supported yet: SDXL",
    "bad/sd2.safetensors": "not supported yet: SD 2.x",
    "bad/sd3.safetensors": "not supported yet: SD 3",
    "bad/hostile.ckpt": "refused: this .ckpt needs more than plain tensors",
    "bad/hostile-legacy.ckpt": "refused: this .ckpt needs more than plain tensors",
    "bad/link-out.safetensors": "a link to a file outside the model folders",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_refused_file_names_itself_and_the_reason_and_the_live_model_stays(setup, name):
    manager, _ = setup
    live = manager.loaded
    with pytest.raises(CheckpointRefused) as checked:
        manager.check_file(name)
    assert checked.value.file == name and REFUSED[name] in checked.value.reason
    assert Path(name).name not in checked.value.reason  # named once, as the user knows it
    assert checked.value.http_status == 422 and "/" + "tmp" not in str(checked.value)  # no server path
    with pytest.raises(CheckpointRefused) as loading:
        manager.load(name)
    assert (loading.value.file, loading.value.reason) == (checked.value.file, checked.value.reason)
    assert manager.loaded is live
    with manager.use() as loaded:
        assert loaded.pipeline is live.pipeline


def test_a_good_file_passes_the_check_and_an_unknown_one_is_missing(setup):
    manager, _ = setup
    assert manager.check_file("good.safetensors").name == "good.safetensors"
    with pytest.raises(CheckpointNotFoundError, match="'nope' not found; available: ") as missing:
        manager.check_file("nope")
    assert isinstance(missing.value, ModelMissing) and missing.value.http_status == 404
    assert "good.safetensors" in " ".join(missing.value.available)


def test_an_89_mb_header_of_1_5_million_entries_is_refused_before_parsing(setup):
    manager, models = setup
    header = many_entries(1_500_000)
    assert len(header) > 88_000_000 > MAX_HEADER_BYTES  # 89 MB
    (models / "bomb.safetensors").write_bytes(raw_safetensors(header, b"\0\0"))
    del header
    manager.refresh()
    with pytest.raises(CheckpointRefused, match="bomb.safetensors: refused: its header is \\d+ bytes, over the"):
        manager.check_file("bomb.safetensors")


def test_too_many_entries_in_a_small_header_are_refused(setup):
    manager, models = setup
    header = many_entries(MAX_HEADER_ENTRIES + 1)
    assert len(header) < MAX_HEADER_BYTES
    (models / "crowd.safetensors").write_bytes(raw_safetensors(header, b"\0\0"))
    manager.refresh()
    with pytest.raises(CheckpointRefused, match=f"crowd.safetensors: refused: .* {MAX_HEADER_ENTRIES + 1} tensors"):
        manager.check_file("crowd.safetensors")


def test_the_check_and_the_lists_answer_while_a_job_holds_the_model(setup):
    manager, _ = setup
    holding, release = threading.Event(), threading.Event()

    def job() -> None:
        with manager.use():
            holding.set()
            release.wait(30)

    worker = threading.Thread(target=job)
    worker.start()
    try:
        assert holding.wait(10)
        answers: list[object] = []

        def list_routes() -> None:
            answers.extend([manager.check_file("good.safetensors").name, manager.find("good").name,
                            len(manager.checkpoints()) > 1, manager.vaes() is not None])

        checker = threading.Thread(target=list_routes)
        checker.start()
        checker.join(10)
        assert answers == ["good.safetensors", "good.safetensors", True, True]  # none waited for the job's lock
    finally:
        release.set()
        worker.join()


def test_a_refused_vae_names_the_vae_file_and_keeps_the_choice(setup, tmp_path):
    manager, models = setup
    (models / "broken.vae.safetensors").write_bytes(raw_safetensors(b"{nope"))
    manager.refresh()
    before = manager.vae_choice
    with pytest.raises(CheckpointRefused) as refused:
        manager.set_vae("broken.vae.safetensors")
    assert refused.value.file == "broken.vae.safetensors" and "corrupt" in refused.value.reason
    assert manager.vae_choice == before and manager.loaded.vae is None


def test_a_checkpoint_named_on_the_command_line_may_live_anywhere(tmp_path, tiny_checkpoint, cpu_plan):
    elsewhere = copy_checkpoint(tiny_checkpoint, tmp_path / "elsewhere" / "cli.safetensors")
    manager = ModelManager(ModelSources((tmp_path / "Stable-diffusion",), (Path(elsewhere),)), cpu_plan, None)
    manager.refresh()
    assert manager.check_file("cli.safetensors").path == elsewhere.resolve()
