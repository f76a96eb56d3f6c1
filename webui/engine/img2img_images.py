"""Pure image preparation for img2img and inpaint (Pillow and numpy only: no torch, no I/O, no state).

Everything here works on PIL images so it can be tested with small synthetic pictures and reused by the API and the
UI without loading a model. The behaviour follows A1111's img2img/inpaint pipeline as a user sees it:

* the four resize modes, indexed like A1111's ``resize_mode`` integer;
* the mask: alpha or grey level, binarised at A1111's threshold, optionally inverted, then Gaussian-blurred;
* "Only masked": the mask's bounding box, padded, then widened to the output's aspect ratio so nothing is distorted;
* "fill" masked content: the hole painted with colour smeared in from around it, so the sampler starts from
  plausible colours instead of whatever was under the mask;
* paste-back: generated pixels composited over the original through the mask, leaving every pixel the mask does
  not touch exactly as it was.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from webui.engine.request import RESIZE_MODES

Region = tuple[int, int, int, int]  # x1, y1, x2, y2 with x2/y2 exclusive, like PIL's crop box

INPAINT_AREAS = ("Whole picture", "Only masked")
MASK_MODES = ("Inpaint masked", "Inpaint not masked")

MASK_THRESHOLD = 128  # A1111's create_binary_mask keeps values strictly above this
FILL_RADII = (256, 64, 16, 4, 1)  # widest first: far colours reach everywhere, near colours win close to the edge
_LANCZOS = Image.Resampling.LANCZOS
_WORKABLE_MODES = ("L", "LA", "RGB", "RGBA")


def _workable(image: Image.Image) -> Image.Image:
    """Palette and 1-bit images cannot be Lanczos-resampled; bring them to a plain 8-bit mode first."""
    if image.mode in _WORKABLE_MODES:
        return image
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


def resize_for_img2img(image: Image.Image, mode: int, width: int, height: int) -> Image.Image:
    """Bring the init image (or a mask) to the generation size the way A1111's resize mode `mode` does.

    0 "Just resize" stretches to width×height. 1 "Crop and resize" scales until the picture covers the target and
    cuts the overflow equally from both sides. 2 "Resize and fill" scales until the picture fits and fills the empty
    bands by stretching the picture's outermost rows/columns into them. 3 "Just resize (latent upscale)" stretches
    like 0 here: in A1111 that mode skips the pixel resize and stretches the encoded latents bilinearly instead, so
    the pixel-space equivalent is a stretch; an engine that can scale latents does so itself.
    """
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode < len(RESIZE_MODES):
        allowed = ", ".join(f"{index} ({name})" for index, name in enumerate(RESIZE_MODES))
        raise ValueError(f"resize mode {mode!r} is not valid; allowed: {allowed}")
    if width < 1 or height < 1:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    image = _workable(image)
    if mode in (0, 3):
        return image.resize((width, height), _LANCZOS)
    if mode == 1:
        return _crop_and_resize(image, width, height)
    return _resize_and_fill(image, width, height)


def _crop_and_resize(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover the target (integer sizes computed as A1111 does), then keep the centre."""
    if width / height > image.width / image.height:
        scaled = (width, image.height * width // image.width)
    else:
        scaled = (image.width * height // image.height, height)
    resized = image.resize((max(scaled[0], width), max(scaled[1], height)), _LANCZOS)
    left = resized.width // 2 - width // 2
    top = resized.height // 2 - height // 2
    return resized.crop((left, top, left + width, top + height))


def _resize_and_fill(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to fit inside the target, centre it, and repeat the edge rows/columns outwards into the bands.

    Repeating the edge pixel is what stretching a one-pixel-thick edge strip over the band amounts to, so the bands
    carry the picture's border colours instead of black.
    """
    if width / height < image.width / image.height:
        fitted = (width, max(1, image.height * width // image.width))
    else:
        fitted = (max(1, image.width * height // image.height), height)
    resized = np.asarray(image.resize(fitted, _LANCZOS))
    left = width // 2 - fitted[0] // 2
    top = height // 2 - fitted[1] // 2
    padding = [(top, height - top - fitted[1]), (left, width - left - fitted[0])]
    padding += [(0, 0)] * (resized.ndim - 2)
    return Image.fromarray(np.pad(resized, padding, mode="edge"))


def prepare_mask(mask: Image.Image, invert: bool, blur: int) -> Image.Image:
    """Turn an uploaded or drawn mask into A1111's "L" inpaint mask: 255 = repaint, 0 = keep.

    A mask with any non-opaque pixel is a drawn layer, so its alpha channel is the mask; otherwise its grey level is.
    Binarising first (values above 128 become 255) makes anti-aliased brush edges and JPEG noise behave like A1111;
    "Inpaint not masked" inverts; the blur comes last so it softens the final edge in both cases.
    """
    if blur < 0:
        raise ValueError(f"mask blur must be 0 or more, got {blur}")
    has_alpha = "A" in mask.getbands()
    if has_alpha and mask.getchannel("A").getextrema()[0] < 255:
        grey = np.asarray(mask.getchannel("A"))
    else:
        grey = np.asarray(mask.convert("L"))
    binary = np.where(grey > MASK_THRESHOLD, 255, 0).astype(np.uint8)
    if invert:
        binary = 255 - binary
    if blur > 0:
        binary = _gaussian_blur(binary, blur)
    return Image.fromarray(binary)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised 1-D Gaussian as wide as A1111's mask blur uses (about 2.5 sigma each side)."""
    half = int(2.5 * sigma + 0.5)
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    kernel = np.exp(-(offsets**2) / (2.0 * sigma * sigma))
    return kernel / kernel.sum()


def _gaussian_blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D uint8 array; edges mirror (without repeating the border pixel) like
    OpenCV's default, so a mask touching the border does not fade there."""
    kernel = _gaussian_kernel(sigma)
    half = len(kernel) // 2
    result = values.astype(np.float64)
    for axis in (1, 0):
        size = result.shape[axis]
        if size == 1:
            continue
        padded = _mirror_pad(result, half, axis)
        blurred = np.zeros_like(result)
        for index, weight in enumerate(kernel):
            blurred += weight * np.take(padded, np.arange(index, index + size), axis=axis)
        result = blurred
    return np.clip(np.rint(result), 0, 255).astype(np.uint8)


def _mirror_pad(values: np.ndarray, amount: int, axis: int) -> np.ndarray:
    """Reflect-pad along one axis even when `amount` exceeds the axis length (reflect again as needed)."""
    size = values.shape[axis]
    period = 2 * (size - 1)
    positions = np.arange(-amount, size + amount) % period
    positions = np.where(positions >= size, period - positions, positions)
    return np.take(values, positions, axis=axis)


def crop_region(mask: Image.Image, padding: int) -> Region:
    """Bounding box of the mask's non-zero pixels, grown by `padding` and clamped to the image.

    An empty mask has nothing to focus on, so the whole image is returned (A1111 falls back to "Whole picture"
    in that case); a fully white mask yields the whole image naturally.
    """
    box = mask.convert("L").getbbox()
    if box is None:
        return (0, 0, mask.width, mask.height)
    x1, y1, x2, y2 = box
    padding = max(0, padding)
    return (max(0, x1 - padding), max(0, y1 - padding), min(mask.width, x2 + padding), min(mask.height, y2 + padding))


def expand_to_aspect(region: Region, width: int, height: int, image_w: int, image_h: int) -> Region:
    """Grow `region` along its short side until its aspect ratio is width:height, so the crop is scaled to the
    generation size without distortion. Growth is split evenly around the region, then the region is shifted back
    inside the image; only when the image itself is too small is it clamped (and the ratio then cannot be met)."""
    x1, y1, x2, y2 = region
    if x2 <= x1 or y2 <= y1 or width < 1 or height < 1:
        raise ValueError(f"cannot expand an empty region {region} to {width}x{height}")
    target = width / height
    if (x2 - x1) / (y2 - y1) > target:
        grow = int((x2 - x1) / target - (y2 - y1))
        y1, y2 = _grow_inside(y1, y2, grow, image_h)
    else:
        grow = int((y2 - y1) * target - (x2 - x1))
        x1, x2 = _grow_inside(x1, x2, grow, image_w)
    return (x1, y1, x2, y2)


def _grow_inside(start: int, end: int, grow: int, limit: int) -> tuple[int, int]:
    """Widen [start, end) by `grow` (extra pixel after), then slide it to fit within [0, limit)."""
    start -= grow // 2
    end += grow - grow // 2
    if end > limit:
        start, end = start - (end - limit), limit
    if start < 0:
        start, end = 0, min(limit, end - start)
    return start, end


def fill_masked(image: Image.Image, mask: Image.Image) -> Image.Image:
    """A1111's "fill" masked content: paint the masked area with colours smeared in from the unmasked pixels.

    Each pass averages only the known (unmasked) pixels within a radius — a blur of the known colours divided by a
    blur of the known-pixel weight — so masked colours never leak in. Wide passes give every hole pixel some colour;
    narrower passes then override it wherever enough known pixels are close. Partially masked pixels (a blurred
    edge) mix original and smeared colour; pixels with mask 0 are returned unchanged. A fully masked image has no
    surroundings to borrow from and comes back black, as in A1111.
    """
    if mask.size != image.size:
        raise ValueError(f"mask size {mask.size} differs from the image's {image.size}")
    original = np.asarray(_workable(image).convert("RGB"))
    rgb = original.astype(np.float64)
    weights = np.asarray(mask.convert("L"), dtype=np.float64) / 255.0
    known = 1.0 - weights
    weighted = np.concatenate([rgb * known[:, :, None], known[:, :, None]], axis=2)
    estimate = np.zeros_like(rgb)
    for radius in FILL_RADII:
        blurred = _box_blur3(weighted, radius)  # one pass for the three weighted colours and the weight
        coverage = blurred[:, :, 3]
        colours = blurred[:, :, :3] / np.maximum(coverage, 1e-9)[:, :, None]
        # The widest pass colours every pixel it reaches; a narrower one wins only where known pixels are close.
        gain = 1e9 if radius == FILL_RADII[0] else 4.0
        trust = np.clip(coverage * gain, 0.0, 1.0)[:, :, None]
        estimate = colours * trust + estimate * (1.0 - trust)
    mixed = rgb * known[:, :, None] + estimate * weights[:, :, None]
    filled = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    untouched = (weights == 0.0)[:, :, None]
    filled = np.where(untouched, original, filled)
    return Image.fromarray(filled)


def _box_blur3(values: np.ndarray, radius: int) -> np.ndarray:
    """Three box blurs of the given radius (≈ a Gaussian with sigma ≈ radius), zero outside the image.

    Zero padding is deliberate: `fill_masked` divides by the blurred weight, which cancels the border falloff.
    Cumulative sums keep each pass linear in the image size even for radius 256.
    """
    result = values
    for _ in range(3):
        for axis in (0, 1):
            reach = min(radius, result.shape[axis])
            result = _box_sum(result, reach, axis) / (2 * reach + 1)
    return result


def _box_sum(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Sum over the window [i - radius, i + radius] along `axis`, treating outside pixels as 0."""
    size = values.shape[axis]
    cumulative = np.cumsum(values, axis=axis)
    zero_shape = list(values.shape)
    zero_shape[axis] = 1
    cumulative = np.concatenate([np.zeros(zero_shape), cumulative], axis=axis)
    upper = np.minimum(np.arange(size) + radius + 1, size)
    lower = np.maximum(np.arange(size) - radius, 0)
    return np.take(cumulative, upper, axis=axis) - np.take(cumulative, lower, axis=axis)


def overlay_mask(mask: Image.Image, inpaint_area: str) -> Image.Image:
    """The mask `paste_back` should use, as A1111 builds it.

    For "Whole picture" A1111 doubles the blurred mask (clipped at 255) so the generated pixels dominate the soft
    edge; for "Only masked" the blurred mask is used as it is. Zero stays zero either way.
    """
    if inpaint_area not in INPAINT_AREAS:
        raise ValueError(f"inpaint area {inpaint_area!r} is not one of {', '.join(INPAINT_AREAS)}")
    grey = mask.convert("L")
    if inpaint_area == INPAINT_AREAS[1]:
        return grey
    doubled = np.minimum(np.asarray(grey, dtype=np.uint16) * 2, 255).astype(np.uint8)
    return Image.fromarray(doubled)


def paste_back(original: Image.Image, generated: Image.Image, mask: Image.Image, region: Region | None) -> Image.Image:
    """Composite `generated` over `original` through `mask` (255 = generated, 0 = original), as an RGB image.

    With "Only masked", `region` is where the crop came from: the generated picture is crop-and-resized back to the
    region's size (as A1111 does) and placed there. Without a region the generated picture must already have the
    original's size. Pixels where the mask is 0 are copied from the original untouched, bit for bit, which is what
    makes "inpaint leaves unmasked pixels alone" hold.
    """
    base = np.asarray(_workable(original).convert("RGB"))
    height, width = base.shape[:2]
    if mask.size != (width, height):
        raise ValueError(f"mask size {mask.size} differs from the original's {(width, height)}")
    layer = _generated_layer(base, generated, region)
    weights = np.asarray(mask.convert("L"), dtype=np.uint32)[:, :, None]
    blended = (layer.astype(np.uint32) * weights + base.astype(np.uint32) * (255 - weights) + 127) // 255
    result = np.where(weights == 0, base, blended.astype(np.uint8))
    return Image.fromarray(result)


def _generated_layer(base: np.ndarray, generated: Image.Image, region: Region | None) -> np.ndarray:
    """The generated pixels laid out on the original's canvas (the original elsewhere, where the mask is 0)."""
    height, width = base.shape[:2]
    picture = _workable(generated).convert("RGB")
    if region is None:
        if picture.size != (width, height):
            raise ValueError(f"generated size {picture.size} differs from the original's {(width, height)}; "
                             "pass the crop region for 'Only masked'")
        return np.asarray(picture)
    x1, y1, x2, y2 = region
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise ValueError(f"region {region} is not inside the {width}x{height} original")
    layer = base.copy()
    layer[y1:y2, x1:x2] = np.asarray(resize_for_img2img(picture, 1, x2 - x1, y2 - y1))
    return layer

