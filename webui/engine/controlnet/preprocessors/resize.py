"""Fitting a detected map to the generation size, as sd-webui-controlnet's `detectmap_proc` does for each resize
mode, with its "high quality" resize: nearest-neighbour for maps of few colors (segmentation), and for binary edge
maps a re-binarisation (Otsu) and, for one-pixel edges, non-maximum suppression and thinning, so a scaled canny map
keeps one-pixel lines instead of blurring them.

A map may carry an inpaint mask as a 4th channel; it is resized with the map and re-binarised at 127.
"""

from __future__ import annotations

import cv2
import numpy as np

from webui.engine.controlnet.preprocessors.image_ops import hwc3
from webui.engine.controlnet.preprocessors.pixel_perfect import JUST_RESIZE, RESIZE_AND_FILL, resize_mode_from_value

_SUPPRESSION_KERNELS = tuple(np.array(k, dtype=np.uint8) for k in (
    [[0, 0, 0], [1, 1, 1], [0, 0, 0]], [[0, 1, 0], [0, 1, 0], [0, 1, 0]],
    [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 0, 1], [0, 1, 0], [1, 0, 0]]))


def _rotations(raw: list[list[list[int]]]) -> tuple[np.ndarray, ...]:
    kernels = [np.array(k, dtype=np.int32) for k in raw]
    return tuple(np.rot90(k, k=turns, axes=(0, 1)) for turns in range(4) for k in kernels)


# Hit-or-miss patterns (1 = set, -1 = unset, 0 = either) of Lvmin Zhang's edge thinning in the extension.
_THINNING = _rotations([[[-1, -1, -1], [0, 1, 0], [1, 1, 1]], [[0, -1, -1], [1, 1, -1], [0, 1, 0]]])
_PRUNING = _rotations([[[-1, -1, -1], [-1, 1, -1], [0, 0, -1]], [[-1, -1, -1], [-1, 1, -1], [-1, 0, 0]]])


def suppress_non_maxima(gray: np.ndarray) -> np.ndarray:
    """Keep a pixel only where it is the maximum along one of the four directions through it."""
    result = np.zeros_like(gray)
    for kernel in _SUPPRESSION_KERNELS:
        np.putmask(result, cv2.dilate(gray, kernel=kernel) == gray, gray)
    return result


def _thin_once(binary: np.ndarray, kernels: tuple[np.ndarray, ...]) -> bool:
    changed = False
    for kernel in kernels:
        hits = np.where(cv2.morphologyEx(binary, cv2.MORPH_HITMISS, kernel) > 127)
        binary[hits] = 0
        changed = changed or hits[0].shape[0] > 0
    return changed


def thin_edges(binary: np.ndarray, prune: bool = True) -> np.ndarray:
    """Thin white edges to one pixel (at most 32 passes), then optionally prune one-pixel spurs."""
    result = binary.copy()
    for _ in range(32):
        if not _thin_once(result, _THINNING):
            break
    if prune:
        _thin_once(result, _PRUNING)
    return result


def _binary_edges_facts(color: np.ndarray) -> tuple[bool, bool]:
    """(is the map binary black/white, are its white parts mostly one pixel wide)."""
    if not (np.min(color) < 16 and np.max(color) > 240):
        return False, False
    opened = cv2.dilate(cv2.erode(color, np.ones((3, 3), np.uint8), iterations=1), np.ones((3, 3), np.uint8),
                        iterations=1)
    thin_pixels = np.where(opened < color)[0].shape[0]
    edge_pixels = np.where(color > 127)[0].shape[0]
    return True, thin_pixels * 2 > edge_pixels


def high_quality_resize(detected: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Resize a map (3 or 4 channels uint8) to (width, height), choosing the interpolation by its content."""
    mask = detected[:, :, 3] if detected.shape[2] == 4 else None
    color = detected[:, :, :3]
    width, height = size_wh
    if color.shape[0] == height and color.shape[1] == width:
        result = color
    else:
        area_before, area_after = color.shape[0] * color.shape[1], width * height
        unique_colors = np.unique(color.reshape(-1, 3), axis=0).shape[0]
        is_binary, one_pixel = _binary_edges_facts(color) if unique_colors == 2 else (False, False)
        if 2 < unique_colors < 200:
            interpolation = cv2.INTER_NEAREST
        elif area_after < area_before:
            interpolation = cv2.INTER_AREA
        else:
            interpolation = cv2.INTER_CUBIC
        result = cv2.resize(color, (width, height), interpolation=interpolation)
        if mask is not None:
            mask = cv2.resize(mask, (width, height), interpolation=interpolation)
        if is_binary:
            gray = np.mean(result.astype(np.float32), axis=2).clip(0, 255).astype(np.uint8)
            if one_pixel:
                gray = suppress_non_maxima(gray)
                _, gray = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
                gray = thin_edges(gray, prune=area_after > area_before)
            else:
                _, gray = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
            result = np.stack([gray] * 3, axis=2)
    if mask is None:
        return result
    binary_mask = ((mask > 127).astype(np.float32) * 255.0).clip(0, 255).astype(np.uint8)
    return np.concatenate([result, binary_mask[:, :, None]], axis=2)


def resize_for_target(detected: np.ndarray, target_hw: tuple[int, int], resize_mode: str | int) -> np.ndarray:
    """The map at exactly `target_hw`: stretched (Just Resize), scaled to cover and center-cropped (Crop and
    Resize), or scaled to fit and centered on the median border color (Resize and Fill). RGB stays RGB; an RGBA
    map (inpaint image + mask) stays RGBA, its fill fully masked as the extension's."""
    mode = resize_mode_from_value(resize_mode)
    detected = detected if detected.ndim == 3 and detected.shape[2] == 4 else hwc3(detected)
    height, width = int(target_hw[0]), int(target_hw[1])
    if mode == JUST_RESIZE:
        return np.ascontiguousarray(high_quality_resize(detected, (width, height)))
    old_h, old_w = float(detected.shape[0]), float(detected.shape[1])
    k_h, k_w = height / old_h, width / old_w
    if mode == RESIZE_AND_FILL:
        k = min(k_h, k_w)
        borders = np.concatenate([detected[0, :, :], detected[-1, :, :], detected[:, 0, :], detected[:, -1, :]])
        fill = np.median(borders, axis=0).astype(detected.dtype)
        if fill.shape[0] == 4:
            fill[3] = 255
        canvas = np.tile(fill[None, None], [height, width, 1])
        scaled = high_quality_resize(detected, (int(round(old_w * k)), int(round(old_h * k))))
        new_h, new_w = scaled.shape[:2]
        top, left = max(0, (height - new_h) // 2), max(0, (width - new_w) // 2)
        canvas[top: top + new_h, left: left + new_w] = scaled
        return np.ascontiguousarray(canvas)
    k = max(k_h, k_w)
    scaled = high_quality_resize(detected, (int(round(old_w * k)), int(round(old_h * k))))
    new_h, new_w = scaled.shape[:2]
    top, left = max(0, (new_h - height) // 2), max(0, (new_w - width) // 2)
    return np.ascontiguousarray(scaled[top: top + height, left: left + width])


def inpaint_preview(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """What the extension shows for an inpaint module: RGBA with the masked part half transparent."""
    alpha = 255 - (mask.astype(np.uint8) // 2)
    return np.ascontiguousarray(np.concatenate([hwc3(image), alpha[:, :, None]], axis=2))
