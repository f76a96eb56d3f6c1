"""A1111's "Interrogate DeepBooru": an image → the booru tags DeepDanbooru sees in it, as prompt text.

As A1111 v1.10 (`modules/deepbooru.py`): the image is made RGB, brought to 512×512 by resize mode 2 "Resize and
fill" (fit inside, centre, stretch the edge rows/columns into the bands), scaled to 0..1 and run through the
network; `deepbooru_tags.format_tags` turns the scores into the answer with the user's options.

The network is read on first use (not at start: most sessions never interrogate) and kept until `unload()`; the
caller unloads after each call unless `interrogate_keep_models_in_memory` is on, as A1111 does. Run it where the
other models run (the device thread); the lock only keeps two callers from loading it twice.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy
import torch
from PIL import Image

from webui.engine.deepbooru_tags import DeepBooruOptions, format_tags
from webui.engine.img2img_images import resize_for_img2img
from webui.engine.interrogate import DEEPBOORU, InterrogateModelMissing
from webui.model_manager.deepbooru_model import INPUT_SIZE, DeepBooruNetwork, load_deepbooru
from webui.model_manager.loaders import LoaderRegistry

RESIZE_AND_FILL = 2  # A1111's resize_mode index


def deepbooru_input(image: Image.Image) -> torch.Tensor:
    """(1, 3, 512, 512) float32 in 0..1: A1111's preprocessing (it feeds NHWC; our network takes NCHW)."""
    picture = resize_for_img2img(image.convert("RGB"), RESIZE_AND_FILL, INPUT_SIZE, INPUT_SIZE)
    pixels = numpy.asarray(picture.convert("RGB"), dtype=numpy.float32) / 255
    return torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).contiguous()


def _probabilities(network: DeepBooruNetwork, image: Image.Image, device: torch.device,
                   dtype: torch.dtype) -> list[float]:
    pixels = deepbooru_input(image).to(device, dtype)
    with torch.inference_mode():
        probabilities = network(pixels)[0]
    return [float(value) for value in probabilities.float().cpu().tolist()]


class DeepBooruInterrogator:
    """One DeepDanbooru file on one device, loaded lazily; `interrogate` is A1111's `tag`."""

    def __init__(self, weights: Path, device: torch.device, dtype: torch.dtype,
                 loaders: LoaderRegistry | None = None) -> None:
        self.weights = weights
        self.device = device
        self.dtype = dtype
        self._loaders = loaders
        self._network: DeepBooruNetwork | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._network is not None

    def _load(self) -> DeepBooruNetwork:
        with self._lock:
            if self._network is None:
                if not self.weights.is_file():
                    raise InterrogateModelMissing(DEEPBOORU, [self.weights])
                network = load_deepbooru(self.weights, self._loaders)
                self._network = network.to(self.device, self.dtype)
            return self._network

    def scores(self, image: Image.Image) -> dict[str, float]:
        """The network's probability for each of its tags, in the file's tag order."""
        network = self._load()
        return dict(zip(network.tags, _probabilities(network, image, self.device, self.dtype), strict=True))

    def interrogate(self, image: Image.Image, options: DeepBooruOptions) -> str:
        network = self._load()
        return format_tags(network.tags, _probabilities(network, image, self.device, self.dtype), options)

    def unload(self) -> None:
        """Drop the network (A1111 moves it to the CPU; here it is released, and read again on the next call)."""
        with self._lock:
            network, self._network = self._network, None
        if network is not None and self.device.type == "cuda":
            del network
            torch.cuda.empty_cache()
