"""Checkpoint swap benchmark: full-size SD 1.5-architecture fp16 files with random weights (~2 GB each).

Prints ratios measured in this one run (never compared with figures from another machine):
- floor: `safetensors.torch.load_file` + every tensor read and cast to the dtype the model runs in;
- peer baseline: a fresh `StableDiffusionPipeline.from_single_file(config=...)` rebuild per switch;
- ours: a switch through the model manager from disk (cache too small to hold the other checkpoint) and as a cache
  hit; the first switch to a never-hashed file, its sha256 computed beside the load (against the floor, and
  against hashing first then loading, as before); RSS after 2 and after 100 alternating switches; peak RSS over
  baseline while loading one file (in a fresh process each, for fp32 as this CPU runs and for fp16 as a CUDA
  card runs).

Usage: .venv/bin/python bench/swap.py [--workdir DIR] [--keep] [--first-switch-only]
(needs ~7 GB of disk and ~16 GB of RAM; --first-switch-only measures the floor and the first switch with the hash)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
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

from webui.model_manager import ldm_layout  # noqa: E402
from webui.model_manager.demo import BETA_END, BETA_START, TIMESTEPS  # noqa: E402
from webui.model_manager.sd1_configs import CONFIG_ROOT  # noqa: E402

CHECKPOINTS = ("anything-a.safetensors", "anything-b.safetensors", "anything-c.safetensors")


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def write_random_sd15(folder: Path, names: tuple[str, ...] = CHECKPOINTS) -> list[Path]:
    """Random SD 1.5 fp16 weights in A1111's layout; the other files are scaled copies (distinct bytes)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    def config(part: str) -> dict:
        return json.loads((CONFIG_ROOT / part).read_text())

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(config("unet/config.json"))
        vae = AutoencoderKL.from_config(config("vae/config.json"))
        text_encoder = CLIPTextModel(CLIPTextConfig(**config("text_encoder/config.json")))
    generator = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}
    for module, convert in ((unet, lambda s: ldm_layout.unet_to_ldm(s, unet.config)),
                            (vae, lambda s: ldm_layout.vae_to_ldm(s, vae.config)),
                            (text_encoder, lambda s: ldm_layout.text_encoder_to_ldm(s, 77))):
        random_state = {key: torch.empty(value.shape, dtype=torch.float16).normal_(0, 0.02, generator=generator)
                        for key, value in module.state_dict().items()}
        state.update(convert(random_state))
    state.update(ldm_layout.noise_schedule_tensors(BETA_START, BETA_END, TIMESTEPS))
    paths = []
    for index, name in enumerate(names):
        scaled = {key: value * (1.0 + 0.01 * index) if value.is_floating_point() else value
                  for key, value in state.items()}
        path = folder / name
        ldm_layout.save_single_file(path, scaled, {"format": "pt"})
        paths.append(path)
    return paths


def floor_seconds(path: Path, dtype: torch.dtype) -> float:
    import safetensors.torch

    started = time.perf_counter()
    tensors = safetensors.torch.load_file(str(path))
    cast = [tensor.to(dtype) + 0 if tensor.dtype == dtype else tensor.to(dtype) for tensor in tensors.values()]
    del cast, tensors
    return time.perf_counter() - started


def diffusers_folder(target: Path) -> Path:
    """A configs-only diffusers folder for `from_single_file(config=...)` (the peers' offline route)."""
    from webui.model_manager.tokenizer import build_clip_tokenizer

    shutil.copytree(CONFIG_ROOT, target, dirs_exist_ok=True)
    build_clip_tokenizer().save_pretrained(target / "tokenizer")
    (target / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
        "feature_extractor": [None, None], "safety_checker": [None, None], "requires_safety_checker": False,
        "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"]}))
    return target


def rebuild_seconds(path: Path, config_dir: Path, dtype: torch.dtype) -> float:
    from diffusers import StableDiffusionPipeline

    started = time.perf_counter()
    pipeline = StableDiffusionPipeline.from_single_file(
        str(path), config=str(config_dir), local_files_only=True, torch_dtype=dtype,
        safety_checker=None, requires_safety_checker=False)
    elapsed = time.perf_counter() - started
    del pipeline
    return elapsed


