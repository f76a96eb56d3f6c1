"""ParseNet, the face parser A1111's helper uses (`use_parse=True`) to paste restored faces back with a mask shaped
like the face rather than the aligned square; written here so facexlib's `parsing_parsenet.pth` loads as it is.

Module names follow the file's keys (`encoder.0.conv2d.weight`, `encoder.1.conv1.norm.norm.running_mean`,
`out_mask_conv.conv2d.weight`, ...). The published configuration: 512² in and out, 64 base channels clipped to
32–256, four stride-2 residual blocks down to 32², ten residual blocks, four nearest-upsampling blocks back,
batch norm and LeakyReLU(0.2), reflection padding, 19 parsing classes.

The mask (facexlib's recipe): every class counts as face except background (0), neck (14), cloth (16), hair (17)
and hat (18); it is blurred twice (101×101, sigma 11) and its outer 10 pixels are cleared before it is warped back.
"""

from __future__ import annotations

import cv2
import numpy
import torch
import torch.nn.functional as F
from torch import nn

FACE_CLASSES_OFF = (0, 14, 16, 17, 18)
CLASSES = 19
BLUR_KERNEL, BLUR_SIGMA, BORDER = 101, 11, 10


class ConvLayer(nn.Module):
    def __init__(self, inp: int, out: int, scale: str = "none", norm: bool = False, act: bool = False) -> None:
        super().__init__()
        self.scale = scale
        self.conv2d = nn.Conv2d(inp, out, 3, 2 if scale == "down" else 1, bias=not norm)
        self.norm = _Norm(out) if norm else nn.Identity()
        self.act = nn.LeakyReLU(0.2, inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == "up":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.act(self.norm(self.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"))))


class _Norm(nn.Module):
    """Holds the BatchNorm as `.norm` (the file's `...norm.norm.weight`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class ResidualBlock(nn.Module):
    def __init__(self, inp: int, out: int, scale: str = "none") -> None:
        super().__init__()
        self.shortcut_func = nn.Identity() if scale == "none" and inp == out else ConvLayer(inp, out, scale)
        first, second = {"down": ("none", "down"), "up": ("up", "none"), "none": ("none", "none")}[scale]
        self.conv1 = ConvLayer(inp, out, first, norm=True, act=True)
        self.conv2 = ConvLayer(out, out, second, norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut_func(x) + self.conv2(self.conv1(x))


def _clip(channels: int) -> int:
    return max(32, min(channels, 256))


class ParseNet(nn.Module):
    def __init__(self, size: int = 512, min_feature: int = 32, base: int = 64, depth: int = 10) -> None:
        super().__init__()
        steps = int(numpy.log2(size // min_feature))
        encoder: list[nn.Module] = [ConvLayer(3, base)]
        head = base
        for _ in range(steps):
            encoder.append(ResidualBlock(_clip(head), _clip(head * 2), "down"))
            head *= 2
        self.encoder = nn.Sequential(*encoder)
        self.body = nn.Sequential(*(ResidualBlock(_clip(head), _clip(head)) for _ in range(depth)))
        decoder: list[nn.Module] = []
        for _ in range(steps):
            decoder.append(ResidualBlock(_clip(head), _clip(head // 2), "up"))
            head //= 2
        self.decoder = nn.Sequential(*decoder)
        self.out_img_conv = ConvLayer(_clip(head), 3)
        self.out_mask_conv = ConvLayer(_clip(head), CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(x)
        decoded = self.decoder(features + self.body(features))
        return self.out_mask_conv(decoded), self.out_img_conv(decoded)


def build_parsenet(state_dict: dict, device: torch.device | str = "cpu") -> ParseNet:
    network = ParseNet()
    result = network.load_state_dict(state_dict, strict=False)
    missing = [key for key in result.missing_keys if not key.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise ValueError(f"not ParseNet weights: {len(missing)} missing keys (e.g. {missing[:2]}), "
                         f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:2]})")
    return network.eval().to(device)


def face_mask(network: ParseNet, restored_bgr: numpy.ndarray) -> numpy.ndarray:
    """The soft face mask (float 0–1, 512²) of a restored, aligned 512² BGR face."""
    parameter = next(network.parameters())
    rgb = cv2.cvtColor(restored_bgr, cv2.COLOR_BGR2RGB).astype(numpy.float32) / 255.0
    tensor = (torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0) * 2.0 - 1.0).to(parameter.device, parameter.dtype)
    with torch.inference_mode():
        classes = network(tensor)[0].argmax(dim=1)[0].cpu().numpy()
    mask = numpy.where(numpy.isin(classes, FACE_CLASSES_OFF), 0.0, 255.0)
    for _ in range(2):
        mask = cv2.GaussianBlur(mask, (BLUR_KERNEL, BLUR_KERNEL), BLUR_SIGMA)
    mask[:BORDER], mask[-BORDER:], mask[:, :BORDER], mask[:, -BORDER:] = 0, 0, 0, 0
    return (mask / 255.0).astype(numpy.float32)
