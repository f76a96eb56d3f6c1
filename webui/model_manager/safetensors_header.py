"""Read a .safetensors header (tensor names, dtypes, shapes, metadata) without reading any weight.

The format is an 8-byte little-endian header length, a JSON header, then the raw tensor bytes. Reading only the
header lets us identify a 2 GB checkpoint in milliseconds, and lets us refuse a corrupt or truncated file with a
clear message before anything is loaded, so the model in use keeps serving.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own limit


class CheckpointFormatError(ValueError):
    """The file is not a readable checkpoint (corrupt, truncated, wrong format)."""


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class TensorIndex:
    """Names and shapes of a checkpoint's tensors, plus its free-form metadata."""

    tensors: Mapping[str, TensorInfo]
    metadata: Mapping[str, str]

    def shape(self, key: str) -> tuple[int, ...] | None:
        info = self.tensors.get(key)
        return info.shape if info else None

    def has_prefix(self, prefix: str) -> bool:
        return any(key.startswith(prefix) for key in self.tensors)


def read_safetensors_index(path: Path) -> TensorIndex:
    """Parse and validate the header; every tensor's byte range must lie inside the file."""
    file_size = path.stat().st_size
    with path.open("rb") as stream:
        raw_length = stream.read(8)
        if len(raw_length) != 8:
            raise CheckpointFormatError(f"{path.name}: file is too short to be a .safetensors file ({file_size} bytes)")
        (header_length,) = struct.unpack("<Q", raw_length)
        if header_length > MAX_HEADER_BYTES or 8 + header_length > file_size:
            raise CheckpointFormatError(
                f"{path.name}: corrupt or truncated .safetensors file (header of {header_length} bytes, "
                f"file of {file_size} bytes)")
        try:
            header = json.loads(stream.read(header_length))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CheckpointFormatError(f"{path.name}: corrupt .safetensors header: {error}") from error
    if not isinstance(header, dict):
        raise CheckpointFormatError(f"{path.name}: corrupt .safetensors header (not a JSON object)")
    return _index_from_header(path, header, data_size=file_size - 8 - header_length)


def _index_from_header(path: Path, header: dict, data_size: int) -> TensorIndex:
    metadata = header.pop("__metadata__", None) or {}
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        try:
            start, end = entry["data_offsets"]
            info = TensorInfo(str(entry["dtype"]), tuple(int(size) for size in entry["shape"]))
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointFormatError(f"{path.name}: corrupt entry for tensor {name!r}: {error}") from error
        if not 0 <= start <= end <= data_size:
            raise CheckpointFormatError(
                f"{path.name}: truncated file: tensor {name!r} needs bytes {start}–{end} "
                f"but only {data_size} bytes of data are present")
        tensors[name] = info
    if not tensors:
        raise CheckpointFormatError(f"{path.name}: the file holds no tensors")
    return TensorIndex(tensors, {str(k): str(v) for k, v in dict(metadata).items()})
