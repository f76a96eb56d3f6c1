"""The weight-free maps on synthetic images: size, polarity and content as the extension computes them; the
weight-needing modules' errors; Pixel Perfect and the resize modes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from webui.engine.controlnet.preprocessors import (
    AnnotatorWeightsMissing,
    PreprocessorUnsupported,
    default_registry,
    pixel_perfect_resolution,
    resize_for_target,
    resize_mode_from_value,
)
from webui.engine.controlnet.preprocessors.image_ops import hwc3
from webui.engine.controlnet.preprocessors.registry import PreprocessorRegistry
from webui.errors import FieldError


@pytest.fixture(scope="module")
def registry() -> PreprocessorRegistry:
    return default_registry([])


def white_square(size: int = 64, lo: int = 16, hi: int = 48) -> np.ndarray:
    image = np.zeros((size, size, 3), np.uint8)
    image[lo:hi, lo:hi] = 255
    return image


def run(registry, name, image, resolution=64, a=None, b=None, **kw):
    return registry.run(name, image, resolution, a, b, **kw)


# -- sizes ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["canny", "threshold", "scribble_xdog", "lineart_standard", "blur_gaussian",
                                  "shuffle", "t2ia_color_grid"])
def test_resized_modules_put_the_short_side_at_the_resolution(registry, name):
    result = run(registry, name, np.full((48, 64, 3), 128, np.uint8), resolution=32)
    assert result.shape == (32, 43, 3) and result.dtype == np.uint8  # 64 * 32 / 48 = 42.67 -> 43


@pytest.mark.parametrize("name", ["none", "invert", "inpaint_only", "inpaint_global_harmonious", "reference_only",
                                  "reference_adain", "tile_colorfix", "tile_colorfix+sharp", "recolor_luminance",
                                  "recolor_intensity"])
def test_same_size_modules_keep_the_input_size(registry, name):
    assert run(registry, name, np.full((48, 64, 3), 128, np.uint8), resolution=32).shape == (48, 64, 3)


def test_identity_modules_return_the_image_and_accept_gray_and_rgba(registry):
    image = white_square()
    for name in ("none", "inpaint_only", "reference_only", "tile_colorfix"):
        assert np.array_equal(run(registry, name, image), image)
    assert run(registry, "none", image[:, :, 0]).shape == (64, 64, 3)
    rgba = np.zeros((8, 8, 4), np.uint8)  # fully transparent black -> white, as the extension's HWC3
    assert np.all(run(registry, "none", rgba) == 255)
    with pytest.raises(FieldError, match="image"):
        run(registry, "none", image.astype(np.float32))
    with pytest.raises(FieldError, match="image"):
        run(registry, "canny", np.zeros((0, 8, 3), np.uint8))
    with pytest.raises(FieldError, match="processor_res") as caught:
        run(registry, "canny", image, resolution=100_000)
    assert caught.value.http_status == 422


# -- content -------------------------------------------------------------------------------------------------------

def test_canny_finds_the_squares_edges_and_nothing_else(registry):
    edges = run(registry, "canny", white_square())[:, :, 0]
    assert set(np.unique(edges)) == {0, 255}
    ys, xs = np.nonzero(edges)
    near_border = np.minimum(np.minimum(np.abs(ys - 16), np.abs(ys - 47)), np.minimum(np.abs(xs - 16),
                                                                                      np.abs(xs - 47)))
    assert near_border.max() <= 1  # only on the square's outline
    assert {16, 47} <= set(ys.tolist()) | set((ys + 1).tolist()) | set((ys - 1).tolist())
    assert edges[20:44, 20:44].max() == 0 and edges[:8, :8].max() == 0
    assert np.array_equal(run(registry, "canny", white_square())[:, :, 1], edges)  # gray RGB


def test_canny_thresholds_come_from_the_sliders(registry):
    faint = np.zeros((64, 64, 3), np.uint8)
    faint[16:48, 16:48] = 20  # Sobel response 80: found with thresholds 10/20, not with the defaults 100/200
    assert run(registry, "canny", faint).max() == 0
    assert run(registry, "canny", faint, a=10, b=20).max() == 255


def test_invert_inverts(registry):
    image = white_square()
    image[0, 0] = (10, 20, 30)
    assert np.array_equal(run(registry, "invert", image), 255 - image)


def test_threshold_binarises_at_the_slider_on_the_darkest_channel(registry):
    ramp = np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (64, 1, 3))  # 0..252 left to right
    result = run(registry, "threshold", ramp, a=100)[:, :, 0]
    assert np.array_equal(result[0] == 255, ramp[0, :, 0] > 100)
    ramp[:, :, 2] = 0  # one dark channel keeps a pixel black
    assert run(registry, "threshold", ramp, a=100).max() == 0


def test_blur_is_a_gaussian_of_the_sliders_sigma(registry):
    image = white_square()
    soft, softer = run(registry, "blur_gaussian", image, a=2), run(registry, "blur_gaussian", image, a=6)
    assert np.array_equal(soft, cv2.GaussianBlur(image, (0, 0), 2.0))
    gradient = lambda m: np.abs(np.diff(m[:, :, 0].astype(int), axis=1)).max()  # noqa: E731
    assert gradient(image) > gradient(soft) > gradient(softer)
    assert abs(float(soft.mean()) - float(image.mean())) < 1.0


def test_scribble_xdog_draws_white_lines_at_the_edges_only(registry):
    result = run(registry, "scribble_xdog", white_square())[:, :, 0]
    assert set(np.unique(result)) == {0, 255}
    assert result[:6, :6].max() == 0 and result[28:36, 28:36].max() == 0
    assert result[10:54, 10:54].max() == 255
    assert run(registry, "scribble_xdog", white_square(), a=64)[:, :, 0].sum() < result.sum()  # higher threshold, fewer


def test_lineart_standard_turns_a_black_line_on_white_into_a_white_line_on_black(registry):
    image = np.full((64, 64, 3), 255, np.uint8)
    image[:, 30:33] = 0
    result = run(registry, "lineart_standard", image)[:, :, 0]
    assert result[:, 30:33].min() > 100 and result[:, :20].max() == 0 and result[:, 44:].max() == 0


def test_tile_resample_downsamples_by_the_rate(registry):
    image = np.full((48, 64, 3), 200, np.uint8)
    assert run(registry, "tile_resample", image, a=2.0).shape == (24, 32, 3)
    assert run(registry, "tile_resample", image, a=3.0).shape == (16, 21, 3)
    assert run(registry, "tile_resample", image, a=1.05).shape == (48, 64, 3)  # below 1.1: unchanged


def test_shuffle_is_deterministic_per_seed_and_a_warp_of_the_image(registry):
    image = np.zeros((64, 64, 3), np.uint8)
    image[:32, :32], image[:32, 32:], image[32:, :32], image[32:, 32:] = (255, 0, 0), (0, 255, 0), (0, 0, 255), \
        (255, 255, 0)
    first, again, other = (run(registry, "shuffle", image, seed=s) for s in (7, 7, 8))
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    colors = {tuple(c) for c in image.reshape(-1, 3)}
    exact = np.mean([tuple(p) in colors for p in first.reshape(-1, 3)])
    assert exact > 0.9  # pixels are moved, not invented (only seams blend)
    assert not np.array_equal(first, image)


def test_recolor_is_gray_lightness_with_gamma(registry):
    gray = np.full((8, 8, 3), 128, np.uint8)
    plain = run(registry, "recolor_luminance", gray)
    # sRGB gray 128 has CIE L* 53.6, which OpenCV's 8-bit Lab stores as 53.6 * 255 / 100 = 137
    assert np.array_equal(plain[:, :, 0], plain[:, :, 2]) and plain[0, 0, 0] == 137
    assert run(registry, "recolor_luminance", gray, a=2.0)[0, 0, 0] < plain[0, 0, 0]
    assert run(registry, "recolor_intensity", np.full((8, 8, 3), (200, 10, 10), np.uint8))[0, 0, 0] == 200


def test_color_grid_is_flat_cells_of_64_pixels(registry):
    image = np.zeros((128, 128, 3), np.uint8)
    image[:, 64:] = 255
    result = run(registry, "t2ia_color_grid", image, resolution=128)
    assert result.shape == (128, 128, 3)
    assert len(np.unique(result[:64, :64].reshape(-1, 3), axis=0)) == 1  # one cell, one color


# -- weights and unsupported modules -------------------------------------------------------------------------------

def test_weight_module_without_weights_names_the_file_and_folders(tmp_path):
    folders = [tmp_path / "models" / "ControlNet" / "annotator",
               tmp_path / "extensions" / "sd-webui-controlnet" / "annotator" / "downloads"]
    registry = default_registry(folders)
    assert not registry.available("softedge_hed") and registry.get("softedge_hed").needs_weights
    with pytest.raises(AnnotatorWeightsMissing) as caught:
        run(registry, "softedge_hed", white_square())
    message = str(caught.value)
    assert caught.value.http_status == 409 and "ControlNetHED.pth" in message and "softedge_hed" in message
    assert f"{folders[0] / 'hed'}/" in message and f"{folders[1] / 'hed'}/" in message
    with pytest.raises(AnnotatorWeightsMissing, match="body_pose_model.pth, hand_pose_model.pth, facenet.pth"):
        run(registry, "openpose_full", white_square())


def test_weights_are_found_in_the_extensions_layout_or_flat(tmp_path):
    downloads = tmp_path / "downloads"
    (downloads / "hed").mkdir(parents=True)
    (downloads / "hed" / "ControlNetHED.pth").write_bytes(b"x")
    flat = tmp_path / "annotator"
    flat.mkdir()
    (flat / "table5_pidinet.pth").write_bytes(b"x")
    registry = default_registry([flat, downloads])
    assert registry.available("softedge_hed") and registry.available("hed") and registry.available("pidinet")
    assert not registry.available("depth_midas") and registry.available("canny")


def test_embedding_and_mediapipe_modules_are_listed_but_refused_clearly(registry):
    with pytest.raises(PreprocessorUnsupported, match="embedding") as caught:
        run(registry, "ip-adapter-auto", white_square())
    assert caught.value.http_status == 422 and "canny" in str(caught.value)
    with pytest.raises(PreprocessorUnsupported, match="mediapipe"):
        run(registry, "mediapipe_face", white_square())


# -- Pixel Perfect and resize modes --------------------------------------------------------------------------------

@pytest.mark.parametrize(("image_hw", "target_hw", "mode", "expected"), [
    # kH = 512/512 = 1, kW = 512/768 = 0.667; fill uses min, the others max, times the short side 512
    ((512, 768), (512, 512), "Just Resize", 512), ((512, 768), (512, 512), "Crop and Resize", 512),
    ((512, 768), (512, 512), "Resize and Fill", 341),
    # kH = 512/300 = 1.707, kW = 768/400 = 1.92; short side 300
    ((300, 400), (512, 768), "Crop and Resize", 576), ((300, 400), (512, 768), "Resize and Fill", 512),
    ((300, 400), (512, 768), 0, 576), ((300, 400), (512, 768), 2, 512),
    ((300, 400), (512, 768), "Outer Fit (Shrink to Fit)", 512),
])
def test_pixel_perfect_follows_the_extensions_formula(image_hw, target_hw, mode, expected):
    assert pixel_perfect_resolution(image_hw, target_hw, mode) == expected


def test_resize_mode_values_as_the_extension_reads_them():
    assert [resize_mode_from_value(v) for v in (0, 1, 2, 3)] == ["Just Resize", "Crop and Resize",
                                                                 "Resize and Fill", "Just Resize"]
    assert resize_mode_from_value("Inner Fit (Scale to Fit)") == "Crop and Resize"
    with pytest.raises(FieldError, match="resize_mode"):
        resize_mode_from_value("Stretch")


def halves(height: int, width: int) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, width // 2:] = 200
    image[:, : width // 4] = 100
    return image


def test_crop_and_resize_covers_then_crops_the_center():
    result = resize_for_target(halves(32, 128), (64, 64), "Crop and Resize")  # scaled x2 to 64x256, center 64
    assert result.shape == (64, 64, 3)
    assert set(np.unique(result[:, :, 0])) <= {0, 200}
    assert np.all(result[:, 0, 0] == 0) and np.all(result[:, -1, 0] == 200)


def test_resize_and_fill_fits_and_pads_with_the_border_median():
    image = np.full((32, 64, 3), 90, np.uint8)
    image[8:24, 16:48] = 250
    result = resize_for_target(image, (64, 64), "Resize and Fill")
    assert result.shape == (64, 64, 3)
    assert np.all(result[:16] == 90) and np.all(result[48:] == 90)
    assert np.all(result[16 + 16:16 + 16 + 2, 32:34] == 250)


def test_just_resize_stretches_and_keeps_one_pixel_edges_thin(registry):
    edges = run(registry, "canny", white_square(32, 8, 24), resolution=32)
    assert resize_for_target(edges, (40, 96), "Just Resize").shape == (40, 96, 3)
    bigger = resize_for_target(edges, (64, 64), "Just Resize")[:, :, 0]
    assert set(np.unique(bigger)) <= {0, 255}  # binary stays binary
    assert bigger[32, :].sum() // 255 <= 6  # a row crosses the outline in thin lines, not 2x-wide bands


def test_rgba_inpaint_maps_keep_a_binary_mask():
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:, :, :3] = 120
    rgba[8:24, 8:24, 3] = 255
    result = resize_for_target(rgba, (64, 64), "Resize and Fill")
    assert result.shape == (64, 64, 4) and set(np.unique(result[:, :, 3])) == {0, 255}
    assert hwc3(result).shape == (64, 64, 3)


def test_a_network_not_implemented_here_says_so_once_its_weights_are_in_place(tmp_path):
    (tmp_path / "midas").mkdir()
    (tmp_path / "midas" / "dpt_hybrid-midas-501f0c75.pt").write_bytes(b"x")
    registry = default_registry([tmp_path])
    with pytest.raises(PreprocessorUnsupported, match="not implemented"):
        run(registry, "depth_midas", white_square())
    with pytest.raises(PreprocessorUnsupported, match="embedding"):  # never asks for weights it cannot use
        run(registry, "ip-adapter_clip_h", white_square())


@pytest.mark.parametrize(("mode", "map_hw"), [("Crop and Resize", (96, 128)), ("Resize and Fill", (72, 96)),
                                              ("Just Resize", (96, 128))])
def test_pixel_perfect_then_fitting_gives_the_generation_size(registry, mode, map_hw):
    """The lead's path: Pixel Perfect picks the resolution, the module makes the map, the map is fitted."""
    image = np.zeros((60, 80, 3), np.uint8)
    image[15:45, 20:60] = 255
    target = (72, 128)  # kH = 1.2, kW = 1.6; short side 60
    resolution = pixel_perfect_resolution(image.shape[:2], target, mode)
    assert resolution == {"Resize and Fill": 72}.get(mode, 96)
    detected = registry.run("canny", image, resolution, None, None)
    assert detected.shape[:2] == map_hw
    assert resize_for_target(detected, target, mode).shape == (72, 128, 3)
