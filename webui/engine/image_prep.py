"""Pillow-only image preparation for img2img and inpaint, with A1111's semantics (no torch).

* resize modes: "Just resize" stretches, "Crop and resize" covers then centre-crops, "Resize and fill" fits then
  fills the bands with the stretched edge of the picture, "Just resize (latent upscale)" resizes like the first
  here (the engine scales latents instead when it can);
* masks: binarised at half grey (A1111's create_binary_mask), optionally inverted, then Gaussian-blurred;
* "Only masked": the mask's bounding box grown by the padding and widened to the output's aspect ratio;
* "fill": the masked area painted with colours smeared in from around it;
* paste-back: the generated pixels composited over the original through the mask, so a pixel the mask does not
  touch is the original pixel, bit for bit.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

Region = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)

RESIZE_MODE_COUNT = 4


def resize_for_img2img(image: Image.Image, mode: int, width: int, height: int) -> Image.Image:
    if not 0 <= mode < RESIZE_MODE_COUNT:
        raise ValueError(f"resize mode {mode} is not one of 0–{RESIZE_MODE_COUNT - 1}")
    lanczos = Image.Resampling.LANCZOS
    if mode in (0, 3):
        return image.resize((width, height), lanczos)
    source_w, source_h = image.size
    if mode == 1:
        scale = max(width / source_w, height / source_h)
        resized = image.resize((max(width, round(source_w * scale)), max(height, round(source_h * scale))), lanczos)
        left, top = (resized.width - width) // 2, (resized.height - height) // 2
        return resized.crop((left, top, left + width, top + height))
    return _resize_and_fill(image, width, height)


def _resize_and_fill(image: Image.Image, width: int, height: int) -> Image.Image:
    source_w, source_h = image.size
    scale = min(width / source_w, height / source_h)
    fitted_w, fitted_h = max(1, round(source_w * scale)), max(1, round(source_h * scale))
    fitted = image.resize((fitted_w, fitted_h), Image.Resampling.LANCZOS)
    canvas = fitted.resize((width, height), Image.Resampling.LANCZOS)  # stretched: fills the bands
    left, top = (width - fitted_w) // 2, (height - fitted_h) // 2
    if fitted_w < width:  # bands left and right: stretch the first and last columns
        if left:
            canvas.paste(fitted.crop((0, 0, 1, fitted_h)).resize((left, fitted_h)), (0, top))
        right = width - left - fitted_w
        if right:
            canvas.paste(fitted.crop((fitted_w - 1, 0, fitted_w, fitted_h)).resize((right, fitted_h)),
                         (left + fitted_w, top))
    if fitted_h < height:  # bands above and below: stretch the first and last rows
        if top:
            canvas.paste(fitted.crop((0, 0, fitted_w, 1)).resize((fitted_w, top)), (left, 0))
        bottom = height - top - fitted_h
        if bottom:
            canvas.paste(fitted.crop((0, fitted_h - 1, fitted_w, fitted_h)).resize((fitted_w, bottom)),
                         (left, top + fitted_h))
    canvas.paste(fitted, (left, top))
    return canvas


def prepare_mask(mask: Image.Image, invert: bool, blur: int) -> Image.Image:
    """An "L" mask, 255 = repaint. A mask with transparency uses its alpha (a drawn layer), else its grey level."""
    if mask.mode in ("RGBA", "LA") and np.asarray(mask.getchannel("A")).min() < 255:
        grey = mask.getchannel("A")
    else:
        grey = mask.convert("L")
    binary = grey.point(lambda value: 255 if value > 127 else 0)
    if invert:
        binary = binary.point(lambda value: 255 - value)
    return binary.filter(ImageFilter.GaussianBlur(blur)) if blur > 0 else binary


def crop_region(mask: Image.Image, padding: int) -> Region:
    """Bounding box of the mask's non-zero pixels grown by `padding`, inside the image; an empty mask → all."""
    box = mask.getbbox()
    if box is None:
        return (0, 0, mask.width, mask.height)
    left, top, right, bottom = box
    return (max(0, left - padding), max(0, top - padding), min(mask.width, right + padding),
            min(mask.height, bottom + padding))


def expand_to_aspect(region: Region, width: int, height: int, image_w: int, image_h: int) -> Region:
    """Grow `region` to the aspect ratio width:height (so the crop is not distorted), inside the image when it
    fits: the shorter side grows around the centre and shifts back in at the borders."""
    left, top, right, bottom = region
    region_w, region_h = right - left, bottom - top
    target = width / height
    if region_w / region_h < target:
        region_w = min(image_w, round(region_h * target))
    else:
        region_h = min(image_h, round(region_w / target))
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    new_left = int(min(max(0, round(centre_x - region_w / 2)), image_w - region_w))
    new_top = int(min(max(0, round(centre_y - region_h / 2)), image_h - region_h))
    return (new_left, new_top, new_left + region_w, new_top + region_h)


def fill_masked(image: Image.Image, mask: Image.Image) -> Image.Image:
    """Masked pixels replaced by the surrounding colours: normalised blurs of the known pixels from wide to narrow,
    each narrower one used where enough known pixels are near."""
    rgb = image.convert("RGB")
    known = mask.point(lambda value: 0 if value > 127 else 255)  # 255 where the picture is kept
    known_only = Image.new("RGB", rgb.size)
    known_only.paste(rgb, mask=known)
    estimate: np.ndarray | None = None
    for radius in (256, 64, 16, 4, 1):
        colours = np.asarray(known_only.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)
        coverage = np.asarray(known.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)[:, :, None] / 255.0
        smeared = colours / np.maximum(coverage, 1e-3)
        estimate = smeared if estimate is None else np.where(coverage > 0.1, smeared, estimate)
    assert estimate is not None
    filled = Image.fromarray(np.clip(estimate, 0, 255).astype(np.uint8), mode="RGB")
    filled.paste(rgb, mask=known)
    return filled


def paste_back(original: Image.Image, generated: Image.Image, mask: Image.Image,
               region: Region | None) -> Image.Image:
    """Composite through `mask` (255 = generated); with a region, the generated crop is scaled back into it."""
    base = original.convert("RGB")
    if region is None:
        layer = generated.convert("RGB").resize(base.size, Image.Resampling.LANCZOS)
    else:
        layer = base.copy()
        left, top, right, bottom = region
        layer.paste(generated.convert("RGB").resize((right - left, bottom - top), Image.Resampling.LANCZOS),
                    (left, top))
    return Image.composite(layer, base, mask.convert("L").resize(base.size))
