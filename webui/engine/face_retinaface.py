"""RetinaFace with a ResNet-50 body: the face detector A1111 uses (through facexlib), written here so facexlib's
weight file `detection_Resnet50_Final.pth` loads as it is, weights-only, without facexlib and its dependencies.

The module names are the file's key names (`body.layer1.0.conv1.weight`, `fpn.output1.0.weight`,
`ssh1.conv3X3.0.weight`, `ClassHead.0.conv1x1.weight`, ...). The published configuration: anchors of 16/32, 64/128
and 256/512 pixels on strides 8, 16, 32, box variances 0.1 and 0.2, 256 FPN channels, BGR input less the means
(104, 117, 123). `detect` returns, per face, the box, the score and the five landmarks (eyes, nose, mouth corners)
that the alignment needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from math import ceil

import numpy
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet50
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.ops import nms

MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)
BGR_MEANS = (104.0, 117.0, 123.0)
CHANNELS = 256
ANCHORS_PER_CELL = 2


@dataclass(frozen=True)
class FaceDetection:
    box: tuple[float, float, float, float]     # x1, y1, x2, y2 in image pixels
    score: float
    landmarks: tuple[tuple[float, float], ...]  # five (x, y): left eye, right eye, nose, mouth left, mouth right


def _conv_bn(inp: int, out: int, kernel: int, leaky: float | None) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(inp, out, kernel, 1, kernel // 2, bias=False), nn.BatchNorm2d(out)]
    if leaky is not None:
        layers.append(nn.LeakyReLU(negative_slope=leaky, inplace=True))
    return nn.Sequential(*layers)


class FeaturePyramid(nn.Module):
    def __init__(self, in_channels: tuple[int, int, int], out: int) -> None:
        super().__init__()
        self.output1 = _conv_bn(in_channels[0], out, 1, 0.0)
        self.output2 = _conv_bn(in_channels[1], out, 1, 0.0)
        self.output3 = _conv_bn(in_channels[2], out, 1, 0.0)
        self.merge1 = _conv_bn(out, out, 3, 0.0)
        self.merge2 = _conv_bn(out, out, 3, 0.0)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        first, second, third = self.output1(features[0]), self.output2(features[1]), self.output3(features[2])
        second = self.merge2(second + F.interpolate(third, size=second.shape[2:], mode="nearest"))
        first = self.merge1(first + F.interpolate(second, size=first.shape[2:], mode="nearest"))
        return [first, second, third]


class ContextModule(nn.Module):
    """SSH: 3×3, 5×5 and 7×7 receptive fields (as stacked 3×3 convolutions), concatenated."""

    def __init__(self, inp: int, out: int) -> None:
        super().__init__()
        self.conv3X3 = _conv_bn(inp, out // 2, 3, None)
        self.conv5X5_1 = _conv_bn(inp, out // 4, 3, 0.0)
        self.conv5X5_2 = _conv_bn(out // 4, out // 4, 3, None)
        self.conv7X7_2 = _conv_bn(out // 4, out // 4, 3, 0.0)
        self.conv7x7_3 = _conv_bn(out // 4, out // 4, 3, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        five_first = self.conv5X5_1(x)
        seven = self.conv7x7_3(self.conv7X7_2(five_first))
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(five_first), seven], dim=1))


class Head(nn.Module):
    def __init__(self, values: int) -> None:
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(CHANNELS, ANCHORS_PER_CELL * values, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1x1(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.values)


class RetinaFace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = IntermediateLayerGetter(resnet50(weights=None), {"layer2": 1, "layer3": 2, "layer4": 3})
        self.fpn = FeaturePyramid((512, 1024, 2048), CHANNELS)
        self.ssh1, self.ssh2, self.ssh3 = (ContextModule(CHANNELS, CHANNELS) for _ in range(3))
        self.ClassHead = nn.ModuleList(Head(2) for _ in range(3))
        self.BboxHead = nn.ModuleList(Head(4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(Head(10) for _ in range(3))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pyramid = self.fpn(list(self.body(image).values()))
        features = [self.ssh1(pyramid[0]), self.ssh2(pyramid[1]), self.ssh3(pyramid[2])]
        boxes = torch.cat([head(feature) for head, feature in zip(self.BboxHead, features, strict=True)], dim=1)
        scores = torch.cat([head(feature) for head, feature in zip(self.ClassHead, features, strict=True)], dim=1)
        marks = torch.cat([head(feature) for head, feature in zip(self.LandmarkHead, features, strict=True)], dim=1)
        return boxes, F.softmax(scores, dim=-1), marks


def prior_boxes(height: int, width: int) -> torch.Tensor:
    """(cx, cy, w, h) of every anchor, relative to the image, in the heads' output order."""
    anchors: list[list[float]] = []
    for step, sizes in zip(STEPS, MIN_SIZES, strict=True):
        for row, column in product(range(ceil(height / step)), range(ceil(width / step))):
            for size in sizes:
                anchors.append([(column + 0.5) * step / width, (row + 0.5) * step / height,
                                size / width, size / height])
    return torch.tensor(anchors)


