"""Memory at 512×512 on the full SD 1.5 architecture (random fp16 weights, run in fp32 on this CPU): peak RSS of a
generation with the default plan, with VAE tiling, and with sliced attention — what each switch really saves; and
weight storage: the UNet's resident bytes and the process RSS with fp32, fp16 and fp8 storage (A1111's FP8 weight),
with the s/step of fp8 against fp32 compute on this CPU.

Each mode runs in a fresh process (peak RSS is per process): load the checkpoint through the model manager with
that plan, generate one image (2 steps), report the peak RSS over the RSS after loading.
Usage: .venv/bin/python bench/memory.py [--workdir DIR] [--keep] [--storage-only] [--size 512]
(~5 min here; needs ~2 GB disk, ~10 GB RAM)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
for name, value in {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
                    "HF_HUB_DISABLE_TELEMETRY": "1"}.items():
    os.environ.setdefault(name, value)

MODES = {"default plan": {}, "VAE tiling": {"vae_tiling": True}, "sliced attention": {"attention": "sliced"}}
STORAGES = {  # plan changes; fp16 is loaded only (this CPU computes in fp32), fp8 computes in fp32
    "fp32": {},
    "fp16": {"unet_dtype": "fp16", "text_encoder_dtype": "fp16", "vae_dtype": "fp16"},
    "fp8": {"fp8_weights": True},
}
SAMPLED_STORAGES = ("fp32", "fp8")


def measure_storage(checkpoint: Path, storage: str, size: int) -> dict:
    """Run in a child process: load with the storage's plan; the UNet's bytes as stored, the RSS; s/step."""
    import time
    from dataclasses import replace

    from swap import rss_bytes

    from webui.engine.generate import GenerationEngine, InfotextOptions
    from webui.engine.request import GenerationRequest
    from webui.engine.samplers import default_sampler_table
    from webui.jobs.device import DeviceThread
    from webui.model_manager.manager import ModelManager, ModelSources
    from webui.model_manager.memory_policy import DeviceInfo, PrecisionFlags, plan_memory
    from webui.model_manager.weight_storage import resident_bytes

    plan = replace(plan_memory(DeviceInfo("cpu"), PrecisionFlags()), **STORAGES[storage])
    device = DeviceThread()

    def run() -> dict:
        manager = ModelManager(ModelSources((checkpoint.parent,)), plan, None)
        manager.refresh()
        loaded = manager.load(checkpoint.name)
        result = {"storage": storage, "unet_bytes": resident_bytes(loaded.pipeline.unet),
                  "rss_after_load": rss_bytes(), "cache_bytes": manager.cache.total_bytes()}
        if storage in SAMPLED_STORAGES:
            engine = GenerationEngine(manager, default_sampler_table())
            stamps: list[float] = []
            request = GenerationRequest(prompt="a castle", sampler_name="Euler", steps=3, width=size, height=size,
                                        seed=1)
            engine.generate(request, InfotextOptions(), progress=lambda *_: stamps.append(time.perf_counter()))
            result["seconds_per_step"] = (stamps[-1] - stamps[0]) / max(len(stamps) - 1, 1)
        return result

    result = device.run(run)
    device.shutdown()
    return result


def storage_report(checkpoint: Path, size: int) -> None:
    results = {}
    for storage in STORAGES:
        output = subprocess.run([sys.executable, __file__, "--storage-child", str(checkpoint), storage, str(size)],
                                check=True, capture_output=True, text=True).stdout
        results[storage] = json.loads(output.strip().splitlines()[-1])
    fp16 = results["fp16"]["unet_bytes"]
    for storage, result in results.items():
        step = result.get("seconds_per_step")
        print(f"{storage:<5} UNet {result['unet_bytes'] / 2**20:7.0f} MB ({result['unet_bytes'] / fp16:.2f}x fp16; "
              f"goal for fp8 <= 0.55)  RSS after load {result['rss_after_load'] / 2**30:5.2f} GiB  RAM cache "
              f"{result['cache_bytes'] / 2**30:5.2f} GiB" + (f"  {step:.2f} s/step at {size}²" if step else ""))
    print(f"fp8 s/step / fp32 s/step: {results['fp8']['seconds_per_step'] / results['fp32']['seconds_per_step']:.2f}")


def measure(checkpoint: Path, mode: str) -> dict:
    """Run in a child process: load with the mode's plan, generate, report peak RSS over the loaded baseline."""
    from dataclasses import replace

    from webui.benchmark.runner import PeakMemory
    from webui.engine.generate import GenerationEngine, InfotextOptions
    from webui.engine.request import GenerationRequest
    from webui.engine.samplers import default_sampler_table
    from webui.jobs.device import DeviceThread
    from webui.model_manager.manager import ModelManager, ModelSources
    from webui.model_manager.memory_policy import DeviceInfo, PrecisionFlags, plan_memory

    plan = replace(plan_memory(DeviceInfo("cpu"), PrecisionFlags()), **MODES[mode])
    device = DeviceThread()

    def run() -> dict:
        manager = ModelManager(ModelSources((checkpoint.parent,)), plan, None)
        manager.refresh()
        manager.load(checkpoint.name)
        engine = GenerationEngine(manager, default_sampler_table())
        request = GenerationRequest(prompt="a castle", sampler_name="Euler", steps=2, width=512, height=512, seed=1)
        with PeakMemory("cpu") as peak:
            engine.generate(request, InfotextOptions())
        return {"mode": mode, "peak_over_loaded_mb": peak.megabytes}

    result = device.run(run)
    device.shutdown()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--storage-only", action="store_true", help="only the fp32/fp16/fp8 storage comparison")
    parser.add_argument("--size", type=int, default=512, help="image size of the s/step measurement")
    parser.add_argument("--child", nargs=2, metavar=("CHECKPOINT", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--storage-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), args.child[1])))
        return
    if args.storage_child:
        checkpoint_name, storage, size = args.storage_child
        print(json.dumps(measure_storage(Path(checkpoint_name), storage, int(size))))
        return
    from swap import write_random_sd15

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kestrel-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = workdir / "sd15-random.safetensors"
    if not checkpoint.exists():
        (checkpoint,) = write_random_sd15(workdir, ("sd15-random.safetensors",))
    storage_report(checkpoint, args.size)
    if args.storage_only:
        return
    results = []
    for mode in MODES:
        output = subprocess.run([sys.executable, __file__, "--child", str(checkpoint), mode], check=True,
                                capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    base = results[0]["peak_over_loaded_mb"]
    for result in results:
        print(f"{result['mode']:<20} peak RSS over the loaded model {result['peak_over_loaded_mb']:8.0f} MB  "
              f"{result['peak_over_loaded_mb'] / base:.2f}x the default plan")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
