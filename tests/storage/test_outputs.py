"""A1111's output layout and names; atomic writes; infotext in the file."""

from datetime import date

import pytest
from PIL import Image

from webui.config.atomic import write_atomically
from webui.infotext.png import read_infotext
from webui.storage.outputs import ImageSaver, SaveOptions, next_sequence_number


def test_files_are_named_like_a1111_and_numbered_on(tmp_path):
    saver = ImageSaver()
    options = SaveOptions(folder=tmp_path / "txt2img-images")
    day = date(2026, 11, 25)
    first = saver.save(Image.new("RGB", (8, 8)), 1234567890, "a cat\nSteps: 20", options, today=day)
    second = saver.save(Image.new("RGB", (8, 8)), 42, "x", options, today=day)
    assert first == tmp_path / "txt2img-images" / "2026-11-25" / "00000-1234567890.png"
    assert second.name == "00001-42.png"
    assert read_infotext(first) == "a cat\nSteps: 20"
    assert sorted(path.name for path in first.parent.iterdir()) == ["00000-1234567890.png", "00001-42.png"]


def test_numbering_continues_after_existing_files_and_ignores_others(tmp_path):
    (tmp_path / "00007-1.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"")
    assert next_sequence_number(tmp_path) == 8
    assert next_sequence_number(tmp_path / "missing") == 0


def test_without_dirs_and_without_pnginfo(tmp_path):
    path = ImageSaver().save(Image.new("RGB", (8, 8)), 5, "secret",
                             SaveOptions(folder=tmp_path, save_to_dirs=False, embed_infotext=False))
    assert path == tmp_path / "00000-5.png" and read_infotext(path) is None


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "config.json"
    target.write_text("old")

    def write_half_then_fail(stream):
        stream.write(b"half a fi")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, write_half_then_fail)
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["config.json"]


def test_unsupported_format_is_named():
    with pytest.raises(ValueError, match="image format 'webp' is not supported yet; allowed: png"):
        SaveOptions(folder=".", image_format="webp")  # type: ignore[arg-type]
