"""Measure the current checkpoint in each planned configuration: seconds per step, seconds to a finished image
(VAE decode included) and peak memory.

Each precision gets its own pipeline built by the loader's own functions (`prepare_weights`, `build_pipeline`) from
the checkpoint file, so the live model is never converted under a user's feet; the benchmark holds the model
manager's lock (`use()`), so no job runs on the device meanwhile. Attention is switched by the loader's
`set_attention` (diffusers' processors). Peak memory: `torch.cuda.max_memory_allocated` on CUDA; on a CPU the
process's RSS sampled during the run, over the RSS before it, after the C allocator gave back the pages freed
before (`malloc_trim`): otherwise a configuration measured after a larger one reuses pages the larger one left
resident and shows ~0 MB (2 of 18 rows did). That makes each row its own peak without a process per row.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from webui.benchmark.plan import BenchmarkConfig, Capabilities, PlannedRun
from webui.benchmark.report import RunResult, SystemDescription
from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.manager import LoadedModel, ModelManager
from webui.model_manager.sd1_pipeline import build_pipeline, prepare_weights, set_attention

BenchmarkProgress = Callable[[int, int, str], None]  # (done, total, what)


def detect_capabilities(device: str) -> Capabilities:
    import importlib.util

    has_xformers = device == "cuda" and importlib.util.find_spec("xformers") is not None
    bf16 = torch.cuda.is_bf16_supported() if device == "cuda" else True  # torch's CPU kernels support bf16
    vram = torch.cuda.get_device_properties(0).total_memory // 2**20 if device == "cuda" else None
    return Capabilities(device, bf16, has_xformers, vram)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def release_freed_memory() -> bool:
    """Return the pages the C allocator keeps after frees to the OS (glibc's `malloc_trim(0)`, every arena), so
    the RSS is what is live. False where there is no glibc (musl, macOS): the RSS then may include freed pages."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


class PeakMemory:
    """Peak memory over a block: CUDA's own counter, or RSS sampled every few milliseconds on a CPU."""

    def __init__(self, device: str) -> None:
        self._device = device
        self._stop = threading.Event()
        self._peak = 0
        self._baseline = 0
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self._device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            self._baseline = torch.cuda.memory_allocated()
        else:
            release_freed_memory()
            self._baseline = self._peak = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True, name="benchmark-rss")
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, _rss_bytes())

    def __exit__(self, *exc_info: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, _rss_bytes())

    @property
    def megabytes(self) -> float:
        if self._device == "cuda":
            return (torch.cuda.max_memory_allocated() - self._baseline) / 2**20
        return max(0, self._peak - self._baseline) / 2**20


@dataclass(frozen=True)
class BenchmarkSettings:
    steps: int = 4
    prompt: str = "masterpiece, 1girl, detailed background"


class Benchmark:
    def __init__(self, models: ModelManager, settings: BenchmarkSettings | None = None) -> None:
        self._models = models
        self._settings = settings or BenchmarkSettings()

    def run(self, planned: list[PlannedRun], progress: BenchmarkProgress | None = None,
            cancelled: Callable[[], bool] | None = None) -> tuple[SystemDescription, list[RunResult]]:
        report = progress or (lambda done, total, what: None)
        with self._models.use() as loaded:
            state_dict = CheckpointReaders().read_state_dict(loaded.record.path)
            results: dict[BenchmarkConfig, RunResult] = {run.config: RunResult(run.config, skipped=run.skip_reason)
                                                         for run in planned}
            to_run = [run.config for run in planned if run.skip_reason is None]
            done = 0
            for precision in sorted({config.precision for config in to_run}):
                pipeline = self._pipeline(loaded, state_dict, precision)
                for config in [config for config in to_run if config.precision == precision]:
                    if cancelled is not None and cancelled():
                        results[config] = RunResult(config, skipped="cancelled")
                        continue
                    report(done, len(to_run), config.label)
                    results[config] = self._measure(pipeline, config, loaded.plan.device)
                    done += 1
                del pipeline
                gc.collect()
            del state_dict
        report(len(to_run), len(to_run), "done")
        return self._describe(loaded), [results[run.config] for run in planned]

    def _pipeline(self, loaded: LoadedModel, state_dict, precision: str):
        plan = replace(loaded.plan, unet_dtype=precision, text_encoder_dtype=precision, vae_dtype=precision,
                       offload="none", vae_slicing=False, vae_tiling=False, fp8_weights=False)  # rows are dtypes
        return build_pipeline(loaded.configs, prepare_weights(loaded.configs, state_dict, plan),
                              loaded.pipeline.tokenizer, plan)

    def _measure(self, pipeline, config: BenchmarkConfig, device: str) -> RunResult:
        set_attention(pipeline, config.attention)
        steps = self._settings.steps
        call = {"prompt": self._settings.prompt, "width": config.resolution, "height": config.resolution,
                "guidance_scale": 7.0, "generator": torch.Generator("cpu").manual_seed(1)}
        with torch.inference_mode():
            pipeline(num_inference_steps=1, output_type="latent", **call)  # warm-up: kernels, allocator
            stamps: list[float] = []

            def stamp(pipe, index, timestep, callback_kwargs):
                stamps.append(time.perf_counter())
                return callback_kwargs

            with PeakMemory(device) as peak:
                begin = time.perf_counter()
                pipeline(num_inference_steps=steps, output_type="pil", callback_on_step_end=stamp, **call)
                total = time.perf_counter() - begin
        per_step = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else total / max(steps, 1)
        return RunResult(config, per_step, total, peak.megabytes)

    def _describe(self, loaded: LoadedModel) -> SystemDescription:
        import diffusers
        import transformers

        device = loaded.plan.device
        if device == "cuda":
            properties = torch.cuda.get_device_properties(0)
            memory = f"{properties.name}, {properties.total_memory / 2**30:.1f} GB VRAM"
        else:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
            memory = f"{os.cpu_count()} CPU threads, {ram:.1f} GB RAM"
        path = Path(loaded.record.path)
        return SystemDescription(
            device=device, memory=memory,
            versions={"torch": torch.__version__, "diffusers": diffusers.__version__,
                      "transformers": transformers.__version__},
            checkpoint=loaded.record.title, checkpoint_size_mb=path.stat().st_size / 2**20,
            load_seconds=loaded.load_seconds, steps=self._settings.steps)
