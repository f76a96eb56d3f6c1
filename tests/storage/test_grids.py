"""A1111's batch grids: shape, layout and file names."""

from datetime import date

import pytest
from PIL import Image

from webui.infotext.png import read_infotext
from webui.storage.outputs import ImageSaver, SaveOptions, encode_png, grid_rows, image_grid


@pytest.mark.parametrize(("count", "setting", "batch", "rows"), [
    (4, -1, 1, 2), (2, -1, 1, 1), (3, -1, 1, 2), (9, -1, 1, 3), (6, 0, 3, 3), (4, 3, 1, 3), (2, 5, 1, 2)])
def test_rows_follow_a1111(count, setting, batch, rows):
    assert grid_rows(count, setting, batch) == rows


def test_grid_places_images_left_to_right_then_down():
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    grid = image_grid([Image.new("RGB", (8, 4), colour) for colour in colours], rows=2)
    assert grid.size == (16, 8)
    assert grid.getpixel((1, 1)) == colours[0] and grid.getpixel((9, 1)) == colours[1]
    assert grid.getpixel((1, 5)) == colours[2] and grid.getpixel((9, 5)) == (0, 0, 0)


def test_grid_files_are_numbered_grid_nnnn(tmp_path):
    saver = ImageSaver()
    options = SaveOptions(folder=tmp_path / "txt2img-grids")
    png = encode_png(Image.new("RGB", (8, 8)), "a cat\nSteps: 1, Seed: 5, Size: 8x8", options)
    first = saver.save_grid(png, options, today=date(2026, 1, 2))
    second = saver.save_grid(png, options, today=date(2026, 1, 2))
    assert first.relative_to(tmp_path).as_posix() == "txt2img-grids/2026-01-02/grid-0000.png"
    assert second.name == "grid-0001.png" and read_infotext(second).startswith("a cat")
