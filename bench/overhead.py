"""What our generation path costs on top of a raw diffusers call (tiny model, 64 px, 20 steps, one run).

- raw: `StableDiffusionPipeline(...)(prompt=...)` with the loaded components and the same sampler;
- UI path: a request through the job queue and the generation service (conditioning, infotext, PNG encode, save);
- API path: `POST /sdapi/v1/txt2img` through the real FastAPI app (JSON, base64), same queue.

Prints medians of N runs each and the ratios to raw. Goals: UI ≤ 1.05×, API ≤ 1.10×.
Usage: .venv/bin/python bench/overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for name, value in {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
                    "HF_HUB_DISABLE_TELEMETRY": "1"}.items():
    os.environ.setdefault(name, value)

import torch  # noqa: E402
from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionPipeline  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from webui.api.server import create_http_app  # noqa: E402
from webui.app_context import build_app  # noqa: E402
from webui.config.flags import CommandLineOptions  # noqa: E402
from webui.engine.request import GenerationRequest  # noqa: E402

PROMPT, STEPS, SIZE = "masterpiece, 1girl, silver hair", 20, 64


def median_seconds(function, runs: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        function()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    data = Path(tempfile.mkdtemp(prefix="kestrel-overhead-"))
    app = build_app(CommandLineOptions(data_dir=data, api=True, device="cpu"), default_data_dir=data)
    app.start()
    loaded = app.models.loaded
    assert loaded is not None
    raw_pipeline = StableDiffusionPipeline(
        vae=loaded.pipeline.vae, text_encoder=loaded.pipeline.text_encoder, tokenizer=loaded.pipeline.tokenizer,
        unet=loaded.pipeline.unet, scheduler=EulerAncestralDiscreteScheduler.from_config(loaded.scheduler_config),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    raw_pipeline.set_progress_bar_config(disable=True)

    def raw() -> None:
        raw_pipeline(prompt=PROMPT, negative_prompt="", num_inference_steps=STEPS, guidance_scale=7.0, width=SIZE,
                     height=SIZE, generator=torch.Generator("cpu").manual_seed(1))

    def through_queue() -> None:
        request = GenerationRequest(prompt=PROMPT, sampler_name="Euler a", steps=STEPS, width=SIZE, height=SIZE,
                                    seed=1)
        job = app.submit_generation(request, owner="bench")
        snapshot = job.snapshot()
        while not snapshot.state.finished:
            snapshot = job.wait_for_update(snapshot.version, timeout=1.0)

    with TestClient(create_http_app(app)) as client:
        def through_api() -> None:
            response = client.post("/sdapi/v1/txt2img", json={"prompt": PROMPT, "sampler_name": "Euler a",
                                                              "steps": STEPS, "width": SIZE, "height": SIZE,
                                                              "seed": 1})
            response.raise_for_status()

        # the raw call runs on the device thread too: a second thread doing torch work would slow both (see
        # webui/jobs/device.py), and the raw call would pay for it rather than show the pipeline's own cost
        raw_seconds = median_seconds(lambda: app.backend.call(raw), runs)
        ui_seconds = median_seconds(through_queue, runs)
        api_seconds = median_seconds(through_api, runs)
    app.stop()
    print(f"raw diffusers call                      {raw_seconds * 1000:8.1f} ms")
    print(f"UI path (queue, service, save)          {ui_seconds * 1000:8.1f} ms  {ui_seconds / raw_seconds:.3f}x raw "
          "(goal <= 1.05)")
    print(f"API path (/sdapi/v1/txt2img)            {api_seconds * 1000:8.1f} ms  {api_seconds / raw_seconds:.3f}x raw "
          "(goal <= 1.10)")


if __name__ == "__main__":
    main()
