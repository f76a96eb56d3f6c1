"""The maps that need no network, computed as sd-webui-controlnet computes them (same kernels, thresholds, resizes,
polarity), so a control image made here drives a ControlNet as the extension's does.

Each function takes a `MapRequest` and returns an (H, W, 3) uint8 RGB map. One deliberate difference: shuffle draws
its random warp from the request's seed instead of numpy's global state, so the same seed gives the same map.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

import cv2
import numpy as np

from webui.engine.controlnet.preprocessors.image_ops import crop_to, hwc3, resize_to_resolution, resized_without_pad


@dataclass(frozen=True)
class MapRequest:
    """One call: the image (any of gray/RGB/RGBA uint8), the processor resolution and the two slider values after
    defaults are filled in, the optional mask (H, W) uint8, the seed, and the resolved weight files (in the order of
    the module's `needs_weights`)."""

    image: np.ndarray
    resolution: int
    threshold_a: float
    threshold_b: float
    mask: np.ndarray | None = None
    seed: int = 0
    weights: tuple[Path, ...] = ()
    device: str = "cpu"
    loaded: LoadedNetworks = field(default_factory=lambda: LoadedNetworks(capacity=0))


class LoadedNetworks:
    """Annotator networks kept between calls by one registry (most recent `capacity`), keyed by file, its
    modification time and the device, so a replaced file is reloaded; a lock makes concurrent calls load once."""

    def __init__(self, capacity: int = 2) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_load(self, key: tuple[object, ...], load: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return cast(T, self._items[key])
            value = load()
            if self._capacity > 0:
                self._items[key] = value
                while len(self._items) > self._capacity:
                    self._items.popitem(last=False)
            return value

    def clear(self) -> None:
        """Drop every kept network (frees its RAM or VRAM once nothing else holds it)."""
        with self._lock:
            self._items.clear()


MapFunction = Callable[[MapRequest], np.ndarray]
T = TypeVar("T")


def identity(request: MapRequest) -> np.ndarray:
    """none, inpaint_*, reference_*, tile_colorfix*: the map is the input image; any real effect is in sampling."""
    return hwc3(request.image).copy()


def invert(request: MapRequest) -> np.ndarray:
    """White background and black lines become black background and white lines (any size)."""
    return 255 - hwc3(request.image)


def canny(request: MapRequest) -> np.ndarray:
    """cv2.Canny with the two sliders as low/high thresholds, on the padded resized image, white edges on black."""
    padded, size = resize_to_resolution(request.image, request.resolution)
    edges = cv2.Canny(padded, int(request.threshold_a), int(request.threshold_b))
    return crop_to(cv2.cvtColor(edges, cv2.COLOR_GRAY2RGB), size)


def threshold(request: MapRequest) -> np.ndarray:
    """White where every channel is above the slider, black elsewhere."""
    padded, size = resize_to_resolution(request.image, request.resolution)
    result = np.zeros_like(padded, dtype=np.uint8)
    result[np.min(padded, axis=2) > request.threshold_a] = 255
    return crop_to(result, size)


def scribble_xdog(request: MapRequest) -> np.ndarray:
    """Difference of Gaussians (sigma 0.5 and 5.0); white scribble lines where it passes the XDoG threshold."""
    padded, size = resize_to_resolution(request.image, request.resolution)
    fine = cv2.GaussianBlur(padded.astype(np.float32), (0, 0), 0.5)
    coarse = cv2.GaussianBlur(padded.astype(np.float32), (0, 0), 5.0)
    dog = (255 - np.min(coarse - fine, axis=2)).clip(0, 255).astype(np.uint8)
    # The extension doubles in uint8, so a very strong edge (255 - dog >= 128) wraps around; kept for equal maps.
    doubled = ((255 - dog.astype(np.uint16)) * 2) % 256
    result = np.zeros_like(padded, dtype=np.uint8)
    result[doubled > request.threshold_a] = 255
    return crop_to(result, size)


def lineart_standard(request: MapRequest) -> np.ndarray:
    """Dark lines on a light background → white lines on black: how much darker each pixel is than its blur
    (sigma 6), scaled so the median line strength lands at 127."""
    padded, size = resize_to_resolution(request.image, request.resolution)
    pixels = padded.astype(np.float32)
    blurred = cv2.GaussianBlur(pixels, (0, 0), 6.0)
    intensity = np.min(blurred - pixels, axis=2).clip(0, 255)
    lines = intensity[intensity > 8]
    intensity /= max(16.0, float(np.median(lines))) if lines.size else 16.0
    intensity *= 127
    return crop_to(hwc3(intensity.clip(0, 255).astype(np.uint8)), size)


def blur_gaussian(request: MapRequest) -> np.ndarray:
    """Gaussian blur with sigma = the slider, on the image resized to the resolution."""
    image = resized_without_pad(request.image, request.resolution)
    return cv2.GaussianBlur(image, (0, 0), float(request.threshold_a))


def tile_resample(request: MapRequest) -> np.ndarray:
    """Down-sample by the rate slider (area); a rate below 1.1 keeps the image as it is."""
    image = hwc3(request.image)
    rate = float(request.threshold_a)
    if rate < 1.1:
        return image.copy()
    height, width = int(float(image.shape[0]) / rate), int(float(image.shape[1]) / rate)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _noise_disk(rng: np.random.Generator, height: int, width: int, scale: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a coarse uniform grid (one cell per `scale` pixels) upsampled cubically."""
    grid = rng.uniform(low=0, high=1, size=((height // scale) + 2, (width // scale) + 2))
    noise = cv2.resize(grid, (width + 2 * scale, height + 2 * scale), interpolation=cv2.INTER_CUBIC)
    noise = noise[scale: scale + height, scale: scale + width]
    noise = noise - np.min(noise)
    top = float(np.max(noise))
    return noise / top if top > 0 else noise


def shuffle(request: MapRequest) -> np.ndarray:
    """Content shuffle: every output pixel samples the image at a smoothly random position (noise disks of scale
    256 for x and y, then cv2.remap), drawn from `seed` so the same seed gives the same map."""
    image = resized_without_pad(request.image, request.resolution)
    height, width = image.shape[:2]
    rng = np.random.default_rng(request.seed)
    map_x = (_noise_disk(rng, height, width, 256) * float(width - 1)).astype(np.float32)
    map_y = (_noise_disk(rng, height, width, 256) * float(height - 1)).astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR)


def _gamma_gray(channel: np.ndarray, gamma: float) -> np.ndarray:
    result = (channel.astype(np.float32) / 255.0) ** gamma
    return cv2.cvtColor((result * 255.0).clip(0, 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)


def recolor_luminance(request: MapRequest) -> np.ndarray:
    """Lab lightness with gamma = the slider, as gray RGB. The extension converts the RGB array with OpenCV's
    BGR→Lab (so red and blue swap weights); kept, since recolor models were used with its maps."""
    return _gamma_gray(cv2.cvtColor(hwc3(request.image), cv2.COLOR_BGR2LAB)[:, :, 0], float(request.threshold_a))


def recolor_intensity(request: MapRequest) -> np.ndarray:
    """HSV value (max of the channels) with gamma = the slider, as gray RGB."""
    return _gamma_gray(cv2.cvtColor(hwc3(request.image), cv2.COLOR_BGR2HSV)[:, :, 2], float(request.threshold_a))


def color_grid(request: MapRequest) -> np.ndarray:
    """t2ia_color_grid: short side to the resolution (area), then a 64× coarser cubic thumbnail blown back up
    with nearest-neighbour, so the map is a grid of flat color cells."""
    image = hwc3(request.image)
    height, width = image.shape[:2]
    size = int(request.resolution)
    if height < width:
        new_h, new_w = size, int(round(width / height * size))
    else:
        new_h, new_w = int(round(height / width * size)), size
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    small = cv2.resize(image, (max(1, new_w // 64), max(1, new_h // 64)), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(small, (new_w, new_h), interpolation=cv2.INTER_NEAREST)


def weight_free_functions() -> dict[str, MapFunction]:
    """Internal module name → function, for every module Kestrel runs without weights."""
    same = identity
    return {
        "none": same, "invert": invert, "canny": canny, "threshold": threshold, "scribble_xdog": scribble_xdog,
        "lineart_standard": lineart_standard, "blur_gaussian": blur_gaussian, "tile_resample": tile_resample,
        "shuffle": shuffle, "recolor_luminance": recolor_luminance, "recolor_intensity": recolor_intensity,
        "color": color_grid, "inpaint": same, "inpaint_only": same, "reference_only": same,
        "reference_adain": same, "reference_adain+attn": same, "tile_colorfix": same, "tile_colorfix+sharp": same,
    }
