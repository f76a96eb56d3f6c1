"""ControlNet's cost per sampling step: no unit vs one unit vs two units, on the demo model and on the SD 1.5
architecture (random weights), at 512×512, measured in one run and printed as ratios to "no unit".

Each configuration generates once with Euler for `--steps` steps after a warm-up; the per-step time is the median
gap between step callbacks (the first step, which includes conditioning and the preprocessor, is left out).
Usage: .venv/bin/python bench/controlnet.py [--models demo,sd15] [--steps 4] [--size 512] [--workdir DIR]
(the SD 1.5 run writes a 2 GB checkpoint and a 0.7 GB ControlNet; ~10 min on a 2-core CPU)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
for name, value in {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
                    "HF_HUB_DISABLE_TELEMETRY": "1"}.items():
    os.environ.setdefault(name, value)

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def demo_files(folder: Path) -> tuple[Path, Path]:
    from tests.support.controlnet_files import tiny_controlnet, write_controlnet
    from webui.model_manager.demo import TinySD1Spec, write_demo_checkpoint

    checkpoint = write_demo_checkpoint(folder / "Stable-diffusion")
    controlnet = write_controlnet(folder / "ControlNet" / "control_demo.pth", tiny_controlnet(TinySD1Spec()),
                                  "ldm.pth")
    return checkpoint, controlnet


def sd15_files(folder: Path) -> tuple[Path, Path]:
    """A random SD 1.5 checkpoint (swap.py's) and a random ControlNet of its encoder, fp16, diffusers layout."""
    import json

    import safetensors.torch
    from diffusers import ControlNetModel, UNet2DConditionModel
    from swap import CONFIG_ROOT, write_random_sd15

    (folder / "Stable-diffusion").mkdir(parents=True, exist_ok=True)
    (checkpoint,) = write_random_sd15(folder / "Stable-diffusion", ("sd15-random.safetensors",))
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(json.loads((CONFIG_ROOT / "unet/config.json").read_text()))
        controlnet = ControlNetModel.from_unet(unet, load_weights_from_unet=False)
    generator = torch.Generator().manual_seed(1)
    state = {key: torch.empty(value.shape, dtype=torch.float16).normal_(0, 0.02, generator=generator)
             for key, value in controlnet.state_dict().items()}
    path = folder / "ControlNet" / "control_sd15_random.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(state, str(path))
    return checkpoint, path


def step_seconds(checkpoint: Path, controlnet: Path, units: int, steps: int, size: int) -> float:
    from webui.engine.controlnet.preprocessors import default_registry
    from webui.engine.controlnet.service import ControlNetService
    from webui.engine.controlnet.unit import ControlNetUnit
    from webui.engine.generate import GenerationEngine, InfotextOptions
    from webui.engine.request import GenerationRequest
    from webui.engine.samplers import default_sampler_table
    from webui.model_manager.controlnet_models import ControlNetModels
    from webui.model_manager.manager import ModelManager, ModelSources
    from webui.model_manager.memory_policy import DeviceInfo, PrecisionFlags, plan_memory

    manager = ModelManager(ModelSources((checkpoint.parent,)), plan_memory(DeviceInfo("cpu"), PrecisionFlags()),
                           None)
    manager.refresh()
    manager.load(checkpoint.name)
    service = ControlNetService(ControlNetModels([controlnet.parent]), default_registry([]))
    engine = GenerationEngine(manager, default_sampler_table(), controlnet=service)
    image = Image.new("RGB", (size, size))
    ImageDraw.Draw(image).ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(255, 255, 255))
    unit_list = tuple(ControlNetUnit(module="none", model=controlnet.stem, image=image, index=index)
                      for index in range(units))
    request = GenerationRequest(prompt="a castle", sampler_name="Euler", steps=steps, width=size, height=size,
                                seed=1, controlnet=unit_list)
    engine.generate(GenerationRequest(prompt="warm", sampler_name="Euler", steps=1, width=size, height=size, seed=1,
                                      controlnet=unit_list), InfotextOptions(version="bench"))
    stamps: list[float] = []
    engine.generate(request, InfotextOptions(version="bench"),
                    progress=lambda batch, step, total: stamps.append(time.perf_counter()))
    gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False)]
    return statistics.median(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="demo,sd15")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kestrel-cn-bench-"))
    builders = {"demo": demo_files, "sd15": sd15_files}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size}², {args.steps} Euler steps")
    try:
        for name in args.models.split(","):
            checkpoint, controlnet = builders[name](workdir / name)
            timings = {units: step_seconds(checkpoint, controlnet, units, args.steps, args.size)
                       for units in (0, 1, 2)}
            base = timings[0]
            for units, seconds in timings.items():
                print(f"{name:5} {units} unit(s)  {seconds:8.3f} s/step  {seconds / base:5.2f}x no unit")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
