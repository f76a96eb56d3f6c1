"""Pillow-side img2img preparation: resize modes, masks, the only-masked crop, fill and paste-back."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from webui.engine.image_prep import (
    crop_region,
    expand_to_aspect,
    fill_masked,
    paste_back,
    prepare_mask,
    resize_for_img2img,
)


def gradient(width=64, height=48):
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None, None].repeat(width, 1)
    return Image.fromarray(np.concatenate([x, y, np.full_like(x, 90)], axis=2), mode="RGB")


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_every_resize_mode_gives_the_size(mode):
    assert resize_for_img2img(gradient(), mode, 32, 32).size == (32, 32)


def test_crop_and_resize_keeps_the_centre_and_fill_has_no_black_bands():
    source = Image.new("RGB", (100, 50), (255, 0, 0))
    source.paste((0, 0, 255), (40, 0, 60, 50))  # a blue centre stripe
    cropped = resize_for_img2img(source, 1, 50, 50)
    assert cropped.getpixel((25, 25)) == (0, 0, 255)
    assert cropped.getpixel((2, 25))[0] > 200  # red remains at the sides, stretched only by the cover scale
    filled = np.asarray(resize_for_img2img(source, 2, 100, 100))
    assert filled.sum(axis=2).min() > 100  # the bands above and below are filled with the stretched edges
    with pytest.raises(ValueError, match="resize mode 5 is not one of 0–3"):
        resize_for_img2img(source, 5, 10, 10)


def test_masks_binarise_invert_blur_and_use_alpha():
    mask = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(mask).rectangle((8, 8, 23, 23), fill=200)
    sharp = np.asarray(prepare_mask(mask, invert=False, blur=0))
    assert set(np.unique(sharp)) == {0, 255} and sharp[16, 16] == 255
    assert np.asarray(prepare_mask(mask, invert=True, blur=0))[16, 16] == 0
    soft = np.asarray(prepare_mask(mask, invert=False, blur=3))
    assert len(np.unique(soft)) > 2
    drawn = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    ImageDraw.Draw(drawn).rectangle((0, 0, 7, 7), fill=(255, 255, 255, 255))
    from_alpha = np.asarray(prepare_mask(drawn, invert=False, blur=0))
    assert from_alpha[2, 2] == 255 and from_alpha[20, 20] == 0


def test_crop_region_pads_clamps_and_expands_to_the_aspect():
    mask = Image.new("L", (100, 60), 0)
    mask.paste(255, (40, 20, 50, 30))
    assert crop_region(mask, 8) == (32, 12, 58, 38)
    assert crop_region(mask, 50) == (0, 0, 100, 60)
    assert crop_region(Image.new("L", (10, 10), 0), 4) == (0, 0, 10, 10)
    left, top, right, bottom = expand_to_aspect((32, 12, 58, 38), 64, 32, 100, 60)
    assert (right - left) / (bottom - top) == pytest.approx(2.0, rel=0.05)
    assert left >= 0 and top >= 0 and right <= 100 and bottom <= 60


def test_fill_replaces_only_the_masked_area_with_surrounding_colour():
    image = Image.new("RGB", (40, 40), (10, 200, 30))
    image.paste((255, 0, 255), (15, 15, 25, 25))
    mask = Image.new("L", (40, 40), 0)
    mask.paste(255, (15, 15, 25, 25))
    filled = np.asarray(fill_masked(image, mask)).astype(int)
    original = np.asarray(image).astype(int)
    outside = np.asarray(mask) == 0
    assert np.array_equal(filled[outside], original[outside])
    assert np.abs(filled[20, 20] - [10, 200, 30]).max() < 20  # magenta replaced by the surrounding green


def test_paste_back_keeps_unmasked_pixels_bit_identical():
    original = gradient(64, 64)
    generated = Image.new("RGB", (64, 64), (0, 0, 0))
    mask = prepare_mask(Image.new("L", (64, 64), 0), False, 0)
    mask.paste(255, (10, 10, 30, 30))
    mask = prepare_mask(mask, False, 2)
    result = np.asarray(paste_back(original, generated, mask, None))
    untouched = np.asarray(mask) == 0
    assert np.array_equal(result[untouched], np.asarray(original)[untouched])
    assert result[20, 20].max() == 0
    region_result = np.asarray(paste_back(original, Image.new("RGB", (32, 32), (255, 255, 255)), mask,
                                          (0, 0, 40, 40)))
    assert np.array_equal(region_result[untouched], np.asarray(original)[untouched])
    assert region_result[20, 20].min() == 255
