"""Leftovers of saves interrupted by a hard kill are removed at start; nothing else is."""

import os
import signal
import subprocess
import sys
import tempfile

from webui.storage.stale_files import remove_stale_temp_files


def leftover(folder, target_name):
    """A temporary file exactly as `write_atomically` names it (tempfile.mkstemp with our prefix and suffix)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target_name}.", suffix=".tmp", dir=folder)
    os.write(handle, b"half a png")
    os.close(handle)
    return folder / os.path.basename(name)


def test_only_interrupted_saves_are_removed_recursively(tmp_path):
    outputs = tmp_path / "outputs"
    stale = [leftover(outputs / "txt2img-images" / "2026-12-01", "00012-123.png"),
             leftover(outputs / "txt2img-grids" / "2026-12-01", "grid-0003.png"),
             leftover(outputs / "extras-images", "00001.png")]
    kept = [outputs / "txt2img-images" / "2026-12-01" / "00011-122.png", outputs / "notes.tmp",
            outputs / ".draft.tmp", outputs / ".00001-1.png.SHORT.tmp", outputs / "00001-1.png.abcdefgh.tmp",
            outputs / ".00001-1.png.ABCDEFGH.tmp"]
    for path in kept:
        path.write_bytes(b"mine")
    outside = leftover(tmp_path / "elsewhere", "00001-1.png")
    link = outputs / ".00002-2.png.abcdefgh.tmp"
    link.symlink_to(outside)  # the right shape, but a link: neither it nor its target is touched
    removed = remove_stale_temp_files([outputs, tmp_path / "missing"])
    assert sorted(removed) == sorted(stale)
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in kept) and outside.exists() and link.is_symlink()
    assert remove_stale_temp_files([outputs]) == []


def test_a_save_killed_mid_write_leaves_a_file_that_is_then_removed(tmp_path):
    folder = tmp_path / "outputs" / "txt2img-images"
    script = ("import sys, time\nfrom pathlib import Path\nfrom webui.config.atomic import write_atomically\n"
              "def slow(stream):\n    stream.write(b'x' * 1000); stream.flush(); print('writing', flush=True)\n"
              "    time.sleep(60)\n"
              f"write_atomically(Path({str(folder / '00000-1.png')!r}), slow)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    left = [path for path in folder.iterdir()]
    assert len(left) == 1 and left[0].name.startswith(".00000-1.png.") and left[0].suffix == ".tmp"
    assert remove_stale_temp_files([tmp_path / "outputs"]) == left and list(folder.iterdir()) == []
