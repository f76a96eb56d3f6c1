"""img2img/inpaint image preparation on small synthetic pictures: resize modes, masks, the only-masked crop,
fill, and the paste-back that must leave unmasked pixels bit-identical."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from webui.engine.img2img_images import (
    INPAINT_AREAS,
    MASK_MODES,
    crop_region,
    expand_to_aspect,
    fill_masked,
    overlay_mask,
    paste_back,
    prepare_mask,
    resize_for_img2img,
)
from webui.engine.request import INPAINT_FILL_MODES, RESIZE_MODES

RED, BLUE = (255, 0, 0), (0, 0, 255)


def gradient(width=64, height=48):
    """Red grows left to right, green top to bottom, blue constant: every pixel's colour says where it came from."""
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, 90)], axis=2).astype(np.uint8))


def noise(width=64, height=48, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def rectangle_mask(box, size=(64, 48)):
    """An "L" mask, 255 inside `box` (x1, y1, x2, y2, exclusive ends) and 0 elsewhere."""
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=255)
    return mask


def pixels(image):
    return np.asarray(image).astype(int)


def test_the_option_lists_use_a1111_names_in_a1111_order():
    assert RESIZE_MODES.index("Just resize") == 0
    assert RESIZE_MODES.index("Crop and resize") == 1
    assert RESIZE_MODES.index("Resize and fill") == 2
    assert RESIZE_MODES.index("Just resize (latent upscale)") == 3
    assert INPAINT_FILL_MODES == ("fill", "original", "latent noise", "latent nothing")
    assert INPAINT_AREAS == ("Whole picture", "Only masked")
    assert MASK_MODES == ("Inpaint masked", "Inpaint not masked")


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
@pytest.mark.parametrize("size", [(32, 32), (96, 40), (40, 96), (64, 48)])
def test_every_resize_mode_gives_exactly_the_requested_size(mode, size):
    assert resize_for_img2img(gradient(), mode, *size).size == size


def test_just_resize_stretches_and_the_latent_variant_matches_it_in_pixels():
    stretched = resize_for_img2img(gradient(), 0, 32, 64)
    assert pixels(stretched)[0, 0, 0] < 20 and pixels(stretched)[0, -1, 0] > 235  # the whole width survives
    assert pixels(stretched)[0, 0, 1] < 20 and pixels(stretched)[-1, 0, 1] > 235  # and the whole height
    assert np.array_equal(pixels(resize_for_img2img(gradient(), 3, 32, 64)), pixels(stretched))


def test_crop_and_resize_keeps_the_centre_and_cuts_the_sides():
    source = Image.new("RGB", (100, 50), RED)
    source.paste(BLUE, (40, 0, 60, 50))  # a blue stripe in the middle
    cropped = pixels(resize_for_img2img(source, 1, 50, 50))  # no scaling needed: columns 25..74 are kept
    assert tuple(cropped[25, 25]) == BLUE
    assert tuple(cropped[25, 17]) == BLUE and tuple(cropped[25, 32]) == BLUE  # stripe at 15..34
    assert tuple(cropped[25, 12]) == RED and tuple(cropped[25, 38]) == RED
    assert tuple(cropped[25, 0]) == RED and tuple(cropped[25, 49]) == RED


def test_crop_and_resize_scales_to_cover_before_cropping():
    tall = pixels(resize_for_img2img(gradient(64, 48), 1, 32, 64))  # scaled to 85x64, 26 columns cut each side
    assert tall[:, :, 0].min() > 50 and tall[:, :, 0].max() < 205  # red extremes (the left/right edges) are gone
    assert tall[0, :, 1].max() < 20 and tall[-1, :, 1].min() > 235  # the full height (green range) is kept


def test_resize_and_fill_pads_with_the_stretched_edge_rows_not_black():
    source = gradient(100, 50)
    filled = pixels(resize_for_img2img(source, 2, 100, 100))  # fits at rows 25..74, bands above and below
    assert np.array_equal(filled[25:75], pixels(source))  # the picture itself, unscaled and centred
    assert all(np.array_equal(filled[row], filled[25]) for row in range(25))  # top band = top row repeated
    assert all(np.array_equal(filled[row], filled[74]) for row in range(75, 100))  # bottom band = bottom row
    assert filled.sum(axis=2).min() > 0


def test_resize_and_fill_pads_left_and_right_for_a_tall_picture():
    source = gradient(50, 100)
    filled = pixels(resize_for_img2img(source, 2, 100, 100))
    assert np.array_equal(filled[:, 25:75], pixels(source))
    assert np.array_equal(filled[:, 0], filled[:, 25]) and np.array_equal(filled[:, 99], filled[:, 74])


def test_resize_works_on_masks_and_palette_images():
    mask = rectangle_mask((10, 10, 30, 30))
    assert resize_for_img2img(mask, 2, 80, 80).mode == "L"
    assert resize_for_img2img(gradient().convert("P"), 1, 16, 16).size == (16, 16)


