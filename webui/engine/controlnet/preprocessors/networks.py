"""The annotator networks Kestrel runs itself: HED v1.1 (softedge_hed, softedge_hedsafe, scribble_hed) and the
lineart generator (lineart_realistic, lineart_coarse), built to the layouts of lllyasviel's ControlNetHED.pth and
sk_model(2).pth so the user's files load unchanged — read through the model manager's safe readers
(`torch.load(weights_only=True)` or safetensors), never unpickling code. Maps are made as the extension makes them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from webui.engine.controlnet.preprocessors.image_ops import crop_to, hwc3, resize_to_resolution
from webui.engine.controlnet.preprocessors.model_free import MapRequest
from webui.engine.controlnet.preprocessors.resize import suppress_non_maxima
from webui.errors import CheckpointRefused
from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.safetensors_header import CheckpointFormatError


class _HedBlock(nn.Module):
    """`layers` 3x3 convolutions with ReLU (after an optional 2x max-pool) and a 1x1 projection to one edge map."""

    def __init__(self, channels_in: int, channels_out: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(*(nn.Conv2d(channels_in if i == 0 else channels_out, channels_out, 3, 1, 1)
                                     for i in range(layers)))
        self.projection = nn.Conv2d(channels_out, 1, 1, 1, 0)

    def forward(self, x: torch.Tensor, down_sampling: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        h = nn.functional.max_pool2d(x, kernel_size=2, stride=2) if down_sampling else x
        for conv in self.convs:
            h = nn.functional.relu(conv(h))
        return h, self.projection(h)


class HedNetwork(nn.Module):
    """ControlNet 1.1's HED: five VGG-like stages, each projecting an edge map; the input is 0-255 RGB minus a
    learned per-channel offset (`norm`)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.block1 = _HedBlock(3, 64, 2)
        self.block2 = _HedBlock(64, 128, 2)
        self.block3 = _HedBlock(128, 256, 3)
        self.block4 = _HedBlock(256, 512, 3)
        self.block5 = _HedBlock(512, 512, 3)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, first = self.block1(x - self.norm)
        projections = [first]
        for block in (self.block2, self.block3, self.block4, self.block5):
            h, projection = block(h, down_sampling=True)
            projections.append(projection)
        return projections


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class LineartGenerator(nn.Module):
    """The "informative drawings" generator behind lineart_realistic/coarse: 7x7 in, two stride-2 downs, three
    residual blocks at 256 channels, two transposed-conv ups, 7x7 out to one sigmoid channel (1 = background)."""

    def __init__(self, residual_blocks: int = 3) -> None:
        super().__init__()
        self.model0 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, 64, 7), nn.InstanceNorm2d(64), nn.ReLU())
        self.model1 = nn.Sequential(
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.InstanceNorm2d(128), nn.ReLU(),
            nn.Conv2d(128, 256, 3, stride=2, padding=1), nn.InstanceNorm2d(256), nn.ReLU())
        self.model2 = nn.Sequential(*(_ResidualBlock(256) for _ in range(residual_blocks)))
        self.model3 = nn.Sequential(
            nn.ConvTranspose2d(256, 128, 3, stride=2, padding=1, output_padding=1), nn.InstanceNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 3, stride=2, padding=1, output_padding=1), nn.InstanceNorm2d(64), nn.ReLU())
        self.model4 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(64, 1, 7), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model4(self.model3(self.model2(self.model1(self.model0(x)))))


def load_network(factory: Callable[[], nn.Module], path: Path, device: str) -> nn.Module:
    """Build the network on the meta device (no time spent on a random init) and take the file's tensors as its
    weights, read weights-only; a file of another layout is refused naming it (422)."""
    with torch.device("meta"):
        network = factory()
    try:
        state = CheckpointReaders().read_state_dict(path)
        network.load_state_dict({key.removeprefix("module."): value for key, value in state.items()}, strict=True,
                                assign=True)
    except (CheckpointFormatError, RuntimeError) as error:
        raise CheckpointRefused(path.name, f"not annotator weights of the expected layout: "
                                           f"{str(error).splitlines()[0]}") from error
    return network.to(device=device, dtype=torch.float32).eval()


