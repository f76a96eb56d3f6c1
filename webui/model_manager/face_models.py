"""Face-restoration model files in A1111's folders: which file is which, read safely, recognised by their keys.

A1111 v1.10 keeps GFPGAN in `models/GFPGAN/` (it downloads `GFPGANv1.4.pth`; any `.pth` whose name holds "GFPGAN"
is used) and CodeFormer in `models/Codeformer/` (`codeformer-v0.1.0.pth`). facexlib's helper weights — the
RetinaFace detector `detection_Resnet50_Final.pth` and the face parser `parsing_parsenet.pth` — are saved by A1111
into `models/GFPGAN/` (its `patch_facexlib`); we also look in `models/Codeformer/` and `models/facexlib/`, so a
user who copied them anywhere A1111 ever put them is served. Nothing is ever downloaded: a missing file is a
`FaceModelMissing` (422) naming the file and the folder to put it in.

Reading is weights-only (`.pth` through `torch.load(weights_only=True)`, `.safetensors` with its header checked),
through the same loader registry as upscalers; the files' own nesting (`params_ema`, `params`, `state_dict`,
`module.` prefixes) is unwrapped here so the engine receives one flat state dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webui.errors import CheckpointRefused, ModelMissing
from webui.model_manager.checkpoint_files import UnsafeCheckpointError
from webui.model_manager.loaders import LoaderRegistry, default_loaders
from webui.model_manager.safetensors_header import CheckpointFormatError

GFPGAN, CODEFORMER = "GFPGAN", "CodeFormer"
RESTORER_NAMES = (CODEFORMER, GFPGAN)   # A1111's order of shared.face_restorers
RESTORER_FILES = {GFPGAN: "GFPGANv1.4.pth", CODEFORMER: "codeformer-v0.1.0.pth"}
RESTORER_FOLDERS = {GFPGAN: "GFPGAN", CODEFORMER: "Codeformer"}  # under models/
DETECTION_FILE = "detection_Resnet50_Final.pth"
PARSING_FILE = "parsing_parsenet.pth"
HELPER_FOLDERS = ("GFPGAN", "Codeformer", "facexlib")  # where A1111 (patch_facexlib) and facexlib keep them
WEIGHT_SUFFIXES = (".pth", ".safetensors")
NESTING_KEYS = ("params_ema", "params", "state_dict", "model")

# Keys that identify each layout (all must be present).
LAYOUT_KEYS = {
    GFPGAN: ("toRGB.0.weight", "stylegan_decoder.style_mlp.1.weight"),
    CODEFORMER: ("position_emb", "idx_pred_layer.1.weight", "quantize.embedding.weight"),
    "RetinaFace-ResNet50": ("body.conv1.weight", "fpn.output1.0.weight", "ssh1.conv3X3.0.weight",
                            "ClassHead.0.conv1x1.weight", "LandmarkHead.0.conv1x1.weight"),
    "ParseNet": ("encoder.0.conv2d.weight", "out_img_conv.conv2d.weight", "out_mask_conv.conv2d.weight"),
}


class FaceModelMissing(ModelMissing):
    """A face-restoration weight file is not installed. 422: the request asked for work this instance cannot do
    until the user copies the file; the message says which file and where."""

    http_status = 422

    def __init__(self, what: str, file_name: str, folder: Path) -> None:
        ModelMissing.__init__(self, what, file_name)
        self.message = (f"{what} needs {file_name}, which is not installed: put {file_name} in {folder} "
                        "(Kestrel never downloads it)")
        self.args = (self.message,)
        self.folder = folder


class FaceModelRefused(CheckpointRefused):
    """The file is there but cannot be used (unsafe pickle, corrupt, or another architecture)."""


@dataclass(frozen=True)
class FaceFolders:
    """`models/` of the data directory; every face folder is a name under it."""

    models: Path

    def restorer_folder(self, name: str) -> Path:
        return self.models / RESTORER_FOLDERS[name]

    def helper_folders(self) -> list[Path]:
        return [self.models / folder for folder in HELPER_FOLDERS]


def _weight_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in WEIGHT_SUFFIXES)


def find_restorer_file(folders: FaceFolders, name: str) -> Path | None:
    """A1111's file first (`GFPGANv1.4.pth`, `codeformer-v0.1.0.pth`), else another file of the family in its
    folder (A1111 takes any `.pth` holding "GFPGAN"; for CodeFormer one holding "codeformer")."""
    folder = folders.restorer_folder(name)
    files = _weight_files(folder)
    wanted = RESTORER_FILES[name]
    exact = next((path for path in files if path.name == wanted), None)
    if exact is not None:
        return exact
    family = name.lower()
    return next((path for path in files if family in path.name.lower()), None)


def find_helper_file(folders: FaceFolders, file_name: str) -> Path | None:
    for folder in folders.helper_folders():
        candidate = folder / file_name
        if candidate.is_file():
            return candidate
    return None


def require_restorer_file(folders: FaceFolders, name: str) -> Path:
    if name not in RESTORER_FILES:
        raise ModelMissing("face restorer", name, RESTORER_NAMES)
    found = find_restorer_file(folders, name)
    if found is None:
        raise FaceModelMissing(f"face restoration with {name}", RESTORER_FILES[name], folders.restorer_folder(name))
    return found


def require_helper_file(folders: FaceFolders, file_name: str, what: str) -> Path:
    found = find_helper_file(folders, file_name)
    if found is None:
        raise FaceModelMissing(what, file_name, folders.helper_folders()[0])
    return found


def installed_restorers(folders: FaceFolders) -> list[str]:
    """The restorers whose weights are present, in A1111's order (the detector is checked when one runs)."""
    return [name for name in RESTORER_NAMES if find_restorer_file(folders, name) is not None]


