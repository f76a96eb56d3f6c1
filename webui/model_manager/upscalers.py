"""Upscaler models in A1111's folders (`models/ESRGAN/`, `models/RealESRGAN/`, `models/SwinIR/`, ...), recognised
and built by spandrel.

Three separate jobs, as for checkpoints: *discovery* lists `.pth`/`.safetensors` files and names them the way A1111
does (the file name, or A1111's name for the official Real-ESRGAN releases so infotexts match); *reading* goes
through our own safe readers — `.safetensors` with its header validated, `.pth` with `torch.load(weights_only=True)`
only — and spandrel only ever receives a state dict (never a path, so nothing it does can unpickle); *loading*
asks spandrel's architecture registry to recognise the weights (ESRGAN/RRDB old and new layouts, Real-ESRGAN
Compact, SwinIR, DAT, ...) and keeps the last model used, so the tiles of one image and the images of a batch do
not reload it.

Loading and running a model is torch work on the device thread (the callers see to it). `details` is not: list
routes call it from any thread (see its docstring).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from webui.model_manager.checkpoint_files import UnsafeCheckpointError
from webui.model_manager.loaders import LoaderRegistry, default_loaders
from webui.model_manager.safetensors_header import CheckpointFormatError

log = logging.getLogger(__name__)
UPSCALER_EXTENSIONS = (".pth", ".safetensors")
# A1111's names for the official Real-ESRGAN release files (modules/realesrgan_model.py): a user who drops
# RealESRGAN_x4plus_anime_6B.pth into models/RealESRGAN/ gets "R-ESRGAN 4x+ Anime6B", as in A1111.
REALESRGAN_RELEASE_NAMES = {
    "realesr-general-x4v3": "R-ESRGAN General 4xV3",
    "realesr-general-wdn-x4v3": "R-ESRGAN General WDN 4xV3",
    "realesr-animevideov3": "R-ESRGAN AnimeVideo",
    "RealESRGAN_x4plus": "R-ESRGAN 4x+",
    "RealESRGAN_x4plus_anime_6B": "R-ESRGAN 4x+ Anime6B",
    "RealESRGAN_x2plus": "R-ESRGAN 2x+",
}
UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")
FEATURES_TAG = re.compile(r"^(\d+)nf$")  # spandrel tags a model's feature width as e.g. "64nf"


class UpscalerLoadError(CheckpointFormatError):
    """An upscaler file that could not be read or is not an image-upscaling architecture spandrel knows."""


@dataclass(frozen=True)
class UpscalerRecord:
    """One upscaler model file, named as A1111 lists it."""

    name: str
    path: Path
    folder: str          # A1111's folder (and upscaler family) name: "ESRGAN", "RealESRGAN", "SwinIR", ...


@dataclass(frozen=True)
class UpscalerDetails:
    """What spandrel recognised in the weights."""

    architecture: str    # spandrel's architecture name, e.g. "ESRGAN", "RealESRGAN Compact", "SwinIR"
    scale: int
    input_channels: int
    output_channels: int
    features: int | None  # the model's feature width when spandrel reports it (drives the tile-size policy)
    supports_half: bool


@dataclass
class LoadedUpscaler:
    record: UpscalerRecord
    details: UpscalerDetails
    model: Any           # spandrel's ImageModelDescriptor: call it with a (1, C, H, W) tensor in [0, 1]


def display_name(path: Path, folder: str) -> str:
    if folder == "RealESRGAN" and path.stem in REALESRGAN_RELEASE_NAMES:
        return REALESRGAN_RELEASE_NAMES[path.stem]
    return path.stem


def discover_upscalers(folders: Mapping[str, Path]) -> list[UpscalerRecord]:
    """Every upscaler file under the folders (searched recursively), in folder order then by path. A name seen
    twice gets its folder added ("4x-Foo (SwinIR)") so that every name picks exactly one file."""
    records: list[UpscalerRecord] = []
    taken: set[str] = set()
    for folder_name, folder in folders.items():
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix.lower() not in UPSCALER_EXTENSIONS:
                continue
            name = display_name(path, folder_name)
            if name in taken:
                name = f"{name} ({folder_name})"
            if name in taken:
                log.warning("upscaler %s ignored: the name %r is taken", path, name)
                continue
            taken.add(name)
            records.append(UpscalerRecord(name, path, folder_name))
    return records


def read_upscaler_state_dict(path: Path, loaders: LoaderRegistry | None = None) -> dict[str, Any]:
    """The file's tensors, read safely: safetensors after a header check, pickles weights-only (a file that needs
    anything beyond tensors and plain containers is refused, and nothing in it runs)."""
    if path.suffix.lower() not in UPSCALER_EXTENSIONS:
        raise UpscalerLoadError(f"{path.name}: unsupported upscaler file type; allowed: "
                                f"{', '.join(UPSCALER_EXTENSIONS)}")
    try:
        loaded = (loaders or default_loaders()).read("upscaler", path)
    except UnsafeCheckpointError as error:
        asked = UNSUPPORTED_GLOBAL.search(str(error.__cause__ or error))
        what = f"asks for {asked.group(1)}, which is code, not tensors" if asked else "needs more than tensors"
        raise UpscalerLoadError(f"{path.name}: refused: upscaler .pth files are only ever read weights-only and this "
                                f"one {what}; nothing in it was run. Use a .safetensors version of the model."
                                ) from error
    except CheckpointFormatError as error:
        if isinstance(error, UpscalerLoadError):
            raise
        raise UpscalerLoadError(str(error)) from error
    if not isinstance(loaded, Mapping):
        raise UpscalerLoadError(f"{path.name}: holds a {type(loaded).__name__}, not a state dict of tensors")
    return dict(loaded)


def build_upscaler_model(state_dict: Mapping[str, Any], source: str):
    """spandrel's descriptor for a state dict: the architecture and its hyper-parameters are read from the keys
    and shapes. Only image-to-image models with a scale (super-resolution or restoration) are accepted."""
    import spandrel  # imported here: it registers ~40 architectures (over a second), needed only once one is used

    canonical = spandrel.canonicalize_state_dict(dict(state_dict))
    try:
        descriptor = spandrel.MAIN_REGISTRY.load(canonical)
    except spandrel.UnsupportedModelError as error:
        raise UpscalerLoadError(f"{source}: not an upscaler architecture that spandrel {spandrel.__version__} "
                                "recognises (ESRGAN, Real-ESRGAN, SwinIR, DAT, ...)") from error
    except (RuntimeError, KeyError, ValueError, IndexError, AssertionError) as error:
        raise UpscalerLoadError(f"{source}: looks like an upscaler but its weights do not fit the architecture "
                                f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
                                ) from error
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose not in ("SR", "Restoration"):
        raise UpscalerLoadError(f"{source}: a {descriptor.architecture.name} model ({descriptor.purpose}) is not an "
                                "image upscaler")
    return descriptor.eval()


def describe_model(descriptor) -> UpscalerDetails:
    features = next((int(match.group(1)) for tag in descriptor.tags if (match := FEATURES_TAG.match(tag))), None)
    return UpscalerDetails(descriptor.architecture.name, int(descriptor.scale), int(descriptor.input_channels),
                           int(descriptor.output_channels), features, bool(descriptor.supports_half))


class UpscalerLibrary:
    """The upscaler files of the A1111 folders, and the model last used (kept, so a batch loads it once)."""

    def __init__(self, folders: Mapping[str, Path], device: str = "cpu", half: bool = False,
                 loaders: LoaderRegistry | None = None) -> None:
        self._folders = dict(folders)
        self._loaders = loaders or default_loaders()
        self._device = device
        self._half = half                # fp16 on CUDA when the plan says so and the architecture supports it
        self._lock = threading.Lock()
        self._records: list[UpscalerRecord] = []
        self._details: dict[tuple[str, int, float], UpscalerDetails] = {}
        self._describing = threading.Lock()  # one file is read to describe it at a time, and each only once
        self._loaded: LoadedUpscaler | None = None

    @property
    def folders(self) -> dict[str, Path]:
        return dict(self._folders)

    def refresh(self) -> list[UpscalerRecord]:
        records = discover_upscalers(self._folders)
        with self._lock:
            self._records = records
            if self._loaded is not None and self._loaded.record not in records:
                self._loaded = None
        return records

    @property
    def records(self) -> list[UpscalerRecord]:
        with self._lock:
            return list(self._records)

    def find(self, name: str) -> UpscalerRecord | None:
        """The record called `name`; the folders are scanned again first if it is not known (a file just added)."""
        for records in (self.records, None):
            if records is None:
                records = self.refresh()
            found = next((record for record in records if record.name == name), None)
            if found is not None:
                return found
        return None

    def details(self, record: UpscalerRecord) -> UpscalerDetails:
        """Architecture and scale, for list routes: callable from any thread, never needs the device.

        Cached per file version (path, size, mtime). On a miss the weights are read (safely, as for loading) and
        spandrel recognises the architecture on the CPU, on the caller's thread, once per file version; the model
        built to find out is dropped at once (it is never moved to the device). A file's scale is not in its
        metadata (a `.pth` has none), so this is the one way to learn it. Raises `UpscalerLoadError` for a file
        that is not an upscaler. Thread-safe: a concurrent `load` on the device thread is not disturbed."""
        key = _identity(record.path)
        with self._lock:
            known = self._details.get(key)
        if known is not None:
            return known
        with self._describing:
            with self._lock:
                known = self._details.get(key)
            if known is None:
                known = describe_model(build_upscaler_model(read_upscaler_state_dict(record.path, self._loaders),
                                                               record.path.name))
                with self._lock:
                    self._details[key] = known
        return known

    def cached_details(self, record: UpscalerRecord) -> UpscalerDetails | None:
        """The details if already known for this file version (no file is read); None otherwise."""
        with self._lock:
            return self._details.get(_identity(record.path))

    def load(self, record: UpscalerRecord) -> LoadedUpscaler:
        with self._lock:
            if self._loaded is not None and self._loaded.record == record:
                return self._loaded
        descriptor = build_upscaler_model(read_upscaler_state_dict(record.path, self._loaders), record.path.name)
        details = describe_model(descriptor)
        dtype = torch.float16 if self._half and details.supports_half else torch.float32
        loaded = LoadedUpscaler(record, details, descriptor.to(device=torch.device(self._device), dtype=dtype))
        log.info("upscaler %s: %s %dx (%s)", record.name, details.architecture, details.scale, record.path)
        with self._lock:
            self._details[_identity(record.path)] = details
            self._loaded = loaded
        return loaded

    def unload(self) -> None:
        with self._lock:
            self._loaded = None


def _identity(path: Path) -> tuple[str, int, float]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime
