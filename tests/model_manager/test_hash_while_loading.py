"""The first load of a never-hashed file hashes beside the weights' read: the same sha256 A1111 computes (of the
whole file), cached as before, on a thread of its own; a refused file leaves no hashing thread behind."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading

import pytest

from webui.errors import CheckpointRefused
from webui.model_manager.hashing import HashCache, sha256_of_file
from webui.model_manager.manager import ModelManager, ModelSources


class RecordingHashCache(HashCache):
    def __init__(self, cache_file) -> None:
        super().__init__(cache_file)
        self.hashing_threads: list[str] = []

    def sha256(self, path, name, progress=None, kind="checkpoint"):
        self.hashing_threads.append(threading.current_thread().name)
        return super().sha256(path, name, progress, kind)


def test_the_sha256_computed_while_loading_is_the_files_sha256(tmp_path, tiny_checkpoint, cpu_plan):
    folder = tmp_path / "models"
    folder.mkdir()
    model = shutil.copy(tiny_checkpoint, folder / "fresh.safetensors")
    shutil.copy(tiny_checkpoint.with_suffix(".yaml"), folder / "fresh.yaml")  # the tiny architecture's config
    hashes = RecordingHashCache(tmp_path / "cache.json")
    manager = ModelManager(ModelSources((folder,)), cpu_plan, hashes)
    assert manager.refresh()[0].sha256 is None  # never hashed
    loaded = manager.load("fresh.safetensors")
    expected = hashlib.sha256(model.read_bytes()).hexdigest()
    assert loaded.record.sha256 == expected == sha256_of_file(model)
    assert manager.find("fresh.safetensors").sha256 == expected  # the list shows it at once
    assert json.loads((tmp_path / "cache.json").read_text())["hashes"]["checkpoint/fresh.safetensors"]["sha256"] \
        == expected
    assert hashes.hashing_threads == ["sha256 fresh.safetensors"]  # beside the load, not before it on this thread


def test_the_background_hash_reports_errors_through_its_future(tmp_path):
    future = HashCache(tmp_path / "cache.json").start(tmp_path / "missing.safetensors", "missing.safetensors")
    with pytest.raises(FileNotFoundError):
        future.result(timeout=30)


def test_a_refused_file_waits_for_its_hash_and_leaves_no_thread(tmp_path, tiny_checkpoint, cpu_plan):
    folder = tmp_path / "models"
    folder.mkdir()
    data = tiny_checkpoint.read_bytes()
    broken = folder / "broken.safetensors"
    broken.write_bytes(data[: len(data) // 2])
    shutil.copy(tiny_checkpoint.with_suffix(".yaml"), folder / "broken.yaml")
    manager = ModelManager(ModelSources((folder,)), cpu_plan, HashCache(tmp_path / "cache.json"))
    manager.refresh()
    with pytest.raises(CheckpointRefused):
        manager.load("broken.safetensors")
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("sha256 ")]