@pytest.mark.parametrize("mode", [4, -1, "1", 1.0, True])
def test_a_bad_resize_mode_names_the_value_and_the_allowed_ones(mode):
    with pytest.raises(ValueError) as error:
        resize_for_img2img(gradient(), mode, 32, 32)
    message = str(error.value)
    assert repr(mode) in message
    assert "0 (Just resize)" in message and "3 (Just resize (latent upscale))" in message


def test_masks_are_binarised_above_128_and_inverted():
    grey = Image.fromarray(np.array([[0, 100, 128, 129, 200, 255]] * 3, dtype=np.uint8))
    assert pixels(prepare_mask(grey, invert=False, blur=0))[0].tolist() == [0, 0, 0, 255, 255, 255]
    assert pixels(prepare_mask(grey, invert=True, blur=0))[0].tolist() == [255, 255, 255, 0, 0, 0]
    assert prepare_mask(grey.convert("RGB"), invert=False, blur=0).mode == "L"


def test_a_drawn_layer_uses_its_alpha_and_an_opaque_rgba_uses_its_grey():
    drawn = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    ImageDraw.Draw(drawn).rectangle((5, 2, 9, 6), fill=(0, 0, 0, 255))  # black strokes: grey alone would be 0
    mask = pixels(prepare_mask(drawn, invert=False, blur=0))
    assert mask[4, 7] == 255 and mask[0, 0] == 0 and mask.sum() == 25 * 255
    opaque = Image.new("RGBA", (20, 10), (0, 0, 0, 255))
    ImageDraw.Draw(opaque).rectangle((0, 0, 3, 9), fill=(255, 255, 255, 255))
    assert pixels(prepare_mask(opaque, invert=False, blur=0))[5].tolist() == [255] * 4 + [0] * 16


def test_blur_zero_stays_binary_and_blur_softens_only_near_the_edge():
    source = rectangle_mask((20, 12, 44, 36))
    sharp = pixels(prepare_mask(source, invert=False, blur=0))
    assert set(np.unique(sharp)) == {0, 255}
    soft = pixels(prepare_mask(source, invert=False, blur=3))
    between = (soft > 0) & (soft < 255)
    assert between.any()
    assert soft[24, 31] == 255 and soft[24, 8] == 0  # 12 px from the edge: far beyond 2.5 sigma
    assert 100 < soft[24, 20] < 155  # on the edge itself: about half
    assert soft[24, 18] < soft[24, 20] < soft[24, 22]


def test_blur_does_not_fade_a_mask_at_the_image_border():
    everything = Image.new("L", (32, 16), 255)
    assert pixels(prepare_mask(everything, invert=False, blur=4)).min() == 255
    with pytest.raises(ValueError, match="blur"):
        prepare_mask(everything, invert=False, blur=-1)


def test_crop_region_pads_the_bounding_box_and_clamps_it():
    mask = rectangle_mask((10, 12, 20, 30))
    assert crop_region(mask, 0) == (10, 12, 20, 30)
    assert crop_region(mask, 4) == (6, 8, 24, 34)
    assert crop_region(mask, 20) == (0, 0, 40, 48)


def test_crop_region_of_an_empty_or_full_mask_is_the_whole_image():
    assert crop_region(Image.new("L", (64, 48), 0), 8) == (0, 0, 64, 48)
    assert crop_region(Image.new("L", (64, 48), 255), 0) == (0, 0, 64, 48)


def assert_aspect(region, width, height):
    region_w, region_h = region[2] - region[0], region[3] - region[1]
    assert abs(region_w * height - region_h * width) <= max(width, height), region


def contains(outer, inner):
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


@pytest.mark.parametrize("region", [(20, 10, 30, 40), (6, 8, 24, 34), (50, 5, 64, 15), (0, 20, 30, 28)])
@pytest.mark.parametrize("size", [(64, 48), (32, 32), (48, 64)])
def test_expand_to_aspect_reaches_the_ratio_inside_the_image(region, size):
    expanded = expand_to_aspect(region, *size, 64, 48)
    assert_aspect(expanded, *size)
    assert contains(expanded, region)
    assert contains((0, 0, 64, 48), expanded)


def test_expand_to_aspect_grows_around_the_centre_and_slides_in_at_a_border():
    assert expand_to_aspect((20, 10, 30, 30), 32, 32, 64, 48) == (15, 10, 35, 30)  # 5 columns each side
    assert expand_to_aspect((54, 10, 64, 30), 32, 32, 64, 48) == (44, 10, 64, 30)  # pushed back from the right
    assert expand_to_aspect((10, 0, 30, 10), 32, 32, 64, 48) == (10, 0, 30, 20)  # grows downwards at the top


def test_expand_to_aspect_is_clamped_when_the_image_is_too_small_and_rejects_empty_regions():
    assert expand_to_aspect((0, 10, 64, 20), 32, 32, 64, 48) == (0, 0, 64, 48)
    with pytest.raises(ValueError, match="empty region"):
        expand_to_aspect((5, 5, 5, 9), 32, 32, 64, 48)