def make_manager(folder: Path, entries: int, dtype_name: str, hash_file: Path | None = None):
    from webui.model_manager.hashing import HashCache
    from webui.model_manager.manager import ModelManager, ModelSources
    from webui.model_manager.memory_policy import DeviceInfo, PrecisionFlags, plan_memory
    from webui.model_manager.weight_cache import WeightCache

    plan = plan_memory(DeviceInfo("cpu"), PrecisionFlags())
    if dtype_name == "fp16":  # what a CUDA card runs; on the CPU we only load, never sample, in this mode
        from dataclasses import replace
        plan = replace(plan, unet_dtype="fp16", text_encoder_dtype="fp16", vae_dtype="fp16")
    manager = ModelManager(ModelSources((folder,)), plan, hash_cache=HashCache(hash_file) if hash_file else None,
                           cache=WeightCache(max_bytes=2**42, max_entries=entries))
    manager.refresh()
    return manager


def timed_switches(manager, names: list[str], count: int) -> list[float]:
    times = []
    for index in range(count):
        started = time.perf_counter()
        manager.load(names[index % len(names)])
        times.append(time.perf_counter() - started)
    return times


def warm(path: Path) -> None:
    """Read the file through once so that the measurement after it reads from the page cache, as the floor does."""
    with path.open("rb") as stream:
        while stream.read(16 * 1024 * 1024):
            pass


def first_switch_seconds(folder: Path, workdir: Path, names: list[str], rounds: int = 2) -> tuple[float, float, float]:
    """(first switch with its hash beside the load, the same switch without hashing, sha256 of the file alone),
    each the best of `rounds` from a warm page cache: a manager with an empty hash cache switches from one loaded
    checkpoint to a never-hashed one (a fresh cache file each time)."""
    from webui.model_manager.hashing import sha256_of_file

    target = folder / names[1]
    best = {True: float("inf"), False: float("inf")}
    for round_index in range(rounds):
        for hashed in (False, True):
            hash_file = workdir / f"cache-{round_index}-{time.monotonic_ns()}.json" if hashed else None
            manager = make_manager(folder, entries=1, dtype_name="fp32", hash_file=hash_file)
            manager.load(names[0])
            warm(target)
            best[hashed] = min(best[hashed], timed_switches(manager, names[1:2], 1)[0])
            del manager
    warm(target)
    started = time.perf_counter()
    sha256_of_file(target)
    return best[True], best[False], time.perf_counter() - started


def peak_while_loading(folder: Path, dtype_name: str) -> dict:
    """Run in a fresh process: peak RSS over the post-import baseline while one checkpoint loads."""
    code = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r})
from pathlib import Path
import swap
manager = swap.make_manager(Path({str(folder)!r}), 1, {dtype_name!r})
import webui.model_manager.tokenizer as tokenizer_module
manager._tokenizer = tokenizer_module.build_clip_tokenizer()
Path('/proc/self/clear_refs').write_text('5')
baseline = swap.rss_bytes()
manager.load({CHECKPOINTS[0]!r})
peak = next(int(line.split()[1]) * 1024 for line in Path('/proc/self/status').read_text().splitlines()
            if line.startswith('VmHWM:'))
