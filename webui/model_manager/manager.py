"""The model manager: which checkpoints exist, which one is live, and fast, safe switching between them.

Separate jobs, as in InvokeAI's design: the catalog finds files; the probe identifies a file from its header before
any weight is read; preparing reads and converts the weights; a RAM LRU (`WeightCache`) keeps recently used
checkpoints prepared; activation makes one live. There is one resident pipeline: a checkpoint of the same
architecture is swapped into it in place (a pointer flip on a cache hit), a different architecture rebuilds it.

Everything new is prepared completely before it replaces what is live, so a corrupt, truncated or unsupported
file raises a clear error and the model that was loaded keeps serving. One lock serialises switches with
generation: a switch waits for the running job and never happens under it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from diffusers import StableDiffusionPipeline
from transformers import CLIPTokenizer

from webui.errors import ModelMissing
from webui.model_manager.catalog import CheckpointRecord, scan_checkpoints
from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.demo import DEMO_METADATA_KEY
from webui.model_manager.file_checks import FileChecks
from webui.model_manager.hashing import HashCache
from webui.model_manager.loaders import LoaderRegistry, default_loaders
from webui.model_manager.memory_policy import MemoryPlan, leaner_plan, with_weight_storage
from webui.model_manager.probe import Architecture, UnsupportedArchitectureError, default_probes
from webui.model_manager.refusals import check_location, refusal
from webui.model_manager.safetensors_header import CheckpointFormatError
from webui.model_manager.sd1_configs import SD1Configs, resolve_sd1_configs
from webui.model_manager.sd1_pipeline import (
    PART_NAMES,
    TORCH_DTYPES,
    apply_memory_plan,
    build_pipeline,
    can_swap_into,
    components_of,
    prepare_weights,
    store_unet,
)
from webui.model_manager.tokenizer import build_clip_tokenizer
from webui.model_manager.vae import AUTOMATIC, VaeRecord, read_vae_weights, resolve_vae, scan_vaes
from webui.model_manager.weight_cache import PreparedCheckpoint, WeightCache
from webui.model_manager.weight_slots import Weights, WeightSlots
from webui.model_manager.weight_storage import Fp8Keys

log = logging.getLogger(__name__)
LoadProgress = Callable[[str, float], None]  # (what is happening, fraction done)
DEFAULT_CACHE_ENTRIES = 2


class CheckpointNotFoundError(ModelMissing):
    """No checkpoint by that name (a `ModelMissing`, so the API answers 404); the message lists what exists."""

    def __init__(self, message: str, name: str = "", available: Sequence[str] = ()) -> None:
        super().__init__("checkpoint", name, available)
        self.message = message  # the wording users and the UI already know
        self.args = (message,)


@dataclass(frozen=True)
class ModelSources:
    """Where checkpoints come from: folders in scan order, plus files named on the command line."""

    folders: tuple[Path, ...]
    extra_files: tuple[Path, ...] = ()
    vae_folders: tuple[Path, ...] = ()


@dataclass(frozen=True)
class LoadedModel:
    record: CheckpointRecord
    architecture: Architecture
    pipeline: StableDiffusionPipeline
    plan: MemoryPlan
    configs: SD1Configs
    is_demo: bool
    load_seconds: float
    from_cache: bool
    baked_vae: Weights         # the checkpoint's own VAE weights (shared with the cache entry), to restore them
    vae: VaeRecord | None = None  # the external VAE in force; None = the baked-in one

    @property
    def text_encoder_width(self) -> int:
        """Its text encoder's width (768 for SD 1.x): which embeddings fit, known without touching the pipeline."""
        return int(self.configs.text_encoder["hidden_size"])

    @property
    def scheduler_config(self) -> Mapping[str, Any]:
        """The checkpoint's own scheduler config; samplers are built from it, never from a previous sampler."""
        return self.configs.scheduler