def test_fill_replaces_the_masked_colour_with_its_surroundings_and_keeps_the_rest():
    smooth = gradient()
    damaged = smooth.copy()
    damaged.paste((255, 0, 255), (24, 16, 40, 32))  # magenta where the mask will be
    mask = rectangle_mask((24, 16, 40, 32))
    filled = pixels(fill_masked(damaged, mask))
    outside = pixels(mask) == 0
    assert np.array_equal(filled[outside], pixels(damaged)[outside])
    hole = filled[16:32, 24:40]
    assert np.abs(hole - pixels(smooth)[16:32, 24:40]).mean() < 25  # close to the gradient that was there
    assert (hole[:, :, 2] < 150).all()  # no magenta left
    assert hole[:, 0, 0].mean() < hole[:, -1, 0].mean()  # the left-to-right red ramp continues across the hole


def test_fill_mixes_partially_masked_pixels_and_blacks_out_a_fully_masked_image():
    image = noise()
    soft = prepare_mask(rectangle_mask((20, 10, 44, 38)), invert=False, blur=4)
    filled = pixels(fill_masked(image, soft))
    untouched = pixels(soft) == 0
    assert np.array_equal(filled[untouched], pixels(image)[untouched])
    assert (filled[~untouched] != pixels(image)[~untouched]).any()
    assert pixels(fill_masked(image, Image.new("L", image.size, 255))).max() == 0
    with pytest.raises(ValueError, match="mask size"):
        fill_masked(image, Image.new("L", (10, 10), 255))


def test_paste_back_keeps_unmasked_pixels_bit_identical_and_uses_generated_ones_under_the_mask():
    original = noise(seed=1)
    generated = noise(seed=2)
    mask = prepare_mask(rectangle_mask((16, 8, 48, 40)), invert=False, blur=4)
    result = pixels(paste_back(original, generated, mask, None))
    weights = pixels(mask)
    assert np.array_equal(result[weights == 0], pixels(original)[weights == 0])
    assert np.array_equal(result[weights == 255], pixels(generated)[weights == 255])
    edge = (weights > 0) & (weights < 255)
    low = np.minimum(pixels(original), pixels(generated))[edge]
    high = np.maximum(pixels(original), pixels(generated))[edge]
    assert edge.any() and ((result[edge] >= low) & (result[edge] <= high)).all()


def test_paste_back_puts_an_only_masked_result_back_into_its_region():
    original = noise(seed=3)
    mask = rectangle_mask((24, 16, 40, 24))
    region = expand_to_aspect(crop_region(mask, 4), 32, 32, 64, 48)
    assert region == (20, 8, 44, 32)  # the padded 24x16 box made square, 4 rows more above and below
    generated = Image.new("RGB", (32, 32), BLUE)
    generated.paste(RED, (16, 0, 32, 32))  # right half red: it must land on the region's right half
    result = pixels(paste_back(original, generated, mask, region))
    weights = pixels(mask)
    assert np.array_equal(result[weights == 0], pixels(original)[weights == 0])
    assert tuple(result[20, 26]) == BLUE and tuple(result[20, 37]) == RED


def test_paste_back_scales_a_generated_crop_of_another_size_into_the_region():
    original = noise(seed=4)
    mask = Image.new("L", (64, 48), 0)
    mask.paste(255, (10, 10, 30, 30))
    result = pixels(paste_back(original, Image.new("RGB", (64, 64), (7, 200, 9)), mask, (10, 10, 30, 30)))
    assert (result[10:30, 10:30] == (7, 200, 9)).all()
    assert np.array_equal(result[30:], pixels(original)[30:])


def test_paste_back_rejects_mismatched_sizes_and_regions():
    original = noise()
    mask = Image.new("L", (64, 48), 255)
    with pytest.raises(ValueError, match="generated size"):
        paste_back(original, noise(32, 32), mask, None)
    with pytest.raises(ValueError, match="mask size"):
        paste_back(original, noise(), Image.new("L", (32, 32)), None)
    with pytest.raises(ValueError, match="not inside"):
        paste_back(original, noise(32, 32), mask, (40, 0, 72, 32))


def test_overlay_mask_doubles_for_the_whole_picture_only():
    soft = Image.fromarray(np.array([[0, 1, 100, 128, 200, 255]], dtype=np.uint8))
    assert pixels(overlay_mask(soft, "Whole picture"))[0].tolist() == [0, 2, 200, 255, 255, 255]
    assert pixels(overlay_mask(soft, "Only masked"))[0].tolist() == [0, 1, 100, 128, 200, 255]
    with pytest.raises(ValueError, match="Whole picture"):
        overlay_mask(soft, "Everything")


def test_fill_reaches_across_a_hole_much_wider_than_the_narrow_passes():
    image = Image.new("RGB", (400, 8), (255, 0, 255))
    image.paste((10, 200, 30), (0, 0, 4, 8))  # only the four leftmost columns are known
    mask = Image.new("L", (400, 8), 255)
    mask.paste(0, (0, 0, 4, 8))
    filled = pixels(fill_masked(image, mask))
    assert np.abs(filled - np.array((10, 200, 30))).max() <= 1