def cached_network(request: MapRequest, factory: Callable[[], nn.Module]) -> nn.Module:
    """The request's first weight file loaded into `factory`'s network, reused while the file is unchanged."""
    path = request.weights[0]
    key = (factory.__name__, str(path), path.stat().st_mtime_ns, request.device)
    return request.loaded.get_or_load(key, lambda: load_network(factory, path, request.device))


def hed_edges(request: MapRequest, safe: bool) -> tuple[np.ndarray, tuple[int, int]]:
    """The HED soft-edge map (uint8, padded size) and the size to crop it to: the five projections resized to the
    input, averaged, through a sigmoid; `safe` quantises it to 0, 0.5, 1 (the extension's safe step 2)."""
    padded, size = resize_to_resolution(request.image, request.resolution)
    network = cached_network(request, HedNetwork)
    height, width = padded.shape[:2]
    with torch.no_grad():
        pixels = torch.from_numpy(padded.copy()).float().to(request.device).permute(2, 0, 1)[None]
        projections = [p.detach().cpu().numpy().astype(np.float32)[0, 0] for p in network(pixels)]
    stacked = np.stack([cv2.resize(p, (width, height), interpolation=cv2.INTER_LINEAR) for p in projections], axis=2)
    with np.errstate(over="ignore"):  # a very negative mean is an edge value of 0, as it should be
        edge = 1 / (1 + np.exp(-np.mean(stacked, axis=2).astype(np.float64)))
    return to_uint8(safe_step(edge) if safe else edge), size


def safe_step(edge: np.ndarray) -> np.ndarray:
    """The extension's "safe" soft edges (step 2): probabilities quantised down to 0, 0.5 or 1."""
    return (edge.astype(np.float32) * 3.0).astype(np.int32).astype(np.float32) / 2.0


def to_uint8(edge: np.ndarray) -> np.ndarray:
    return (edge * 255.0).clip(0, 255).astype(np.uint8)


def softedge_hed(request: MapRequest) -> np.ndarray:
    edges, size = hed_edges(request, safe=False)
    return hwc3(crop_to(edges, size))


def softedge_hedsafe(request: MapRequest) -> np.ndarray:
    edges, size = hed_edges(request, safe=True)
    return hwc3(crop_to(edges, size))


def _thin_lines(soft: np.ndarray, threshold: int, sigma: float) -> np.ndarray:
    """The extension's `nms`: blur, keep directional maxima, binarise above `threshold`."""
    kept = suppress_non_maxima(cv2.GaussianBlur(soft.astype(np.float32), (0, 0), sigma))
    result = np.zeros_like(kept, dtype=np.uint8)
    result[kept > threshold] = 255
    return result


def thin_to_scribble(soft: np.ndarray) -> np.ndarray:
    """A soft edge map thinned (nms at 127, sigma 3), blurred (sigma 3) and binarised at 4: bold white scribbles."""
    lines = cv2.GaussianBlur(_thin_lines(soft, 127, 3.0), (0, 0), 3.0)
    lines[lines > 4] = 255
    lines[lines < 255] = 0
    return lines


def scribble_hed(request: MapRequest) -> np.ndarray:
    edges, size = hed_edges(request, safe=False)
    return hwc3(thin_to_scribble(crop_to(edges, size)))


def lineart(request: MapRequest) -> np.ndarray:
    """lineart_realistic / lineart_coarse: the generator's drawing (1 = paper) inverted to white lines on black."""
    padded, size = resize_to_resolution(request.image, request.resolution)
    network = cached_network(request, LineartGenerator)
    with torch.no_grad():
        pixels = torch.from_numpy(padded.copy()).float().to(request.device).permute(2, 0, 1)[None] / 255.0
        drawing = network(pixels)[0, 0].cpu().numpy()
    return hwc3(crop_to(255 - to_uint8(drawing), size))
