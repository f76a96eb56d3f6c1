"""The model manager: which checkpoints exist, which one is loaded, and safe switching between them.

Three separate jobs, as in InvokeAI's design: the catalog finds files, the probe identifies a file from its header
before any weight is read, and the loader builds the pipeline. A new checkpoint is built completely before it
replaces the loaded one, so a corrupt, truncated or unsupported file raises a clear error and the model that was
loaded keeps serving. A lock serialises loads with generation: a switch waits for the running job.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import StableDiffusionPipeline
from transformers import CLIPTokenizer

from webui.model_manager.catalog import CheckpointRecord, scan_checkpoints
from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.demo import DEMO_METADATA_KEY
from webui.model_manager.hashing import HashCache
from webui.model_manager.memory_policy import MemoryPlan
from webui.model_manager.probe import Architecture, default_probes, identify
from webui.model_manager.sd1_configs import resolve_sd1_configs
from webui.model_manager.sd1_pipeline import build_pipeline
from webui.model_manager.tokenizer import build_clip_tokenizer

log = logging.getLogger(__name__)


class CheckpointNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class ModelSources:
    """Where checkpoints come from: folders in scan order, plus files named on the command line."""

    folders: tuple[Path, ...]
    extra_files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class LoadedModel:
    record: CheckpointRecord
    architecture: Architecture
    pipeline: StableDiffusionPipeline
    plan: MemoryPlan
    scheduler_config: Mapping[str, Any]  # the checkpoint's own; samplers are built from it, never from a previous one
    is_demo: bool
    load_seconds: float


class ModelManager:
    def __init__(self, sources: ModelSources, plan: MemoryPlan, hash_cache: HashCache | None,
                 readers: CheckpointReaders | None = None) -> None:
        self._sources = sources
        self._plan = plan
        self._hash_cache = hash_cache  # None = --no-hashing
        self._readers = readers or CheckpointReaders()
        self._probes = default_probes()
        self._lock = threading.RLock()
        self._records: list[CheckpointRecord] = []
        self._loaded: LoadedModel | None = None
        self._tokenizer: CLIPTokenizer | None = None

    @property
    def plan(self) -> MemoryPlan:
        return self._plan

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    def refresh(self) -> list[CheckpointRecord]:
        """Rescan the folders; hashes already in the cache are shown at once, others are computed on load."""
        records = scan_checkpoints(self._sources.folders, self._sources.extra_files)
        if self._hash_cache is not None:
            records = [self._with_cached_hash(record) for record in records]
        with self._lock:
            self._records = records
        return list(records)

    def _with_cached_hash(self, record: CheckpointRecord) -> CheckpointRecord:
        cached = self._hash_cache.cached(record.path, record.name) if self._hash_cache else None
        return record.with_sha256(cached) if cached else record

    def checkpoints(self) -> list[CheckpointRecord]:
        with self._lock:
            return list(self._records)

    def find(self, query: str) -> CheckpointRecord:
        """Look a checkpoint up by any A1111 alias (title, name, hash, ...); the error lists what exists."""
        with self._lock:
            records = list(self._records)
        for record in records:
            if record.matches(query):
                return record
        available = ", ".join(record.title for record in records) or "none (models/Stable-diffusion is empty)"
        raise CheckpointNotFoundError(f"checkpoint {query!r} not found; available: {available}")

    def load(self, query: str) -> LoadedModel:
        """Load a checkpoint (no-op if it is already loaded); on any error the current model stays."""
        with self._lock:
            record = self.find(query)
            if self._loaded is not None and self._loaded.record.path == record.path:
                return self._loaded
            started = time.perf_counter()
            loaded = self._build(record)
            previous, self._loaded = self._loaded, loaded
            self._replace_record(loaded.record)
            del previous
            self._release_memory()
            log.info("loaded %s (%s) in %.2f s", loaded.record.title, loaded.architecture.label,
                     time.perf_counter() - started)
            return self._loaded

    def _build(self, record: CheckpointRecord) -> LoadedModel:
        started = time.perf_counter()
        index = self._readers.read_index(record.path)
        architecture = identify(index, self._probes, record.path.name)
        if self._hash_cache is not None and record.sha256 is None:
            record = record.with_sha256(self._hash_cache.sha256(record.path, record.name, _log_hash_progress(record)))
        state_dict = self._readers.read_state_dict(record.path)
        configs = resolve_sd1_configs(record.path, state_dict, architecture)
        if self._tokenizer is None:
            self._tokenizer = build_clip_tokenizer()
        pipeline = build_pipeline(configs, state_dict, self._tokenizer, self._plan)
        return LoadedModel(record, architecture, pipeline, self._plan, configs.scheduler,
                           is_demo=index.metadata.get(DEMO_METADATA_KEY) == "1",
                           load_seconds=time.perf_counter() - started)

    def _replace_record(self, record: CheckpointRecord) -> None:
        self._records = [record if existing.path == record.path else existing for existing in self._records]

    def _release_memory(self) -> None:
        gc.collect()
        if self._plan.device == "cuda":
            torch.cuda.empty_cache()

    @contextlib.contextmanager
    def use(self, query: str | None = None) -> Iterator[LoadedModel]:
        """Hold the model for one job: loads `query` first if given, and blocks switches until the job ends."""
        with self._lock:
            loaded = self.load(query) if query else self._loaded
            if loaded is None:
                raise CheckpointNotFoundError("no checkpoint is loaded; put one in models/Stable-diffusion")
            yield loaded


def _log_hash_progress(record: CheckpointRecord):
    """A progress callback that logs every 25 % of a large file (small files hash too fast to report)."""
    next_report = [0.25]

    def report(done: int, total: int) -> None:
        if total >= 256 * 1024 * 1024 and done / total >= next_report[0]:
            log.info("hashing %s: %d%%", record.name, int(100 * done / total))
            next_report[0] += 0.25

    return report