class ModelManager:
    def __init__(self, sources: ModelSources, plan: MemoryPlan, hash_cache: HashCache | None,
                 cache: WeightCache | None = None, readers: CheckpointReaders | None = None,
                 loaders: LoaderRegistry | None = None) -> None:
        self._sources = sources
        self._plan = plan
        self._hash_cache = hash_cache  # None = --no-hashing
        self._cache = cache or WeightCache(max_bytes=2**62, max_entries=DEFAULT_CACHE_ENTRIES)
        self._readers = readers or CheckpointReaders()
        self._loaders = loaders or default_loaders(self._readers)
        self._checks = FileChecks(self._readers, default_probes())
        self._lock = threading.RLock()  # switches and jobs; held for a whole job, so lookups never take it
        self._records_lock = threading.Lock()  # the lists below: lookups from any thread answer at once
        self._records: list[CheckpointRecord] = []
        self._loaded: LoadedModel | None = None
        self._slots: WeightSlots | None = None  # where the resident pipeline's tensors live, for swaps
        self._vaes: list[VaeRecord] = []
        self._vae_choice = AUTOMATIC
        self._external_vae: tuple[VaeRecord, Weights] | None = None  # the last VAE file read, kept for switches
        self._tokenizer: CLIPTokenizer | None = None
        self._fp8_keys = Fp8Keys()

    @property
    def plan(self) -> MemoryPlan:
        return self._plan

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    @property
    def cache(self) -> WeightCache:
        return self._cache

    def refresh(self) -> list[CheckpointRecord]:
        """Rescan the folders; hashes already in the cache file are shown at once, others are computed on load."""
        records = scan_checkpoints(self._sources.folders, self._sources.extra_files)
        records = [self._with_cached_hash(record) for record in records]
        vaes = scan_vaes(self._sources.vae_folders, self._sources.folders)
        with self._records_lock:
            self._records, self._vaes = records, vaes
        return list(records)

    def vaes(self) -> list[VaeRecord]:
        with self._records_lock:
            return list(self._vaes)

    @property
    def vae_choice(self) -> str:
        return self._vae_choice

    def set_vae(self, choice: str) -> LoadedModel | None:
        """A1111's sd_vae: "Automatic", "None" or a VAE file name; applied to the live model at once."""
        with self._lock:
            if self._loaded is None:
                if choice not in (AUTOMATIC, "None"):
                    resolve_vae(choice, CheckpointRecord(Path(), ""), self._vaes)  # raises with the allowed list
                self._vae_choice = choice
                return None
            resolve_vae(choice, self._loaded.record, self._vaes)  # validate before changing anything
            previous, self._vae_choice = self._vae_choice, choice
            try:
                self._loaded = self._apply_vae(self._loaded)
            except BaseException:
                self._vae_choice = previous  # a refused VAE file leaves the choice (and the live VAE) as they were
                raise
            return self._loaded

    def _with_cached_hash(self, record: CheckpointRecord) -> CheckpointRecord:
        cached = self._hash_cache.cached(record.path, record.name) if self._hash_cache else None
        return record.with_sha256(cached) if cached else record

    def checkpoints(self) -> list[CheckpointRecord]:
        """Thread-safe, and never waits for a running job."""
        with self._records_lock:
            return list(self._records)

    def find(self, query: str) -> CheckpointRecord:
        """Look a checkpoint up by any A1111 alias (title, name, hash, ...); the error lists what exists.
        Thread-safe, and never waits for a running job."""
        records = self.checkpoints()
        for record in records:
            if record.matches(query):
                return record
        titles = [record.title for record in records]
        available = ", ".join(titles) or "none (models/Stable-diffusion is empty)"
        raise CheckpointNotFoundError(f"checkpoint {query!r} not found; available: {available}", query, titles)

    def check_file(self, query: str) -> CheckpointRecord:
        """The checkpoint `query` names, if it can be loaded as far as its location and header tell: raises
        `CheckpointNotFoundError` (unknown name) or `webui.errors.CheckpointRefused` (outside the model folders,
        empty, corrupt, truncated, header too large, hostile pickle, unsupported architecture). For admission:
        callable from any thread, needs no device and takes no lock a job holds; reads the header once per
        file version (a `.ckpt` is index-loaded weights-only, see `file_checks`)."""
        record = self.find(query)
        self._checks.check(record.name, record.path, self._sources.folders, self._sources.extra_files)
        return record

    def load(self, query: str, progress: LoadProgress | None = None) -> LoadedModel:
        """Make a checkpoint live (no-op if it already is); on any error the live model stays."""
        report = progress or (lambda stage, fraction: None)
        with self._lock:
            record = self.find(query)
            if self._loaded is not None and self._loaded.record.path == record.path:
                return self._loaded
            started = time.perf_counter()
            prepared = self._cache.get(str(record.path))
            from_cache = prepared is not None
            try:
                if prepared is None:
                    prepared = self._prepare(record, report)
                report("activating", 0.9)
                self._loaded = self._activate(prepared, time.perf_counter() - started, from_cache)
            except (CheckpointFormatError, UnsupportedArchitectureError) as error:
                raise refusal(record.name, error, record.path) from error
            self._cache.put(prepared)  # only what activated cleanly is cached; this may evict older entries
            try:
                self._loaded = self._apply_vae(self._loaded)
            except (CheckpointFormatError, OSError, LookupError) as error:  # the checkpoint itself is fine
                log.warning("keeping the VAE baked into %s: %s", prepared.record.name, error)
            self._replace_record(prepared.record)
            if self._plan.device == "cuda":
                torch.cuda.empty_cache()
            report("ready", 1.0)
            log.info("loaded %s (%s) in %.3f s%s", prepared.record.title, prepared.architecture.label,
                     self._loaded.load_seconds, " from the RAM cache" if from_cache else "")
            return self._loaded

    def _prepare(self, record: CheckpointRecord, report: LoadProgress) -> PreparedCheckpoint:
        report(f"reading {record.name}", 0.0)
        checked = self._checks.check(record.name, record.path, self._sources.folders, self._sources.extra_files)
        hashing = None
        if self._hash_cache is not None and record.sha256 is None:  # hashed beside the load: one read, overlapped
            hashing = self._hash_cache.start(record.path, record.name)
        report(f"loading {record.name}", 0.1 if hashing else 0.4)
        try:
            state_dict = self._loaders.state_dict("checkpoint", record.path, checked.architecture.name)
            configs = resolve_sd1_configs(record.path, state_dict, checked.architecture)
            unquantised = prepare_weights(configs, state_dict, replace(self._plan, fp8_weights=False))
            del state_dict  # the file's tensors (with fp8 the unquantised ones go too, unless cache_fp16_weight)
        finally:
            sha256 = hashing.result() if hashing else None  # waited for even when the load failed: no stray reader
        if sha256 is not None:
            record = record.with_sha256(sha256)
        return self._stored(PreparedCheckpoint(record, checked.architecture, configs, unquantised,
                                               is_demo=checked.metadata.get(DEMO_METADATA_KEY) == "1"))

    def _stored(self, unquantised: PreparedCheckpoint) -> PreparedCheckpoint:
        """A prepared checkpoint (unquantised weights) as the plan stores it: with fp8, its UNet cast, plus the
        unquantised UNet when `cache_fp16_weight` asks to keep it."""
        if not self._plan.fp8_weights:
            return unquantised
        keep = unquantised.weights["unet"] if self._plan.cache_fp16_weight else None
        return replace(unquantised, weights=store_unet(unquantised.configs, unquantised.weights, self._plan,
                                                         self._fp8_keys),
                       unquantised_unet=keep)

    def _activate(self, prepared: PreparedCheckpoint, seconds: float, from_cache: bool) -> LoadedModel:
        """Swap into the resident pipeline when the architecture matches, else build a new one.

        A failed swap (a mismatch the config comparison did not catch) puts the previous weights back before the
        error propagates, so the live model keeps serving."""
        previous = self._loaded
        if previous is not None and self._slots and can_swap_into(previous.configs, prepared.configs, self._plan):
            pipeline = previous.pipeline
            self._slots.check(prepared.weights, PART_NAMES)
            previous_weights = self._slots.current()
            device = self._assign_device()
            try:
                self._slots.assign(prepared.weights, device)
            except Exception:
                self._slots.assign(previous_weights, device)
                raise
            del previous_weights
        else:
            if self._tokenizer is None:
                self._tokenizer = build_clip_tokenizer()
            # Built before the old one goes (it costs no new memory: the tensors are the prepared ones), so a
            # checkpoint that does not fit its config fails here while the live model keeps serving.
            pipeline = build_pipeline(prepared.configs, prepared.weights, self._tokenizer, self._plan)
            slots = WeightSlots(components_of(pipeline))
            self._loaded, self._slots = None, slots
            del previous
            self._release_memory()
        return LoadedModel(prepared.record, prepared.architecture, pipeline, self._plan, prepared.configs,
                           prepared.is_demo, seconds, from_cache, baked_vae={"vae": prepared.weights["vae"]})

    def _assign_device(self) -> torch.device | None:
        """Where assigned weights must go: the accelerator when the model lives there (prepared ones are in RAM)."""
        on_accelerator = self._plan.offload == "none" and self._plan.device != "cpu"
        return torch.device(self._plan.device) if on_accelerator else None

    def _apply_vae(self, loaded: LoadedModel) -> LoadedModel:
        """Put the VAE the choice asks for into the live pipeline (a swap of the VAE component only)."""
        wanted = resolve_vae(self._vae_choice, loaded.record, self._vaes)
        if (wanted.path if wanted else None) == (loaded.vae.path if loaded.vae else None) or self._slots is None:
            return loaded
        if wanted is None:
            weights = loaded.baked_vae
        else:
            wanted, weights = self._external_vae_weights(wanted, loaded)
        self._slots.check(weights, PART_NAMES, only=("vae",))
        self._slots.assign(weights, self._assign_device(), only=("vae",))
        log.info("VAE: %s", wanted.name if wanted else "baked into the checkpoint")
        return replace(loaded, vae=wanted)

    def _external_vae_weights(self, record: VaeRecord, loaded: LoadedModel) -> tuple[VaeRecord, Weights]:
        if self._external_vae is not None and self._external_vae[0].path == record.path:
            return self._external_vae
        check_location(record.name, record.path, (*self._sources.vae_folders, *self._sources.folders))
        try:
            if self._hash_cache is not None:
                record = replace(record, sha256=self._hash_cache.sha256(record.path, record.name, kind="vae"))
            dtype = TORCH_DTYPES[self._plan.vae_dtype]
            weights = {"vae": read_vae_weights(record, self._loaders, loaded.configs.vae, dtype)}
        except CheckpointFormatError as error:
            raise refusal(record.name, error, record.path) from error
        self._external_vae = (record, weights)
        return record, weights

    def use_leaner_plan(self) -> LoadedModel | None:
        """After an out-of-memory error: switch the live pipeline to the next leaner plan, which then stays in
        force (the card has shown it needs it). None when there is nothing leaner."""
        with self._lock:
            plan = leaner_plan(self._plan)
            if plan is None or self._loaded is None:
                return None
            if plan.device == "cuda":
                torch.cuda.empty_cache()
            prepared = self._cache.get(str(self._loaded.record.path))
            if self._plan.offload == "group" and prepared is not None:
                # diffusers' group offload cannot be removed, nor combined with sequential offload: rebuild
                self._plan, live = plan, self._loaded
                self._loaded, self._slots = None, None
                self._release_memory()
                self._loaded = self._apply_vae(self._activate(prepared, live.load_seconds, live.from_cache))
            else:
                apply_memory_plan(self._loaded.pipeline, plan)
                self._plan = plan
                self._loaded = replace(self._loaded, plan=plan)
            log.warning("out of memory: now using %s", plan.describe())
            return self._loaded

    def set_weight_storage(self, fp8_storage: str, cache_fp16_weight: bool, no_auto_fp8: bool = False) -> bool:
        """A1111's `fp8_storage`/`cache_fp16_weight` changed: rebuild the live model stored as the new plan says.
        Returns whether the weights changed storage. Layerwise casting cannot be unhooked, so the pipeline is
        rebuilt; going back to unquantised weights never up-casts fp8 (lossy): it uses the copy `cache_fp16_weight`
        kept, else reads the file again. Cached checkpoints stored the other way are dropped."""
        with self._lock:
            plan = with_weight_storage(self._plan, fp8_storage, cache_fp16_weight, no_auto_fp8)
            changed = plan.fp8_weights != self._plan.fp8_weights or (
                plan.fp8_weights and plan.cache_fp16_weight != self._plan.cache_fp16_weight)
            self._plan = plan
            if not changed:
                return False
            live = self._loaded
            live_entry = self._cache.get(str(live.record.path)) if live else None
            self._cache.clear()
            self._loaded, self._slots = None, None
            self._release_memory()
            if live is None:
                return True
            unquantised = live_entry.unquantised() if live_entry else None
            prepared = self._stored(unquantised) if unquantised else self._prepare(live.record, lambda *_: None)
            self._loaded = self._activate(prepared, 0.0, from_cache=unquantised is not None)
            self._cache.put(prepared)
            self._loaded = self._apply_vae(self._loaded)
            log.info("weights now stored as %s", plan.describe())
            return True

    def unload(self) -> None:
        """Drop the live model and the RAM cache (A1111's unload-checkpoint)."""
        with self._lock:
            self._loaded, self._slots = None, None
            self._cache.clear()
            self._release_memory()

    def _replace_record(self, record: CheckpointRecord) -> None:
        with self._records_lock:
            self._records = [record if existing.path == record.path else existing for existing in self._records]

    def _release_memory(self) -> None:
        """For a dropped pipeline: modules hold reference cycles, so collect them now rather than at some later
        GC pass. Swapped-out weights need no collection: reference counting frees them at once."""
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
