"""Face restoration (A1111's GFPGAN and CodeFormer): detect → align → restore each face → paste back.

The steps are A1111 v1.10's (`modules/face_restoration_utils.py` driving facexlib's helper): the image is flipped
to BGR, faces are found by RetinaFace on a copy scaled up to a 640-pixel short side, each is aligned onto the 512²
template, normalised to [-1, 1] and run through the network (GFPGAN: `net(face, return_rgb=False)[0]`; CodeFormer:
`net(face, weight=w)[0]`, w being A1111's "CodeFormer weight", 0 = strongest), and pasted back with a soft mask.

The networks come from spandrel (GFPGAN in spandrel itself, CodeFormer in `spandrel_extra_arches`, as A1111 uses
them), built from state dicts that `face_models` read weights-only; the detector is our own RetinaFace definition
of facexlib's file. Everything torch happens on the device thread (the job runners); loaded networks are kept so
a batch loads them once. The detector and the networks are seams (`FaceDetector`, `FaceNetworkLoader`) so tests can
put a known face where random weights would find none.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy
import torch
from PIL import Image

from webui.engine.face_align import align_face, detection_scale, paste_face, usable
from webui.engine.face_parsing import build_parsenet, face_mask
from webui.engine.face_retinaface import FaceDetection, build_retinaface, detect
from webui.model_manager.face_models import (
    CODEFORMER,
    DETECTION_FILE,
    GFPGAN,
    PARSING_FILE,
    RESTORER_NAMES,
    FaceFolders,
    FaceModelRefused,
    find_helper_file,
    installed_restorers,
    read_expected,
    require_helper_file,
    require_restorer_file,
)

FaceNetwork = Callable[[torch.Tensor, float], torch.Tensor]  # (1, 3, 512, 512) in [-1, 1], codeformer weight → same


class FaceDetector(Protocol):
    def detect(self, bgr: numpy.ndarray) -> list[FaceDetection]: ...


FaceParser = Callable[[numpy.ndarray], numpy.ndarray]  # restored 512² BGR face → its soft mask (512², 0–1)
FaceNetworkLoader = Callable[[str, Path, torch.device], FaceNetwork]
DetectorLoader = Callable[[Path, torch.device], FaceDetector]
ParserLoader = Callable[[Path, torch.device], FaceParser]


@dataclass(frozen=True)
class FaceRestoreOptions:
    """A1111's settings for face restoration in generation (`face_restoration_model`, `code_former_weight`)."""

    model: str = CODEFORMER
    codeformer_weight: float = 0.5


class RetinaFaceDetector:
    def __init__(self, path: Path, device: torch.device) -> None:
        self._network = build_retinaface(read_expected(path, "RetinaFace-ResNet50"), device)

    def detect(self, bgr: numpy.ndarray) -> list[FaceDetection]:
        return detect(self._network, bgr)


def load_retinaface(path: Path, device: torch.device) -> FaceDetector:
    return RetinaFaceDetector(path, device)


def load_parsenet(path: Path, device: torch.device) -> FaceParser:
    network = build_parsenet(read_expected(path, "ParseNet"), device)
    return lambda restored: face_mask(network, restored)


def require_codeformer_architecture(path: Path) -> None:
    """CodeFormer's network ships in spandrel-extra-arches (as in A1111), not in spandrel itself."""
    if importlib.util.find_spec("spandrel_extra_arches") is None:
        raise FaceModelRefused(path.name, "CodeFormer needs the spandrel-extra-arches package (A1111 uses it too); "
                                          "install it with pip")


def spandrel_descriptor(name: str, path: Path):
    """spandrel's model for a GFPGAN or CodeFormer file (its architecture checked against the name)."""
    import spandrel

    state_dict = read_expected(path, name)
    if name == GFPGAN:
        registry = spandrel.MAIN_REGISTRY
    else:
        require_codeformer_architecture(path)
        from spandrel_extra_arches import EXTRA_REGISTRY

        registry = EXTRA_REGISTRY
    try:
        descriptor = registry.load(spandrel.canonicalize_state_dict(state_dict))
    except (spandrel.UnsupportedModelError, RuntimeError, KeyError, ValueError) as error:
        raise FaceModelRefused(path.name, f"its weights do not fit spandrel's {name} ({type(error).__name__})"
                               ) from error
    if descriptor.architecture.id != name:
        raise FaceModelRefused(path.name, f"spandrel reads it as {descriptor.architecture.id}, not {name}")
    return descriptor


def load_spandrel_network(name: str, path: Path, device: torch.device) -> FaceNetwork:
    model = spandrel_descriptor(name, path).model.eval().to(device)
    if name == GFPGAN:
        return lambda face, _weight: model(face, return_rgb=False)[0]
    return lambda face, weight: model(face, weight=weight)[0]


