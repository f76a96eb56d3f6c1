"""Read checkpoint files safely: a registry of readers by file extension.

`.safetensors` is memory-mapped (a 2 GB file costs almost no RAM until used). `.ckpt`/`.pt` pickles go through
`torch.load(weights_only=True)` and nothing else: a pickle that needs any global beyond plain tensors and
containers is refused with the name of what it asked for, so a downloaded checkpoint can never run code.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch

from webui.model_manager.safetensors_header import (
    CheckpointFormatError,
    TensorIndex,
    TensorInfo,
    read_safetensors_index,
)

StateDict = dict[str, torch.Tensor]


class UnsafeCheckpointError(CheckpointFormatError):
    """A pickle checkpoint asked for something other than tensors; it was not loaded."""


@dataclass(frozen=True)
class CheckpointReader:
    extensions: tuple[str, ...]
    read_index: Callable[[Path], TensorIndex]
    read_state_dict: Callable[[Path], StateDict]


MAX_PICKLE_PROGRAM_BYTES = 64 * 1024 * 1024  # an SD state dict's pickle is a few hundred KB; tensors live beside it


def _check_pickle_structure(path: Path) -> bool:
    """Before unpickling: a zip checkpoint must be PyTorch's layout (one `*/data.pkl`) with a pickle program of
    sane size. Returns whether it is a zip file (which can be memory-mapped)."""
    if not zipfile.is_zipfile(path):
        if path.stat().st_size > 16 * 1024**3:
            raise CheckpointFormatError(f"{path.name}: a legacy (non-zip) pickle over 16 GiB is not a checkpoint")
        return False
    with zipfile.ZipFile(path) as archive:
        programs = [info for info in archive.infolist() if info.filename.endswith("/data.pkl")]
    if len(programs) != 1:
        raise CheckpointFormatError(f"{path.name}: not a PyTorch checkpoint (expected one data.pkl, found "
                                    f"{len(programs)})")
    if programs[0].file_size > MAX_PICKLE_PROGRAM_BYTES:
        raise UnsafeCheckpointError(f"{path.name}: refused: its pickle program is {programs[0].file_size} bytes; "
                                    "a checkpoint's is far smaller, so this file carries something else")
    return True


def _load_pickle_weights_only(path: Path) -> StateDict:
    return _unwrap_state_dict(path, load_pickle_object(path))


def load_pickle_object(path: Path) -> object:
    """A `.pt`/`.ckpt` pickle loaded weights-only (tensors, numbers, strings and containers — never code), after
    the structure checks. For files that are not flat state dicts (A1111 embeddings nest their vectors)."""
    try:
        use_mmap = _check_pickle_structure(path)  # the legacy (pre-1.6) format cannot be memory-mapped
    except (zipfile.BadZipFile, OSError) as error:
        raise CheckpointFormatError(f"{path.name}: corrupt or truncated checkpoint: {error}") from error
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=use_mmap)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f"{path.name}: refused: this .ckpt needs more than plain tensors to load, and pickles are only ever "
            f"loaded weights-only here ({str(error).splitlines()[0]}). Use a .safetensors version of this model."
        ) from error
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as error:
        raise CheckpointFormatError(f"{path.name}: corrupt or truncated checkpoint: {error}") from error
    return loaded


def _unwrap_state_dict(path: Path, loaded: object) -> StateDict:
    """A1111/Lightning files nest the weights under "state_dict"; anything else is not a checkpoint."""
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise CheckpointFormatError(f"{path.name}: holds a {type(loaded).__name__}, not a state dict of tensors")
    tensors = {str(key): value for key, value in loaded.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise CheckpointFormatError(f"{path.name}: the file holds no tensors")
    return tensors


def _index_from_pickle(path: Path) -> TensorIndex:
    tensors = _load_pickle_weights_only(path)
    infos = {key: TensorInfo(str(value.dtype).removeprefix("torch."), tuple(value.shape))
             for key, value in tensors.items()}
    return TensorIndex(infos, {})


def _load_safetensors(path: Path) -> StateDict:
    read_safetensors_index(path)  # validates the header and every byte range first
    try:
        return safetensors.torch.load_file(str(path), device="cpu")
    except Exception as error:  # safetensors raises its own SafetensorError and OSError variants
        raise CheckpointFormatError(f"{path.name}: corrupt .safetensors file: {error}") from error


SAFETENSORS_READER = CheckpointReader((".safetensors",), read_safetensors_index, _load_safetensors)
PICKLE_READER = CheckpointReader((".ckpt", ".pt", ".pth", ".bin"), _index_from_pickle, _load_pickle_weights_only)


class CheckpointReaders:
    """Registry of readers keyed by extension; registering an extension twice raises."""

    def __init__(self, readers: tuple[CheckpointReader, ...] = (SAFETENSORS_READER, PICKLE_READER)) -> None:
        self._by_extension: dict[str, CheckpointReader] = {}
        for reader in readers:
            for extension in reader.extensions:
                if extension in self._by_extension:
                    raise ValueError(f"two checkpoint readers for {extension}")
                self._by_extension[extension] = reader

    def for_path(self, path: Path) -> CheckpointReader:
        try:
            return self._by_extension[path.suffix.lower()]
        except KeyError:
            allowed = ", ".join(sorted(self._by_extension))
            raise CheckpointFormatError(f"{path.name}: unsupported file type; allowed: {allowed}") from None

    def read_index(self, path: Path) -> TensorIndex:
        return self.for_path(path).read_index(path)

    def read_state_dict(self, path: Path) -> StateDict:
        return self.for_path(path).read_state_dict(path)