def decode(boxes: torch.Tensor, marks: torch.Tensor, priors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    centres = priors[:, :2] + boxes[:, :2] * VARIANCES[0] * priors[:, 2:]
    sizes = priors[:, 2:] * torch.exp(boxes[:, 2:] * VARIANCES[1])
    corners = torch.cat([centres - sizes / 2, centres + sizes / 2], dim=1)
    points = torch.cat([priors[:, :2] + marks[:, 2 * index:2 * index + 2] * VARIANCES[0] * priors[:, 2:]
                        for index in range(5)], dim=1)
    return corners, points


def detect(network: RetinaFace, bgr: numpy.ndarray, threshold: float = 0.8, nms_threshold: float = 0.4
           ) -> list[FaceDetection]:
    """Faces in a BGR uint8 (H, W, 3) image, best first (facexlib's `detect_faces` on the original size)."""
    height, width = bgr.shape[:2]
    parameter = next(network.parameters())
    tensor = torch.from_numpy(bgr.astype(numpy.float32) - numpy.array(BGR_MEANS, dtype=numpy.float32))
    tensor = tensor.permute(2, 0, 1).unsqueeze(0).to(parameter.device, parameter.dtype)
    with torch.inference_mode():
        boxes, scores, marks = network(tensor)
    corners, points = decode(boxes[0].float().cpu(), marks[0].float().cpu(), prior_boxes(height, width))
    corners *= torch.tensor([width, height, width, height], dtype=torch.float32)
    points *= torch.tensor([width, height] * 5, dtype=torch.float32)
    confidence = scores[0, :, 1].float().cpu()
    keep = confidence > threshold
    corners, points, confidence = corners[keep], points[keep], confidence[keep]
    order = nms(corners, confidence, nms_threshold)
    faces = []
    for index in order.tolist():
        x1, y1, x2, y2 = (float(value) for value in corners[index])
        marks = tuple((float(points[index, 2 * mark]), float(points[index, 2 * mark + 1])) for mark in range(5))
        faces.append(FaceDetection((x1, y1, x2, y2), float(confidence[index]), marks))
    return faces


def build_retinaface(state_dict: dict, device: torch.device | str = "cpu") -> RetinaFace:
    """The detector with the file's weights (every key must fit: a partial load would detect nothing, silently)."""
    network = RetinaFace()
    result = network.load_state_dict(state_dict, strict=False)
    missing = [key for key in result.missing_keys if not key.endswith("num_batches_tracked")]  # older saves
    if missing or result.unexpected_keys:
        raise ValueError(f"not RetinaFace-ResNet50 weights: {len(missing)} missing keys (e.g. {missing[:2]}), "
                         f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:2]})")
    return network.eval().to(device)
