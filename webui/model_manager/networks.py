"""Catalogues of A1111's "extra networks": LoRA files in `models/Lora/` and textual-inversion embeddings in
`embeddings/`.

Both are found by name in prompts (`<lora:name:w>`, an embedding's file name), so each catalogue maps names to
files, reads them safely (safetensors, or pickles weights-only) and gives A1111's short hashes for the infotext:
LoRA = the safetensors `sshs_model_hash` metadata or the kohya "addnet" hash (sha256 of the tensor bytes only),
embedding = sha256 of the file; both 12 hex characters.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.hashing import HashCache, sha256_of_file
from webui.model_manager.loaders import LoaderRegistry, default_loaders
from webui.model_manager.safetensors_header import (
    CheckpointFormatError,
    TensorIndex,
    read_safetensors_header,
    read_safetensors_index,
)

log = logging.getLogger(__name__)
NETWORK_HASH_LENGTH = 12
LORA_EXTENSIONS = (".safetensors", ".pt", ".ckpt", ".bin")
EMBEDDING_EXTENSIONS = (".safetensors", ".pt", ".bin")


def _scan(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in extensions
                  and not path.name.endswith(".preview.png"))


def _file_identity(path: Path) -> tuple[str, int, float]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime


def safetensors_metadata(path: Path) -> dict[str, str]:
    if path.suffix.lower() != ".safetensors":
        return {}
    try:
        header, _ = read_safetensors_header(path)  # bounded: a header bomb is refused before it is parsed
    except OSError as error:
        raise CheckpointFormatError(f"{path.name}: unreadable safetensors header: {error}") from error
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict):
        return {}
    return {str(key): str(value) for key, value in (metadata or {}).items()}


def addnet_hash(path: Path) -> str:
    """kohya's hash: sha256 of everything after the 8-byte length and the JSON header (metadata edits keep it)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        handle.seek(8 + length)
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class LoraRecord:
    name: str                     # file name without extension: what `<lora:name>` uses
    path: Path
    alias: str | None = None      # kohya's `ss_output_name`
    metadata: Mapping[str, str] = field(default_factory=dict)


class LoraLibrary:
    def __init__(self, folder: Path, readers: CheckpointReaders | None = None,
                 loaders: LoaderRegistry | None = None) -> None:
        self._folder = folder
        self._loaders = loaders or default_loaders(readers)
        self._records: list[LoraRecord] = []
        self._hashes: dict[tuple[str, int, float], str] = {}
        self._lock = threading.Lock()

    def refresh(self) -> list[LoraRecord]:
        records = []
        for path in _scan(self._folder, LORA_EXTENSIONS):
            try:
                metadata = safetensors_metadata(path)
            except CheckpointFormatError as error:
                log.warning("skipping LoRA %s: %s", path.name, error)
                continue
            records.append(LoraRecord(path.stem, path, metadata.get("ss_output_name") or None, metadata))
        with self._lock:
            self._records = records
        return list(records)

    @property
    def records(self) -> list[LoraRecord]:
        with self._lock:
            return list(self._records)

    def find(self, name: str) -> LoraRecord | None:
        """By file name first (A1111's default `lora_preferred_name`), then by alias."""
        records = self.records
        return next((record for record in records if record.name == name), None) or next(
            (record for record in records if record.alias == name), None)

    def read(self, record: LoraRecord) -> dict[str, torch.Tensor]:
        return self._loaders.state_dict("lora", record.path)

    def short_hash(self, record: LoraRecord) -> str:
        if record.metadata.get("sshs_model_hash"):
            return record.metadata["sshs_model_hash"][:NETWORK_HASH_LENGTH]
        identity = _file_identity(record.path)
        with self._lock:
            cached = self._hashes.get(identity)
        if cached is None:
            full = addnet_hash(record.path) if record.path.suffix.lower() == ".safetensors" \
                else sha256_of_file(record.path)
            cached = full[:NETWORK_HASH_LENGTH]
            with self._lock:
                self._hashes[identity] = cached
        return cached


@dataclass(frozen=True)
class EmbeddingRecord:
    name: str   # the trigger word: the file name without extension
    path: Path


@dataclass(frozen=True)
class EmbeddingShape:
    vectors: int  # how many tokens the trigger word stands for
    width: int    # the text encoder width it was made for (768 for SD 1.x)


@dataclass(frozen=True)
class EmbeddingCatalogue:
    """What `/sdapi/v1/embeddings` lists: usable with a text encoder of one width, and the others with reasons."""

    loaded: Mapping[str, EmbeddingShape]
    skipped: Mapping[str, str]


def embedding_shape_from_header(path: Path, index: TensorIndex) -> EmbeddingShape:
    """The same formats as `embedding_vectors`, told from a `.safetensors` header's shapes alone."""
    shapes = {name: info.shape for name, info in index.tensors.items()}
    shape = shapes.get("emb_params") or (next(iter(shapes.values())) if len(shapes) == 1 else None)
    if shape is None or len(shape) not in (1, 2) or 0 in shape:
        raise CheckpointFormatError(f"{path.name}: not a textual-inversion embedding (no vector table found)")
    return EmbeddingShape(1, shape[0]) if len(shape) == 1 else EmbeddingShape(shape[0], shape[1])


