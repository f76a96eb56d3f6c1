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

# Bounds checked before the header is parsed, so a hostile file costs at most one 16 MiB read and no JSON work.
# A real SD 1.5 checkpoint's header is 100-200 KB (~1,100 tensors, ~2,000 with EMA weights); SDXL's ~2,500
# tensors stay under 400 KB; the largest LoRA/LyCORIS files seen carry ~10,000 entries (~1.5 MB). 16 MiB and
# 100,000 entries leave a margin of ten times or more over any real file, while an 89 MB header of 1.5 M entries
# (which took 47 s and ~1 GB of RAM to parse) is refused at once. The safetensors library's own cap is 100 MB.
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_HEADER_ENTRIES = 100_000


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


def read_safetensors_header(path: Path) -> tuple[dict, int]:
    """The parsed JSON header and the size of the data after it, within the bounds above (checked on the raw
    bytes, before any parsing). Pure file reading: safe on any thread."""
    file_size = path.stat().st_size
    if file_size == 0:
        raise CheckpointFormatError(f"{path.name}: the file is empty")
    with path.open("rb") as stream:
        raw_length = stream.read(8)
        if len(raw_length) != 8:
            raise CheckpointFormatError(f"{path.name}: file is too short to be a .safetensors file ({file_size} bytes)")
        (header_length,) = struct.unpack("<Q", raw_length)
        if header_length > MAX_HEADER_BYTES:
            raise CheckpointFormatError(
                f"{path.name}: refused: its header is {header_length} bytes, over the {MAX_HEADER_BYTES} byte limit "
                "(a real checkpoint's header is a few hundred KB)")
        if 8 + header_length > file_size:
            raise CheckpointFormatError(
                f"{path.name}: corrupt or truncated .safetensors file (header of {header_length} bytes, "
                f"file of {file_size} bytes)")
        raw = stream.read(header_length)
    entries = raw.count(b'"data_offsets"')  # one per tensor: an upper bound on the entries, without parsing
    if entries > MAX_HEADER_ENTRIES:
        raise CheckpointFormatError(f"{path.name}: refused: its header lists about {entries} tensors, over the "
                                    f"{MAX_HEADER_ENTRIES} limit (a real checkpoint has a few thousand)")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CheckpointFormatError(f"{path.name}: corrupt .safetensors header: {error}") from error
    if not isinstance(header, dict):
        raise CheckpointFormatError(f"{path.name}: corrupt .safetensors header (not a JSON object)")
    return header, file_size - 8 - header_length


def read_safetensors_index(path: Path) -> TensorIndex:
    """Parse and validate the header; every tensor's byte range must lie inside the file."""
    header, data_size = read_safetensors_header(path)
    return _index_from_header(path, header, data_size)


def _index_from_header(path: Path, header: dict, data_size: int) -> TensorIndex:
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CheckpointFormatError(f"{path.name}: corrupt .safetensors header (__metadata__ is not an object)")
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        try:
            start, end = (int(offset) for offset in entry["data_offsets"])
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
