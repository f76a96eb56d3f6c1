"""Memory at 512×512 on the full SD 1.5 architecture (random fp16 weights, run in fp32 on this CPU): peak RSS of a
generation with the default plan, with VAE tiling, and with sliced attention — what each switch really saves.

Each mode runs in a fresh process (peak RSS is per process): load the checkpoint through the model manager with
that plan, generate one 512×512 image (2 steps), report the peak RSS over the RSS after loading.
Usage: .venv/bin/python bench/memory.py [--workdir DIR] [--keep]     (~5 min here; needs ~2 GB disk, ~10 GB RAM)
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
    parser.add_argument("--child", nargs=2, metavar=("CHECKPOINT", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), args.child[1])))
        return
    from swap import write_random_sd15

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kestrel-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    (checkpoint,) = write_random_sd15(workdir, ("sd15-random.safetensors",))
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
