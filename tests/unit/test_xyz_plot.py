"""X/Y/Z plot: A1111's value syntax, one request per cell, labels, and the labelled grid."""

import random

import pytest
from PIL import Image

from webui.engine.request import GenerationRequest, HiresFix
from webui.engine.xyz_plot import AXES, cell_requests, parse_values, plot_axes
from webui.storage.plot_grid import labelled_grid, side_by_side


@pytest.mark.parametrize(("axis", "text", "values"), [
    ("Steps", "10-14", [10, 11, 12, 13, 14]),
    ("Steps", "10-20 (+5)", [10, 15, 20]),
    ("Steps", "10-20 [3]", [10, 15, 20]),
    ("CFG Scale", "5, 7.5,9", [5.0, 7.5, 9.0]),
    ("CFG Scale", "4-8 [3]", [4.0, 6.0, 8.0]),
    ("Seed", "1, 5-7", [1, 5, 6, 7]),
    ("Sampler", 'Euler a, "DPM++ 2M"', ["Euler a", "DPM++ 2M"]),
    ("Prompt S/R", 'cat, "dog, big", fox', ["cat", "dog, big", "fox"]),
])
def test_a1111_value_syntax(axis, text, values):
    assert parse_values(AXES[axis], text) == values


@pytest.mark.parametrize(("axis", "text", "message"), [
    ("Steps", "ten", "Steps: 'ten' is not a valid value"),
    ("Steps", "10-5 (+2)", "never reaches"),
    ("CFG Scale", "", "CFG Scale: no values given"),
])
def test_bad_values_are_named(axis, text, message):
    with pytest.raises(ValueError, match=message):
        parse_values(AXES[axis], text)


def test_cells_vary_one_axis_each_and_share_a_drawn_seed():
    base = GenerationRequest(prompt="a cat on a mat", steps=4, width=64, height=64, seed=-1)
    axes = plot_axes([("Prompt S/R", "cat, dog"), ("Steps", "3, 6"), ("Nothing", "")])
    cells = cell_requests(base, axes, random.Random(3))
    assert [(cell.x, cell.y) for cell in cells] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert [cell.request.prompt for cell in cells] == ["a cat on a mat", "a dog on a mat"] * 2
    assert [cell.request.steps for cell in cells] == [3, 3, 6, 6]
    assert len({cell.request.seed for cell in cells}) == 1 and cells[0].request.seed != -1
    assert axes[0].labels == ["cat", "dog"] and axes[1].labels == ["Steps: 3", "Steps: 6"]


def test_invalid_cells_fail_before_any_job():
    base = GenerationRequest(prompt="x", width=64, height=64)
    with pytest.raises(ValueError, match="steps 500 is out of range"):
        cell_requests(base, plot_axes([("Steps", "5, 500"), ("Nothing", ""), ("Nothing", "")]), random.Random())
    with pytest.raises(ValueError, match="Prompt S/R: 'zebra' is not in the prompt"):
        cell_requests(base, plot_axes([("Prompt S/R", "zebra, cat"), ("Nothing", ""), ("Nothing", "")]),
                      random.Random())
    with pytest.raises(ValueError, match="unknown X/Y/Z axis 'Colour'"):
        plot_axes([("Colour", "red")])
    hires = GenerationRequest(prompt="x", width=64, height=64, hires=HiresFix())
    cells = cell_requests(hires, plot_axes([("Denoising", "0.3, 0.6"), ("Size", "64x64, 96x64"),
                                            ("Clip skip", "1-2")]), random.Random())
    assert len(cells) == 8 and cells[-1].request.width == 96 and cells[-1].request.clip_skip == 2
    assert cells[1].request.hires.denoising_strength == 0.6


def test_labelled_grid_has_margins_for_labels_and_images_in_place():
    red, blue = Image.new("RGB", (64, 64), (255, 0, 0)), Image.new("RGB", (64, 64), (0, 0, 255))
    grid = labelled_grid([[red, blue]], ["Steps: 3", "Steps: 6"], [""])
    assert grid.width == 128 and grid.height > 64
    top = grid.height - 64
    assert grid.getpixel((10, top + 10)) == (255, 0, 0) and grid.getpixel((74, top + 10)) == (0, 0, 255)
    assert grid.getpixel((64, 2)) == (255, 255, 255)
    labelled = labelled_grid([[red], [blue]], [""], ["CFG Scale: 5", "CFG Scale: 9"])
    assert labelled.width > 64 and labelled.height == 128
    assert side_by_side([grid, grid]).width == 2 * grid.width + 16
