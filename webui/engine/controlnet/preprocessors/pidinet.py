"""PiDiNet (softedge_pidinet, softedge_pidisafe, scribble_pidinet, t2ia_sketch_pidi), the network behind
lllyasviel's table5_pidinet.pth: its "carv4" layout (central, angular, radial pixel-difference and vanilla 3x3
convolutions in turn), 60 channels, compact dilation modules (24 channels) and spatial attention. Built to the file's
key names so the user's weights load unchanged, read weights-only; maps made as the extension makes them (BGR input
in 0-1, the fused sigmoid output).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from webui.engine.controlnet.preprocessors.image_ops import crop_to, hwc3, resize_to_resolution
from webui.engine.controlnet.preprocessors.model_free import MapRequest
from webui.engine.controlnet.preprocessors.networks import cached_network, safe_step, thin_to_scribble, to_uint8

# Layer i of the 16 uses this pixel-difference kind: cd central, ad angular, rd radial, cv vanilla.
CARV4 = ("cd", "ad", "rd", "cv") * 4
_ANGULAR_ORDER = [3, 0, 1, 6, 4, 2, 7, 8, 5]  # each 3x3 tap minus its clockwise neighbour
_RADIAL_OUTER = [0, 2, 4, 10, 14, 20, 22, 24]  # a 3x3 kernel's ring spread onto a 5x5 one ...
_RADIAL_INNER = [6, 7, 8, 11, 13, 16, 17, 18]  # ... minus the same ring one step in


class PixelDifferenceConv(nn.Module):
    """A 3x3 convolution over pixel differences instead of pixels (bias-free, as in the file)."""

    def __init__(self, kind: str, channels_in: int, channels_out: int, groups: int = 1) -> None:
        super().__init__()
        self.kind, self.groups = kind, groups
        self.weight = nn.Parameter(torch.empty(channels_out, channels_in // groups, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        if self.kind == "cd":
            return F.conv2d(x, w, padding=1, groups=self.groups) - F.conv2d(x, w.sum(dim=[2, 3], keepdim=True),
                                                                            groups=self.groups)
        if self.kind == "ad":
            flat = w.view(w.shape[0], w.shape[1], 9)
            return F.conv2d(x, (flat - flat[:, :, _ANGULAR_ORDER]).view(w.shape), padding=1, groups=self.groups)
        if self.kind == "rd":
            flat = w.view(w.shape[0], w.shape[1], 9)
            radial = torch.zeros(w.shape[0], w.shape[1], 25, dtype=w.dtype, device=w.device)
            radial[:, :, _RADIAL_OUTER] = flat[:, :, 1:]
            radial[:, :, _RADIAL_INNER] = -flat[:, :, 1:]
            return F.conv2d(x, radial.view(w.shape[0], w.shape[1], 5, 5), padding=2, groups=self.groups)
        return F.conv2d(x, w, padding=1, groups=self.groups)


class _Block(nn.Module):
    """Depthwise pixel-difference conv, ReLU, 1x1 conv, plus the input (pooled and projected when striding)."""

    def __init__(self, kind: str, channels_in: int, channels_out: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        if stride > 1:
            self.shortcut = nn.Conv2d(channels_in, channels_out, 1)
        self.conv1 = PixelDifferenceConv(kind, channels_in, channels_in, groups=channels_in)
        self.conv2 = nn.Conv2d(channels_in, channels_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = F.max_pool2d(x, kernel_size=2, stride=2)
        y = self.conv2(F.relu(self.conv1(x)))
        return y + (self.shortcut(x) if self.stride > 1 else x)


class _Dilations(nn.Module):
    """CDCM: ReLU, 1x1 to 24 channels, then four dilated 3x3 convolutions (5, 7, 9, 11) summed."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 1)
        for index, rate in enumerate((5, 7, 9, 11), start=1):
            setattr(self, f"conv2_{index}", nn.Conv2d(channels_out, channels_out, 3, dilation=rate, padding=rate,
                                                      bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.relu(x))
        return sum((getattr(self, f"conv2_{i}")(x) for i in range(1, 5)), torch.zeros_like(x))


class _Attention(nn.Module):
    """CSAM: a one-channel sigmoid mask from ReLU, 1x1 to 4 channels, 3x3 to 1, multiplied into the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 4, 1)
        self.conv2 = nn.Conv2d(4, 1, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv2(self.conv1(F.relu(x))))


class _Reduce(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class PiDiNet(nn.Module):
    """Four stages (C, 2C, 4C, 4C channels; 3, 4, 4, 4 blocks), each reduced to an edge map at input size, fused
    by a 1x1 classifier; forward returns the fused map through a sigmoid."""

    def __init__(self, channels: int = 60, dilation_channels: int = 24) -> None:
        super().__init__()
        self.init_block = PixelDifferenceConv(CARV4[0], 3, channels)
        widths = (channels, channels * 2, channels * 4, channels * 4)
        layer, width_in = 1, channels
        for stage, (width, count) in enumerate(zip(widths, (3, 4, 4, 4), strict=True), start=1):
            for index in range(1, count + 1):
                stride = 2 if stage > 1 and index == 1 else 1
                setattr(self, f"block{stage}_{index}", _Block(CARV4[layer], width_in, width, stride))
                layer, width_in = layer + 1, width
        self.stage_blocks = tuple(tuple(f"block{s}_{i}" for i in range(1, n + 1))
                                  for s, n in enumerate((3, 4, 4, 4), start=1))
        self.dilations = nn.ModuleList(_Dilations(width, dilation_channels) for width in widths)
        self.attentions = nn.ModuleList(_Attention(dilation_channels) for _ in widths)
        self.conv_reduces = nn.ModuleList(_Reduce(dilation_channels) for _ in widths)
        self.classifier = nn.Conv2d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2:]
        h = self.init_block(x)
        edges = []
        for stage, names in enumerate(self.stage_blocks):
            for name in names:
                h = getattr(self, name)(h)
            reduced = self.conv_reduces[stage](self.attentions[stage](self.dilations[stage](h)))
            edges.append(F.interpolate(reduced, (height, width), mode="bilinear", align_corners=False))
        return torch.sigmoid(self.classifier(torch.cat(edges, dim=1)))


def pidinet_edges(request: MapRequest) -> tuple[np.ndarray, tuple[int, int]]:
    """The fused edge probability (float, padded size) and the size to crop to."""
    padded, size = resize_to_resolution(request.image, request.resolution)
    network = cached_network(request, PiDiNet)
    with torch.no_grad():
        pixels = torch.from_numpy(padded[:, :, ::-1].copy()).float().to(request.device) / 255.0
        edge = network(pixels.permute(2, 0, 1)[None])[0, 0].cpu().numpy()
    return edge, size


def _to_map(edge: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return hwc3(crop_to(to_uint8(edge), size))


def softedge_pidinet(request: MapRequest) -> np.ndarray:
    return _to_map(*pidinet_edges(request))


def softedge_pidisafe(request: MapRequest) -> np.ndarray:
    edge, size = pidinet_edges(request)
    return _to_map(safe_step(edge), size)


def sketch_pidinet(request: MapRequest) -> np.ndarray:
    """t2ia_sketch_pidi: edges above 0.5, binary."""
    edge, size = pidinet_edges(request)
    return _to_map((edge > 0.5).astype(np.float32), size)


def scribble_pidinet(request: MapRequest) -> np.ndarray:
    """PiDiNet edges thinned, blurred and binarised into bold scribbles, as scribble_hed."""
    edge, size = pidinet_edges(request)
    return hwc3(thin_to_scribble(crop_to(to_uint8(edge), size)))
