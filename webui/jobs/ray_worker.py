"""A device worker in its own process (a Ray actor): its own model manager, RAM cache and device thread.

The front process keeps the queue, fairness, ownership, limits, persistence and the saving of files; a worker only
turns a typed, frozen `GenerationRequest` into images. It answers with PNG bytes and their infotext (through Ray's
object store) and never writes into outputs/. While a job runs, the front polls `poll` for progress and previews
and sends `signal` for Interrupt and Skip, so the actor is threaded (Ray's max_concurrency): generation itself goes
through one `DeviceThread`, as in the in-process worker (device.py says why one thread).

This module imports neither Ray nor torch at import time: Ray wraps the class (`ray_cluster.py`), and the engine is
built by a recipe the composition root hands over (`app_context.build_worker_engine`), so the jobs layer never
imports the composition root.
"""

from __future__ import annotations

import dataclasses
import io
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from webui.engine.generate import GeneratedImage, GenerationResult, InfotextOptions
from webui.engine.request import GenerationRequest
from webui.infotext.png import png_bytes_with_infotext
from webui.jobs.device import DeviceThread
from webui.jobs.ray_pool import WorkerFacts

EngineRecipe = Callable[[], tuple[Any, Any]]  # () → (ModelManager, GenerationEngine), built on the worker


def decode_png(png: bytes) -> Any:
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class RemoteImage:
    png: bytes          # lossless, no infotext: the front process adds it as it saves (one encoder, one format)
    seed: int
    infotext: str


@dataclass(frozen=True)
class RemoteGeneration:
    """A `GenerationResult` with its images as PNG bytes (what crosses the process boundary)."""

    images: tuple[RemoteImage, ...]
    result: GenerationResult          # every other field, with no images
    facts: WorkerFacts                # the worker after the job (what it has loaded now)
    engine_seconds: float = 0.0       # inside engine.generate: what the in-process worker would spend too

    def to_result(self) -> GenerationResult:
        images = tuple(GeneratedImage(decode_png(item.png), item.seed, item.infotext) for item in self.images)
        return dataclasses.replace(self.result, images=images)


@dataclass(frozen=True)
class RemoteFailure:
    """An error raised on the worker, carried as class + args + attributes: exceptions whose __init__ takes other
    arguments than their message (FieldError, CheckpointRefused) do not survive plain pickling."""

    error_type: type[BaseException]
    args: tuple
    state: dict
    trace: str

    @classmethod
    def of(cls, error: BaseException) -> RemoteFailure:
        return cls(type(error), error.args, dict(vars(error)), traceback.format_exc())

    def rebuild(self) -> BaseException:
        error = self.error_type.__new__(self.error_type)
        BaseException.__init__(error, *self.args)
        vars(error).update(self.state)
        return error


@dataclass(frozen=True)
class PollReply:
    version: int
    batch_index: int
    step: int
    total_steps: int
    preview: bytes | None     # only when it changed since the version the front had seen


class _LiveJob:
    """One running generation's progress and signals, shared by the device thread and the poll calls."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version = 0
        self.progress = (0, 0, 0)
        self.preview: bytes | None = None
        self.preview_version = -1
        self.cancelled = threading.Event()
        self.skip = threading.Event()

    def report(self, batch_index: int, step: int, total_steps: int) -> None:
        with self.lock:
            self.version += 1
            self.progress = (batch_index, step, total_steps)

    def show(self, image: Any) -> None:
        png = png_bytes_with_infotext(image, None)
        with self.lock:
            self.version += 1
            self.preview, self.preview_version = png, self.version

    def take_skip(self) -> bool:
        if self.skip.is_set():
            self.skip.clear()
            return True
        return False

    def reply(self, seen: int) -> PollReply:
        with self.lock:
            preview = self.preview if self.preview_version > seen else None
            return PollReply(self.version, *self.progress, preview)


class DeviceWorker:
    """The actor's body. Construction builds the engine on the worker's device thread (Ray calls it again after a
    restart: a worker that comes back starts clean and rejoins)."""

    def __init__(self, recipe: EngineRecipe, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self._threads = threads
        self._device = DeviceThread("worker-device")
        self._device.run(torch.set_num_threads, threads)
        self._models, self._engine = self._device.run(recipe)
        self._device.run(self._models.refresh)
        self._live: dict[str, _LiveJob] = {}
        self._lock = threading.Lock()

    def generate(self, call_id: str, request: GenerationRequest, options: InfotextOptions) -> Any:
        live = _LiveJob()
        with self._lock:
            self._live[call_id] = live
        try:
            started = time.perf_counter()
            result = self._device.run(self._engine.generate, request, options, progress=live.report,
                                      cancelled=live.cancelled.is_set, skip=live.take_skip, preview=live.show)
            seconds = time.perf_counter() - started
            images = tuple(RemoteImage(png_bytes_with_infotext(item.image, None), item.seed, item.infotext)
                           for item in result.images)
            return RemoteGeneration(images, dataclasses.replace(result, images=()), self.status(), seconds)
        except Exception as error:  # typed errors go back as they are (see RemoteFailure)
            return RemoteFailure.of(error)
        finally:
            with self._lock:
                self._live.pop(call_id, None)

    def poll(self, call_id: str, seen: int) -> PollReply | None:
        with self._lock:
            live = self._live.get(call_id)
        return live.reply(seen) if live is not None else None

    def signal(self, call_id: str, what: str) -> bool:
        """'cancel' (Interrupt, or the server stopping) or 'skip' (finish this batch as it is)."""
        with self._lock:
            live = self._live.get(call_id)
        if live is None:
            return False
        (live.cancelled if what == "cancel" else live.skip).set()
        return True

    def status(self) -> WorkerFacts:
        import torch

        loaded = self._models.loaded
        names: tuple[str, ...] = ()
        if loaded is not None:
            record = loaded.record
            names = tuple(name for name in (record.title, record.name, record.model_name, record.short_hash,
                                            record.sha256) if name)
        cuda = torch.cuda.is_available()
        return WorkerFacts(
            node=socket.gethostname(), pid=os.getpid(),
            device=torch.cuda.get_device_name(0) if cuda else "cpu", threads=self._threads,
            ram_bytes=resident_bytes(),
            vram_total=torch.cuda.get_device_properties(0).total_memory if cuda else None,
            vram_used=torch.cuda.memory_allocated(0) if cuda else None,
            loaded=loaded.record.title if loaded else None, loaded_names=names)
