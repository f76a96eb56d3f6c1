"""Face-restoration test helpers: a synthetic face, a detector that finds it, a restorer that paints it, and weight
files in the real layouts (random weights)."""

from __future__ import annotations

from pathlib import Path

import numpy
import torch
from PIL import Image, ImageDraw

from webui.engine.face_retinaface import FaceDetection

# The synthetic face on a 192² canvas: eyes, nose tip and mouth corners. The aligned 512² crop spans ~100 pixels
# around it, so the canvas's outer band is background the restorer must never touch.
CANVAS = 192
FACE_LANDMARKS = ((84.0, 88.0), (108.0, 88.0), (96.0, 100.0), (86.0, 112.0), (106.0, 112.0))
FACE_BOX = (72.0, 70.0, 120.0, 126.0)
BACKGROUND = (40, 120, 60)


def synthetic_face(size: int = CANVAS) -> Image.Image:
    image = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.ellipse(FACE_BOX, fill=(230, 190, 160))
    for x, y in FACE_LANDMARKS[:2]:
        draw.ellipse((x - 4, y - 3, x + 4, y + 3), fill=(30, 30, 30))
    draw.line((FACE_LANDMARKS[3], FACE_LANDMARKS[4]), fill=(160, 40, 40), width=3)
    return image


class KnownFaceDetector:
    """Finds the synthetic face (at its place on the canvas, scaled to the image it is given: the helper detects
    on an up-scaled copy, and a 64² image gets it at the same relative place)."""

    def __init__(self, faces: int = 1) -> None:
        self.faces = faces
        self.calls = 0

    def detect(self, bgr: numpy.ndarray) -> list[FaceDetection]:
        self.calls += 1
        if not self.faces:
            return []
        scale = bgr.shape[1] / CANVAS
        return [FaceDetection(tuple(value * scale for value in FACE_BOX), 0.99,  # type: ignore[arg-type]
                              tuple((x * scale, y * scale) for x, y in FACE_LANDMARKS))]


class FlatNetworks:
    """A 'restorer' loader whose networks paint the face mid-blue (any change is visible and easy to locate), and
    remember what they were asked: which model, which CodeFormer weight, the input's range."""

    def __init__(self) -> None:
        self.loaded: list[str] = []
        self.weights: list[float] = []
        self.inputs: list[tuple[float, float]] = []

    def __call__(self, name: str, _path: Path, _device: torch.device):
        self.loaded.append(name)

        def restore(face: torch.Tensor, weight: float) -> torch.Tensor:
            self.weights.append(weight)
            self.inputs.append((float(face.min()), float(face.max())))
            out = torch.empty_like(face)
            out[:, 0], out[:, 1], out[:, 2] = -0.6, -0.2, 0.8
            return out
        return restore


def seamed_restorers(models: Path, faces: int = 1):
    """FaceRestorers over `models` with placeholder files, a detector that finds the synthetic face and flat
    networks (the real ones, with random weights, would find no face and take ~20 s per face on a CPU)."""
    from webui.engine.face_restore import FaceRestorers
    from webui.model_manager.face_models import FaceFolders

    place_files(models, {"GFPGAN": "GFPGANv1.4.pth", "Codeformer": "codeformer-v0.1.0.pth"})
    place_files(models, {"GFPGAN": "detection_Resnet50_Final.pth"})
    detector, networks = KnownFaceDetector(faces), FlatNetworks()
    restorers = FaceRestorers(FaceFolders(models), network_loader=networks,
                              detector_loader=lambda _path, _device: detector)
    return restorers, detector, networks


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