def embedding_vectors(path: Path, loaded: object) -> torch.Tensor:
    """The vectors of an embedding file in any of the formats people download: A1111 `.pt` (`string_to_param`),
    A1111 `.safetensors` (`emb_params`), diffusers (`{token: vector}`) or a lone tensor."""
    if isinstance(loaded, Mapping) and isinstance(loaded.get("string_to_param"), Mapping):
        loaded = next(iter(loaded["string_to_param"].values()), None)
    elif isinstance(loaded, Mapping) and "emb_params" in loaded:
        loaded = loaded["emb_params"]
    elif isinstance(loaded, Mapping):
        tensors = [value for value in loaded.values() if isinstance(value, torch.Tensor)]
        loaded = tensors[0] if len(tensors) == 1 else None
    if not isinstance(loaded, torch.Tensor) or loaded.ndim not in (1, 2) or loaded.numel() == 0:
        raise CheckpointFormatError(f"{path.name}: not a textual-inversion embedding (no vector table found)")
    vectors = loaded.detach().to(torch.float32)
    return vectors.unsqueeze(0) if vectors.ndim == 1 else vectors


class EmbeddingLibrary:
    def __init__(self, folder: Path, hash_cache: HashCache | None = None,
                 loaders: LoaderRegistry | None = None) -> None:
        self._folder = folder
        self._hash_cache = hash_cache
        self._loaders = loaders or default_loaders()
        self._records: list[EmbeddingRecord] = []
        self._loaded: dict[tuple[str, int, float], torch.Tensor] = {}
        self._skipped: dict[str, str] = {}
        self._shapes: dict[tuple[str, int, float], EmbeddingShape | str] = {}  # shape, or why it is no embedding
        self._lock = threading.Lock()

    def refresh(self) -> list[EmbeddingRecord]:
        records = [EmbeddingRecord(path.stem, path) for path in _scan(self._folder, EMBEDDING_EXTENSIONS)]
        with self._lock:
            self._records = records
        return list(records)

    @property
    def records(self) -> list[EmbeddingRecord]:
        with self._lock:
            return list(self._records)

    def skipped(self) -> dict[str, str]:
        with self._lock:
            return dict(self._skipped)

    def vectors_for_width(self, width: int) -> dict[str, torch.Tensor]:
        """name → [vectors, width] for every embedding that fits this text encoder; the others are `skipped()`
        with the reason (A1111 skips embeddings made for another model family the same way)."""
        usable: dict[str, torch.Tensor] = {}
        skipped: dict[str, str] = {}
        for record in self.records:
            try:
                vectors = self._load(record)
            except (CheckpointFormatError, OSError) as error:
                skipped[record.name] = str(error)
                continue
            if vectors.shape[-1] != width:
                skipped[record.name] = f"vectors are {vectors.shape[-1]} wide; this model needs {width}"
                continue
            usable[record.name] = vectors
        with self._lock:
            self._skipped = skipped
        return usable

    def catalogue(self, width: int) -> EmbeddingCatalogue:
        """Name → vector count and width of every embedding usable with a text encoder `width` wide, plus the
        skipped ones with their reasons, without the device: a `.safetensors` file's header is read (bounded), a
        `.pt`/`.bin` pickle is loaded weights-only on the caller's thread (A1111's .pt embeddings keep their shape
        only inside the pickle). Either is done once per file version (path, size, mtime) and cached; the vectors
        of a pickle are kept, so the generation that uses it later does not read it again.
        Thread-safe: the caches have a lock, held only to look up and store, never while a file is read."""
        loaded: dict[str, EmbeddingShape] = {}
        skipped: dict[str, str] = {}
        for record in self.records:
            shape = self._shape(record)
            if isinstance(shape, str):
                skipped[record.name] = shape
            elif shape.width != width:
                skipped[record.name] = f"vectors are {shape.width} wide; this model needs {width}"
            else:
                loaded[record.name] = shape
        return EmbeddingCatalogue(loaded, skipped)

    def _shape(self, record: EmbeddingRecord) -> EmbeddingShape | str:
        try:
            identity = _file_identity(record.path)
        except OSError as error:
            return f"{record.path.name}: cannot be read: {error.strerror}"
        with self._lock:
            known = self._shapes.get(identity)
        if known is not None:
            return known
        try:
            if record.path.suffix.lower() == ".safetensors":
                shape: EmbeddingShape | str = embedding_shape_from_header(record.path,
                                                                          read_safetensors_index(record.path))
            else:
                vectors = self._load(record)
                shape = EmbeddingShape(int(vectors.shape[0]), int(vectors.shape[-1]))
        except (CheckpointFormatError, OSError) as error:
            shape = str(error)
        with self._lock:
            self._shapes[identity] = shape
        return shape

    def _load(self, record: EmbeddingRecord) -> torch.Tensor:
        identity = _file_identity(record.path)
        with self._lock:
            cached = self._loaded.get(identity)
        if cached is not None:
            return cached
        vectors = embedding_vectors(record.path, self._loaders.read("embedding", record.path))
        with self._lock:
            self._loaded[identity] = vectors
        return vectors

    def short_hash(self, record: EmbeddingRecord) -> str:
        if self._hash_cache is not None:
            return self._hash_cache.sha256(record.path, record.name, kind="textual_inversion")[:NETWORK_HASH_LENGTH]
        return sha256_of_file(record.path)[:NETWORK_HASH_LENGTH]


@dataclass(frozen=True)
class ExtraNetworks:
    """The catalogues the engine looks prompt names up in."""

    loras: LoraLibrary
    embeddings: EmbeddingLibrary

    def refresh(self) -> None:
        self.loras.refresh()
        self.embeddings.refresh()