print(json.dumps({{"baseline": baseline, "peak": peak}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated checkpoints")
    parser.add_argument("--first-switch-only", action="store_true",
                        help="only the floor and the first switch to a never-hashed file")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kestrel-swap-bench-"))
    folder = workdir / "Stable-diffusion"
    folder.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        run(folder, workdir, args.first_switch_only)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def run(folder: Path, workdir: Path, first_switch_only: bool = False) -> None:
    paths = [folder / name for name in CHECKPOINTS]
    if not all(path.exists() for path in paths):
        started = time.perf_counter()
        paths = write_random_sd15(folder)
        print(f"wrote {len(paths)} random SD 1.5 fp16 checkpoints in {time.perf_counter() - started:.1f} s")
    size = paths[0].stat().st_size
    print(f"file size: {size / 1024**3:.2f} GiB; torch threads {torch.get_num_threads()}")
    for path in paths:  # warm the page cache so every variant reads from RAM, as a second switch does
        path.read_bytes()

    floor = statistics.median(floor_seconds(paths[i % 3], torch.float32) for i in range(3))
    names = list(CHECKPOINTS)
    with_hash, without_hash, hash_alone = first_switch_seconds(folder, workdir, names)
    report_first_switch(floor, with_hash, without_hash, hash_alone)
    if first_switch_only:
        return
    config_dir = diffusers_folder(workdir / "diffusers-config")
    rebuild = statistics.median(rebuild_seconds(paths[i % 3], config_dir, torch.float32) for i in range(3))
    rebuild16 = statistics.median(rebuild_seconds(paths[i % 3], config_dir, torch.float16) for i in range(3))

    disk_manager = make_manager(folder, entries=1, dtype_name="fp32")
    timed_switches(disk_manager, names[:1], 1)
    from_disk = statistics.median(timed_switches(disk_manager, names[1:] + names[:1], 4))
    del disk_manager
    disk_manager16 = make_manager(folder, entries=1, dtype_name="fp16")
    timed_switches(disk_manager16, names[:1], 1)
    from_disk16 = statistics.median(timed_switches(disk_manager16, names[1:] + names[:1], 4))
    del disk_manager16

    hit_manager = make_manager(folder, entries=2, dtype_name="fp32")
    timed_switches(hit_manager, names[:2], 2)  # both now cached
    rss_after_2 = rss_bytes()
    hits = timed_switches(hit_manager, names[:2], 100)
    rss_after_100 = rss_bytes()
    del hit_manager

    fp32_peak = peak_while_loading(folder, "fp32")
    fp16_peak = peak_while_loading(folder, "fp16")
    report(size, floor, rebuild, rebuild16, (from_disk, from_disk16), hits, (rss_after_2, rss_after_100),
           fp32_peak, fp16_peak)


def report_first_switch(floor: float, with_hash: float, without_hash: float, hash_alone: float) -> None:
    rows = [
        ("floor: load_file + read and cast every tensor (fp32)", f"{floor:.3f} s", ""),
        ("first switch to a never-hashed file, sha256 beside the load", f"{with_hash:.3f} s",
         f"{with_hash / floor:.2f}x floor (goal <= 1.5)"),
        ("the same switch without hashing", f"{without_hash:.3f} s", f"{without_hash / floor:.2f}x floor"),
        ("hash first, then load (before this release)", f"{hash_alone + without_hash:.3f} s",
         f"{(hash_alone + without_hash) / floor:.2f}x floor (sha256 alone {hash_alone:.3f} s)"),
    ]
    width = max(len(row[0]) for row in rows)
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:>12}  {note}")


def report(size, floor, rebuild, rebuild16, from_disk_pair, hits, rss_pair, fp32_peak, fp16_peak):
    from_disk, from_disk16 = from_disk_pair
    rss_after_2, rss_after_100 = rss_pair
    hit = statistics.median(hits)
    over32 = (fp32_peak["peak"] - fp32_peak["baseline"]) / size
    over16 = (fp16_peak["peak"] - fp16_peak["baseline"]) / size
    rows = [
        ("floor: load_file + read and cast every tensor (fp32)", f"{floor:.3f} s", ""),
        ("peer: from_single_file rebuild per switch (fp32)", f"{rebuild:.3f} s", ""),
        ("peer: from_single_file rebuild per switch (fp16)", f"{rebuild16:.3f} s", ""),
        ("ours: switch from disk (fp32)", f"{from_disk:.3f} s",
         f"{from_disk / floor:.2f}x floor (goal <= 1.3), {rebuild / from_disk:.1f}x faster than rebuild"),
        ("ours: switch from disk (fp16, as on a CUDA card)", f"{from_disk16:.3f} s",
         f"{rebuild16 / from_disk16:.1f}x faster than the fp16 rebuild (weights stay memory-mapped)"),
        ("ours: switch as a cache hit (median of 100)", f"{hit * 1000:.1f} ms",
         f"max {max(hits) * 1000:.1f} ms (goal <= 50 ms)"),
        ("RSS after 100 / after 2 alternating switches", f"{rss_after_100 / rss_after_2:.3f}",
         f"{rss_after_2 / 1024**3:.2f} -> {rss_after_100 / 1024**3:.2f} GiB (goal <= 1.03)"),
        ("peak RSS over baseline while loading, fp32 (CPU)", f"{over32:.2f}x file",
         "fp32 doubles every fp16 weight"),
        ("peak RSS over baseline while loading, fp16 (CUDA plan)", f"{over16:.2f}x file", "goal <= 1.2"),
    ]
    width = max(len(row[0]) for row in rows)
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:>12}  {note}")


if __name__ == "__main__":
    main()
