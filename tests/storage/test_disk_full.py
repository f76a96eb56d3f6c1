"""A full disk is `DiskFull` naming the folder, leaves no temporary or half-written file, and saving works again
once space returns: with an injected ENOSPC (always) and on a real tiny tmpfs (where mounting is allowed)."""

import errno
import os
import subprocess
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from webui.config.atomic import write_atomically
from webui.errors import DiskFull
from webui.infotext.png import png_bytes_with_infotext
from webui.model_manager.hashing import HashCache
from webui.storage.extras_files import ExtrasSaver
from webui.storage.outputs import ImageSaver, SaveOptions
from webui.storage.saved_log import save_to_log

DAY = date(2026, 12, 1)


def noise_png(size: int = 128) -> bytes:
    return png_bytes_with_infotext(Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)), "x")


def files_under(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.rglob("*") if path.is_file())


@pytest.fixture
def tiny_disk(tmp_path):
    mount_point = tmp_path / "tiny-disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here to fill: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, leave: int = 4 * 1024) -> Path:
    filler = disk / "filler"
    stats = os.statvfs(disk)
    filler.write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


def test_an_enospc_mid_write_is_disk_full_and_the_old_file_stays(tmp_path):
    target = tmp_path / "config.json"
    target.write_text("old")

    def half_then_full(stream):
        stream.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFull) as full:
        write_atomically(target, half_then_full)
    assert full.value.path == str(tmp_path) and full.value.http_status == 507
    assert "No space left on device" in str(full.value) and isinstance(full.value, OSError)
    assert files_under(tmp_path) == ["config.json"] and target.read_text() == "old"


def test_other_os_errors_stay_what_they_are(tmp_path):
    def denied(stream):
        raise PermissionError(errno.EACCES, "Permission denied")

    with pytest.raises(PermissionError) as error:
        write_atomically(tmp_path / "x.png", denied)
    assert not isinstance(error.value, DiskFull) and files_under(tmp_path) == []


def test_image_grid_and_extras_saves_on_a_full_disk(tiny_disk):
    filler = fill(tiny_disk)
    options = SaveOptions(tiny_disk / "outputs" / "txt2img-images")
    saver, payload = ImageSaver(), noise_png()
    with pytest.raises(DiskFull) as image:
        saver.save_encoded(payload, 7, options, DAY)
    assert image.value.path.startswith(str(options.folder))
    with pytest.raises(DiskFull):
        saver.save_grid(payload, options, DAY)
    with pytest.raises(DiskFull) as extras:
        ExtrasSaver().save(payload, tiny_disk / "outputs" / "extras-images")
    assert extras.value.path == str(tiny_disk / "outputs" / "extras-images")
    assert files_under(tiny_disk / "outputs") == []  # no half-written PNG, no temporary file

    filler.unlink()  # space returns: the same savers work, numbering as if nothing had happened
    assert saver.save_encoded(payload, 7, options, DAY).name == "00000-7.png"
    assert saver.save_grid(payload, options, DAY).name == "grid-0000.png"


def test_saving_to_the_log_on_a_full_disk_leaves_neither_image_nor_row(tiny_disk, tmp_path):
    image = tmp_path / "00001-12.png"
    image.write_bytes(noise_png())
    log_folder = tiny_disk / "log"
    filler = fill(tiny_disk)
    with pytest.raises(DiskFull) as full:
        save_to_log(image, "a cat\nSteps: 4, Seed: 12, Size: 64x64", log_folder)
    assert full.value.path.startswith(str(log_folder))
    assert files_under(tiny_disk) == ["filler"]
    filler.unlink()
    assert save_to_log(image, "a cat\nSteps: 4, Seed: 12, Size: 64x64", log_folder).read_bytes() == image.read_bytes()


def test_a_hash_is_still_known_when_the_hash_cache_cannot_be_saved(tiny_disk, tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"weights" * 1000)
    cache = HashCache(tiny_disk / "cache.json")
    filler = fill(tiny_disk, leave=0)
    digest = cache.sha256(model, "model.safetensors")  # the load that asked for it goes on
    assert cache.cached(model, "model.safetensors") == digest and not (tiny_disk / "cache.json").exists()
    filler.unlink()
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"more")
    cache.sha256(other, "other.safetensors")  # the next write saves both
    assert digest in (tiny_disk / "cache.json").read_text()
