"""Discovery with A1111's names/titles, and sha256 model hashes cached by (path, size, mtime)."""

import hashlib
import json
import os
import shutil

import pytest

from webui.model_manager.catalog import CheckpointRecord, scan_checkpoints
from webui.model_manager.hashing import HashCache


def test_scan_is_recursive_skips_vae_files_and_lists_extra_dirs_first(tmp_path):
    main, extra = tmp_path / "Stable-diffusion", tmp_path / "extra"
    for path in (main / "b.safetensors", main / "anime" / "a.ckpt", main / "x.vae.safetensors", main / "notes.txt",
                 extra / "z.safetensors"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    names = [record.name for record in scan_checkpoints([extra, main])]
    assert names == ["z.safetensors", "anime/a.ckpt", "b.safetensors"]


def test_titles_and_aliases_follow_a1111(tmp_path):
    record = CheckpointRecord(tmp_path / "anime" / "anything-v4.5.safetensors", "anime/anything-v4.5.safetensors",
                              sha256="6ce0161689" + "ab" * 27)
    assert record.title == "anime/anything-v4.5.safetensors [6ce0161689]"
    assert record.model_name == "anything-v4.5"
    for alias in (record.title, record.name, "anything-v4.5", "6ce0161689", record.sha256,
                  "anything-v4.5 [6ce0161689]"):
        assert record.matches(alias)
    assert not record.matches("anything")
    assert CheckpointRecord(tmp_path / "a.ckpt", "a.ckpt").title == "a.ckpt"


def test_missing_ckpt_flag_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors does not exist"):
        scan_checkpoints([], [tmp_path / "nope.safetensors"])


def test_hash_is_sha256_of_the_whole_file_and_is_cached(tmp_path, tiny_checkpoint):
    model = tmp_path / "model.safetensors"
    shutil.copy(tiny_checkpoint, model)
    cache = HashCache(tmp_path / "cache.json")
    expected = hashlib.sha256(model.read_bytes()).hexdigest()
    progress = []
    assert cache.sha256(model, "model.safetensors", lambda done, total: progress.append((done, total))) == expected
    assert progress[-1] == (model.stat().st_size, model.stat().st_size)
    stored = json.loads((tmp_path / "cache.json").read_text())["hashes"]["checkpoint/model.safetensors"]
    assert stored["sha256"] == expected and stored["size"] == model.stat().st_size

    # Same size and mtime: the cache answers without reading the file (its changed bytes are not noticed).
    stat = model.stat()
    model.write_bytes(b"\0" * stat.st_size)
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cache.sha256(model, "model.safetensors") == expected

    # A new mtime invalidates the entry.
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert cache.sha256(model, "model.safetensors") == hashlib.sha256(b"\0" * stat.st_size).hexdigest()


def test_an_unreadable_cache_file_is_recomputed_not_fatal(tmp_path, tiny_checkpoint):
    (tmp_path / "cache.json").write_text("{broken")
    cache = HashCache(tmp_path / "cache.json")
    assert cache.sha256(tiny_checkpoint, "t") == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    assert json.loads((tmp_path / "cache.json").read_text())["hashes"]["checkpoint/t"]