def flatten_state_dict(loaded: object, source: str) -> dict[str, Any]:
    """One flat {key: tensor}: the release files nest their weights (`params_ema`, ...) and a model saved from
    `DataParallel` prefixes every key with `module.`."""
    if not isinstance(loaded, Mapping):
        raise FaceModelRefused(source, f"holds a {type(loaded).__name__}, not a state dict of tensors")
    current: Mapping[str, Any] = loaded
    for key in NESTING_KEYS:
        inner = current.get(key)
        if isinstance(inner, Mapping):
            current = inner
            break
    return {(key[len("module."):] if key.startswith("module.") else key): value for key, value in current.items()}


def read_face_weights(path: Path, loaders: LoaderRegistry | None = None) -> dict[str, Any]:
    """The file's tensors, read weights-only; anything that asks for code is refused and nothing of it runs."""
    try:
        loaded = (loaders or default_loaders()).read("upscaler", path)
    except UnsafeCheckpointError as error:
        raise FaceModelRefused(path.name, "refused: .pth files are only read weights-only and this one needs "
                                          "more than tensors; nothing in it was run") from error
    except CheckpointFormatError as error:
        raise FaceModelRefused(path.name, str(error)) from error
    return flatten_state_dict(loaded, path.name)


def probe_layout(state_dict: Mapping[str, Any]) -> str | None:
    """Which face model a state dict holds, from its key names alone: "GFPGAN", "CodeFormer",
    "RetinaFace-ResNet50", "ParseNet", or None."""
    return next((layout for layout, keys in LAYOUT_KEYS.items() if all(key in state_dict for key in keys)), None)


def read_expected(path: Path, layout: str, loaders: LoaderRegistry | None = None) -> dict[str, Any]:
    """The weights of `path`, which must hold `layout` (a GFPGAN file in the detector's place is refused)."""
    state_dict = read_face_weights(path, loaders)
    found = probe_layout(state_dict)
    if found != layout:
        raise FaceModelRefused(path.name, f"expected {layout} weights, found {found or 'an unknown layout'}")
    return state_dict
