"""Face-restoration test helpers: a synthetic face, a detector that finds it, a restorer that paints it, and weight
files in the real layouts (random weights)."""

from __future__ import annotations

from pathlib import Path

import numpy
import torch
from PIL import Image, ImageDraw

from webui.engine.face_retinaface import FaceDetection

# The synthetic face: eyes, nose tip and mouth corners of a face drawn on a 96² canvas.
FACE_LANDMARKS = ((36.0, 40.0), (60.0, 40.0), (48.0, 52.0), (38.0, 64.0), (58.0, 64.0))
FACE_BOX = (24.0, 22.0, 72.0, 78.0)
BACKGROUND = (40, 120, 60)


def synthetic_face(size: int = 96) -> Image.Image:
    image = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.ellipse(FACE_BOX, fill=(230, 190, 160))
    for x, y in FACE_LANDMARKS[:2]:
        draw.ellipse((x - 4, y - 3, x + 4, y + 3), fill=(30, 30, 30))
    draw.line((FACE_LANDMARKS[3], FACE_LANDMARKS[4]), fill=(160, 40, 40), width=3)
    return image


class KnownFaceDetector:
    """Finds the synthetic face wherever the helper asks (it detects on an up-scaled copy)."""

    def __init__(self, original_width: int = 96) -> None:
        self.original_width = original_width
        self.calls = 0

    def detect(self, bgr: numpy.ndarray) -> list[FaceDetection]:
        self.calls += 1
        scale = bgr.shape[1] / self.original_width
        return [FaceDetection(tuple(value * scale for value in FACE_BOX), 0.99,  # type: ignore[arg-type]
                              tuple((x * scale, y * scale) for x, y in FACE_LANDMARKS))]


def flat_network(_name: str, _path: Path, _device: torch.device):
    """A 'restorer' that paints the face mid-blue: any change it makes is visible and easy to locate."""
    def restore(face: torch.Tensor, _weight: float) -> torch.Tensor:
        out = torch.empty_like(face)
        out[:, 0], out[:, 1], out[:, 2] = -0.6, -0.2, 0.8
        return out
    return restore


def place_files(models: Path, names: dict[str, str]) -> None:
    """Files that only need to exist (the loaders in use are seams that do not read them)."""
    for folder, name in names.items():
        (models / folder).mkdir(parents=True, exist_ok=True)
        (models / folder / name).write_bytes(b"placeholder")


def save_weights(path: Path, state_dict: dict, nest: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.half() if value.is_floating_point() else value for key, value in state_dict.items()}
    torch.save({nest: tensors} if nest else tensors, path)
    return path


