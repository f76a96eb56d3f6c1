"""Pure parts of upscaling: the tile grid and its blend ramps, the tile-size policy, the Extras request (sizes,
A1111's infotext keys and order) — no torch."""

import pytest

from webui.engine.extras_request import ExtrasRequest, limit_to_side, plan_upscale, upscaled_size
from webui.engine.tiling import axis_spans, plan_tiles, ramp_weights
from webui.infotext.format import parameters_line
from webui.model_manager.memory_policy import MemoryPolicyError, upscale_tile_size


def test_tiles_cover_the_image_with_even_overlaps():
    spans = axis_spans(1024, 192, 8)
    assert spans[0].start == 0 and spans[-1].end == 1024
    assert all(span.length == 192 for span in spans)
    for before, after in zip(spans, spans[1:], strict=False):
        assert before.end - after.start == before.overlap_after == after.overlap_before
        assert before.overlap_after >= 7  # at least the overlap (give or take the rounding of even spreading)
    assert len(spans) == 6
    plan = plan_tiles(1024, 600, 192, 8)
    assert plan.count == 6 * 4 and plan.tiles[0].x.start == 0 and plan.tiles[-1].y.end == 600


@pytest.mark.parametrize("tile", [0, 512, 2000])
def test_no_tiling_when_off_or_the_image_fits(tile):
    plan = plan_tiles(300, 200, tile, 8)
    assert plan.count == 1 and (plan.tiles[0].x.length, plan.tiles[0].y.length) == (300, 200)


def test_bad_tile_settings_are_refused():
    with pytest.raises(ValueError, match="tile size 8 is too small"):
        plan_tiles(100, 100, 8, 2)
    with pytest.raises(ValueError, match="overlap -1"):
        plan_tiles(100, 100, 32, -1)


def test_ramps_blend_overlaps_and_never_reach_zero():
    first, second = axis_spans(60, 40, 20)
    assert (first.overlap_after, second.overlap_before) == (20, 20)
    left, right = ramp_weights(first, 2), ramp_weights(second, 2)
    assert len(left) == 80 and left[:40] == [1.0] * 40 and left[-1] < 0.05 and min(left) > 0
    assert right[0] < 0.05 and right[-1] == 1.0
    shared = [a + b for a, b in zip(left[40:], right[:40], strict=True)]
    assert max(shared) - min(shared) < 0.1  # the two ramps cross-fade


def test_tile_size_policy():
    assert upscale_tile_size(192, None, 4, 64) == 192     # CPU: the setting as is
    assert upscale_tile_size(0, None, 4, 64) == 0
    assert upscale_tile_size(192, 3500, 4, 64) == 192     # a 4 GB card fits A1111's default tile
    small = upscale_tile_size(192, 300, 4, 64, dtype_bytes=2)
    assert 32 <= small < 192 and small % 8 == 0           # little free memory: smaller tiles
    assert upscale_tile_size(192, 300, 2, 64, dtype_bytes=2) > small  # a 2x model needs less per tile
    assert upscale_tile_size(0, 300, 4, 64, dtype_bytes=2) == small  # "no tiling" still has to fit a card
    assert upscale_tile_size(192, 10, 4, 64) == 32        # never below the minimum
    with pytest.raises(MemoryPolicyError, match="ESRGAN_tile -1"):
        upscale_tile_size(-1, None, 4, 64)


def test_scale_by_size_and_infotext():
    plan = plan_upscale(ExtrasRequest(upscaling_resize=2, upscaler_1="R-ESRGAN 4x+ Anime6B"), 100, 75)
    assert plan.size == (200, 144) and plan.crop_to is None  # A1111 rounds an upscaler's output down to 8
    assert parameters_line(plan.info) == "Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+ Anime6B"


def test_scale_by_with_max_side_length_and_second_upscaler():
    request = ExtrasRequest(upscaling_resize=4, max_side_length=256, upscaler_1="Lanczos", upscaler_2="Nearest",
                            upscaler_2_visibility=0.5)
    plan = plan_upscale(request, 100, 50)
    assert plan.size == (256, 128)
    assert parameters_line(plan.info) == ("Postprocess upscale by: 4, Max side length: 256, "
                                          "Postprocess upscaler: Lanczos, Postprocess upscaler 2: Nearest")
    assert limit_to_side(400, 800, 256) == (128, 256)


def test_scale_to_with_and_without_crop():
    request = ExtrasRequest(resize_mode=1, upscaling_resize_w=512, upscaling_resize_h=512, upscaler_1="Lanczos")
    plan = plan_upscale(request, 100, 60)
    assert plan.size == upscaled_size(100, 60, 512 / 60) == (848, 512) and plan.crop_to == (512, 512)
    assert parameters_line(plan.info) == ("Postprocess upscale to: 512x512, Postprocess crop to: 512x512, "
                                          "Postprocess upscaler: Lanczos")
    uncropped = plan_upscale(ExtrasRequest(resize_mode=1, upscaling_crop=False, upscaler_1="Lanczos"), 100, 60)
    assert uncropped.crop_to is None and "crop" not in parameters_line(uncropped.info)


@pytest.mark.parametrize(("fields", "message"), [
    ({"resize_mode": 2}, "resize_mode 2 is not one of: 0 (Scale by), 1 (Scale to)"),
    ({"upscaling_resize": 9}, "upscaling_resize 9 is out of range; allowed: 1.0–8.0"),
    ({"upscaler_2_visibility": 1.5}, "extras_upscaler_2_visibility 1.5 is out of range"),
    ({"upscaler_1": ""}, "upscaler_1 must name an upscaler"),
])
def test_bad_extras_requests_name_the_value(fields, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ExtrasRequest(**fields)
