"""The image steps every annotator shares in sd-webui-controlnet: HWC3 (any image to 3-channel RGB, alpha composited
on white) and its resize-to-resolution with 64-pixel edge padding, so that maps match the extension's pixel for pixel
in size and, for the deterministic ones, in value."""

from __future__ import annotations

import math

import cv2
import numpy as np

from webui.errors import FieldError


def hwc3(image: np.ndarray) -> np.ndarray:
    """Gray → RGB by repeating, RGBA → RGB over a white background, RGB unchanged (as the extension's HWC3)."""
    if image.dtype != np.uint8:
        raise FieldError("image", f"must be 8-bit (uint8), got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise FieldError("image", f"must be gray, RGB or RGBA (H, W[, 1|3|4]), got shape {tuple(image.shape)}")
    channels = image.shape[2]
    if channels == 3:
        return image
    if channels == 1:
        return np.concatenate([image, image, image], axis=2)
    color = image[:, :, :3].astype(np.float32)
    alpha = image[:, :, 3:4].astype(np.float32) / 255.0
    return (color * alpha + 255.0 * (1.0 - alpha)).clip(0, 255).astype(np.uint8)


def pad64(length: int) -> int:
    """How many pixels take `length` up to the next multiple of 64 (the annotators' networks want that)."""
    return int(math.ceil(float(length) / 64.0) * 64 - length)


def resize_to_resolution(image: np.ndarray, resolution: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Scale so the short side is `resolution` (cubic up, area down), then edge-pad to multiples of 64.

    Returns the padded image and the (height, width) to crop the result back to — the extension's
    `resize_image_with_pad` and its `remove_pad`.
    """
    image = hwc3(image)
    height, width = image.shape[:2]
    scale = float(resolution) / float(min(height, width))
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    target_h, target_w = int(np.round(float(height) * scale)), int(np.round(float(width) * scale))
    resized = cv2.resize(image, (target_w, target_h), interpolation=interpolation)
    padded = np.pad(resized, [[0, pad64(target_h)], [0, pad64(target_w)], [0, 0]], mode="edge")
    return np.ascontiguousarray(padded), (target_h, target_w)


def crop_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The extension's `remove_pad`: the top-left `size` of a padded result, as a contiguous copy."""
    return np.ascontiguousarray(image[: size[0], : size[1]]).copy()


def resized_without_pad(image: np.ndarray, resolution: int) -> np.ndarray:
    """Resize to the resolution and drop the padding at once (the modules that work on the unpadded image)."""
    padded, size = resize_to_resolution(image, resolution)
    return crop_to(padded, size)