def to_network_input(crop_bgr: numpy.ndarray, device: torch.device) -> torch.Tensor:
    rgb = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB).astype(numpy.float32) / 255.0
    return (torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0) * 2.0 - 1.0).to(device)


def from_network_output(face: torch.Tensor) -> numpy.ndarray:
    rgb = ((face[0].float().detach().cpu().clamp(-1, 1) + 1.0) / 2.0).permute(1, 2, 0).numpy()
    return cv2.cvtColor(numpy.rint(rgb * 255.0).astype(numpy.uint8), cv2.COLOR_RGB2BGR)


def find_faces(detector: FaceDetector, bgr: numpy.ndarray) -> list[FaceDetection]:
    """Detect on the up-scaled copy, then back to the image's pixels; tiny faces are dropped (A1111's helper)."""
    height, width = bgr.shape[:2]
    scale = detection_scale(height, width)
    scaled = bgr if scale == 1 else cv2.resize(bgr, (int(width * scale), int(height * scale)),
                                               interpolation=cv2.INTER_LINEAR)
    faces = []
    for found in detector.detect(scaled):
        marks = tuple((x / scale, y / scale) for x, y in found.landmarks)
        if usable(marks):
            x1, y1, x2, y2 = (value / scale for value in found.box)
            faces.append(FaceDetection((x1, y1, x2, y2), found.score, marks))
    return faces


class FaceRestorers:
    """GFPGAN and CodeFormer over the files in A1111's folders; loaded on first use, kept for the next image."""

    def __init__(self, folders: FaceFolders, device: str = "cpu",
                 network_loader: FaceNetworkLoader = load_spandrel_network,
                 detector_loader: DetectorLoader = load_retinaface,
                 parser_loader: ParserLoader = load_parsenet) -> None:
        self._folders = folders
        self._device = torch.device(device)
        self._network_loader = network_loader
        self._detector_loader = detector_loader
        self._parser_loader = parser_loader
        self._lock = threading.Lock()
        self._networks: dict[str, FaceNetwork] = {}
        self._detector: FaceDetector | None = None
        self._parser: tuple[Path, FaceParser] | None = None

    @property
    def folders(self) -> FaceFolders:
        return self._folders

    def names(self) -> tuple[str, ...]:
        return RESTORER_NAMES

    def installed(self) -> list[str]:
        """Restorers whose weights are in their folders (a file listing; never loads anything)."""
        return installed_restorers(self._folders)

    def check(self, name: str) -> None:
        """Fail before any work when a file is missing: FaceModelMissing names the file and the folder."""
        path = require_restorer_file(self._folders, name)
        require_helper_file(self._folders, DETECTION_FILE, f"face detection for {name}")
        if name == CODEFORMER and self._network_loader is load_spandrel_network:
            require_codeformer_architecture(path)

    def restore(self, image: Image.Image, name: str, codeformer_weight: float = 0.5) -> Image.Image:
        """Every face found restored; an image without faces comes back unchanged (the same pixels)."""
        self.check(name)
        network, detector, parser = self._network(name), self._face_detector(), self._face_parser()
        bgr = numpy.ascontiguousarray(numpy.asarray(image.convert("RGB"))[:, :, ::-1])
        result = bgr
        for face in find_faces(detector, bgr):
            aligned = align_face(bgr, face.landmarks)
            with torch.inference_mode():
                restored = network(to_network_input(aligned.crop, self._device), codeformer_weight)
            restored_bgr = from_network_output(restored)
            mask = parser(restored_bgr) if parser is not None else None
            result = paste_face(result, restored_bgr, aligned.affine, mask)
        if result is bgr:
            return image.convert("RGB")
        return Image.fromarray(numpy.ascontiguousarray(result[:, :, ::-1]), "RGB")

    def unload(self) -> None:
        with self._lock:
            self._networks.clear()
            self._detector = None
            self._parser = None

    def _network(self, name: str) -> FaceNetwork:
        with self._lock:
            known = self._networks.get(name)
        if known is None:
            known = self._network_loader(name, require_restorer_file(self._folders, name), self._device)
            with self._lock:
                self._networks[name] = known
        return known

    def _face_detector(self) -> FaceDetector:
        with self._lock:
            known = self._detector
        if known is None:
            path = require_helper_file(self._folders, DETECTION_FILE, "face detection")
            known = self._detector_loader(path, self._device)
            with self._lock:
                self._detector = known
        return known

    def _face_parser(self) -> FaceParser | None:
        """ParseNet when `parsing_parsenet.pth` is installed (A1111 always uses it); without it the paste-back
        mask is the aligned square, eroded and blurred (the helper's mask without a parser)."""
        path = find_helper_file(self._folders, PARSING_FILE)
        if path is None:
            return None
        with self._lock:
            known = self._parser
        if known is None or known[0] != path:
            known = (path, self._parser_loader(path, self._device))
            with self._lock:
                self._parser = known
        return known[1]
