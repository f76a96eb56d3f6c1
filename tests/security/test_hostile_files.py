"""A corpus of hostile and broken model files, made here. Each pickle would create a marker file if it ever ran;
they are offered as checkpoints, as embeddings and through the low-level readers, and nothing may run."""

import builtins
import json
import os
import pickle
import struct
from pathlib import Path

import pytest
import torch

from tests.support import copy_checkpoint
from webui.model_manager.checkpoint_files import CheckpointReaders, load_pickle_object
from webui.model_manager.hashing import HashCache
from webui.model_manager.manager import ModelManager, ModelSources
from webui.model_manager.networks import EmbeddingLibrary
from webui.model_manager.probe import UnsupportedArchitectureError
from webui.model_manager.safetensors_header import CheckpointFormatError


class Reduces:
    """An object whose unpickling calls `function(*args)`."""

    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def touch_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


def raw_getattr_chain(marker: Path) -> bytes:
    """getattr(__import__('os'), 'system')('touch marker'), written as a protocol-0 pickle program by hand."""
    return (b"c__builtin__\ngetattr\n(c__builtin__\n__import__\n(Vos\ntRVsystem\ntR(V"
            + f"touch {marker}".encode() + b"\ntR.")


def hostile_payloads(marker: Path) -> dict[str, object]:
    return {
        "os-system": Reduces(os.system, f"touch {marker}"),
        "eval": Reduces(builtins.eval, touch_code(marker)),
        "exec": Reduces(builtins.exec, touch_code(marker)),
        "nested-reduce": {"state_dict": {"w": Reduces(builtins.exec, "pass")},
                          "inner": [Reduces(getattr, Reduces(builtins.__import__, "os"), "system")]},
        "apply-in-state-dict": {"state_dict": {"model.diffusion_model.w": Reduces(builtins.exec, touch_code(marker))}},
    }


def write_corpus(folder: Path, marker: Path, suffix: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, payload in hostile_payloads(marker).items():
        zipped = folder / f"{name}-zip{suffix}"
        torch.save(payload, zipped)  # the modern zip format torch itself writes
        legacy = folder / f"{name}-legacy{suffix}"
        legacy.write_bytes(pickle.dumps(payload, protocol=2))
        files += [zipped, legacy]
    chain = folder / f"getattr-chain{suffix}"
    chain.write_bytes(raw_getattr_chain(marker))
    return [*files, chain]


def test_hostile_pickles_are_refused_by_every_reader(tmp_path):
    marker = tmp_path / "code-ran"
    for path in write_corpus(tmp_path / "corpus", marker, ".ckpt"):
        with pytest.raises(CheckpointFormatError):  # UnsafeCheckpointError is one
            CheckpointReaders().read_state_dict(path)
        with pytest.raises(CheckpointFormatError):
            load_pickle_object(path)
    assert not marker.exists()


def test_hostile_checkpoints_and_embeddings_leave_the_live_model_serving(tmp_path, tiny_checkpoint, cpu_plan):
    marker = tmp_path / "code-ran"
    models = tmp_path / "Stable-diffusion"
    models.mkdir()
    copy_checkpoint(tiny_checkpoint, models / "good.safetensors")
    hostile = write_corpus(models, marker, ".ckpt")
    manager = ModelManager(ModelSources((models,)), cpu_plan, HashCache(tmp_path / "cache.json"))
    manager.refresh()
    live = manager.load("good.safetensors")
    for path in hostile:
        with pytest.raises(CheckpointFormatError, match=path.name):
            manager.load(path.name)
        assert manager.loaded is live
    embeddings = EmbeddingLibrary(tmp_path / "embeddings")
    write_corpus(tmp_path / "embeddings", marker, ".pt")
    embeddings.refresh()
    assert embeddings.vectors_for_width(32) == {}
    assert len(embeddings.skipped()) == len(hostile) and all("refused" in reason or "corrupt" in reason
                                                             for reason in embeddings.skipped().values())
    assert not marker.exists()
    with manager.use() as loaded:
        assert loaded is live


def safetensors_with_header(header: bytes, declared_length: int | None = None, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header) if declared_length is None else declared_length) + header + data


BROKEN = {
    "header-bomb": (safetensors_with_header(b"{}", declared_length=2**40), "header"),
    "header-not-json": (safetensors_with_header(b"\xff" * 64), ""),
    "offsets-past-the-end": (safetensors_with_header(json.dumps(
        {"w": {"dtype": "F16", "shape": [1024, 1024], "data_offsets": [0, 2 * 1024 * 1024]}}).encode(), None,
        b"\0" * 16), "truncated"),
    "empty": (b"", ""),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_safetensors_get_a_clear_error(tmp_path, kind):
    content, words = BROKEN[kind]
    path = tmp_path / f"{kind}.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointFormatError, match=f"{kind}.safetensors.*{words}"):
        CheckpointReaders().read_index(path)


def test_a_wrong_architecture_is_named_and_the_live_model_stays(tmp_path, tiny_checkpoint, cpu_plan):
    from safetensors.torch import save_file

    models = tmp_path / "Stable-diffusion"
    models.mkdir()
    copy_checkpoint(tiny_checkpoint, models / "good.safetensors")
    save_file({"conditioner.embedders.1.model.ln_final.weight": torch.zeros(4),
               "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4)}, models / "xl-ish.safetensors")
    manager = ModelManager(ModelSources((models,)), cpu_plan, HashCache(tmp_path / "cache.json"))
    manager.refresh()
    live = manager.load("good.safetensors")
    with pytest.raises(UnsupportedArchitectureError, match="not supported yet: SDXL"):
        manager.load("xl-ish.safetensors")
    assert manager.loaded is live


def test_a_corrupt_first_checkpoint_does_not_keep_the_server_from_starting(tmp_path, tiny_checkpoint):
    """The first checkpoint (A1111's order) is truncated: start-up logs it, loads the next one, and serves; with
    only broken files the server still starts, without a model, and a generation says what is wrong."""
    from tests.support import api_test_client, copy_checkpoint

    data = tmp_path / "data"
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    (folder / "aaa-broken.safetensors").write_bytes(tiny_checkpoint.read_bytes()[:4096])
    copy_checkpoint(tiny_checkpoint, folder / "zzz-good.safetensors")
    clients = api_test_client(data)
    client = next(clients)
    try:
        assert client.app_context.loaded_model.record.name == "zzz-good.safetensors"
        txt2img = {"prompt": "x", "steps": 1, "width": 64, "height": 64, "sampler_name": "Euler"}
        assert client.post("/sdapi/v1/txt2img", json=txt2img).status_code == 200
    finally:
        next(clients, None)  # runs the rest of the generator: the client closes and the App stops
    (folder / "zzz-good.safetensors").unlink()
    clients = api_test_client(data)
    client = next(clients)
    try:
        assert client.app_context.loaded_model is None
        response = client.post("/sdapi/v1/txt2img", json=txt2img)
        assert 400 <= response.status_code < 500 and "aaa-broken.safetensors" in response.text, response.text
    finally:
        next(clients, None)  # runs the rest of the generator: the client closes and the App stops
