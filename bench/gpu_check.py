"""One-shot check of the memory plans on a CUDA card: prints one table and exits non-zero on any failure.

On a CUDA machine (≤ 8 minutes; SD 1.5-size random fp16 checkpoints written to a temporary folder, ~4 GB of disk):
- swap RAM → VRAM: a switch between two checkpoints held in the RAM cache (the weights' copy to the card);
- it/s at 512² by attention mode: SDPA, xformers (when importable), sliced;
- peak VRAM per plan at 512²: whole model, model offload, group offload, sequential offload, each also with fp8;
- 4, 6 and 8 GB cards emulated with `torch.cuda.set_per_process_memory_fraction`: the plan the policy chooses for
  that card generates 512² and 768² without running out of memory;
- a forced out-of-memory error (raised once by a forward pre-hook on the UNet) takes the leaner retry.

`--dry` runs the same checks on the CPU with the tiny model at 64²/128² (offload plans and the memory fraction do
not exist there: the emulated cards' plans run with their attention, VAE and fp8 choices on the CPU), which tests
this script's own logic; its figures say nothing about a card.

Needs, besides PyTorch (preinstalled on the card's machine), these wheels carried over (no network), at the
versions in requirements.txt: diffusers, transformers, tokenizers, huggingface_hub, accelerate, safetensors, peft,
pillow, numpy, scipy, torchsde, torchdiffeq, tqdm, regex, pyyaml, filelock, packaging, requests (an import
dependency of huggingface_hub), clip-anytorch is not needed (the tokenizer vocabulary ships in webui/), and
xformers optionally. Usage: python bench/gpu_check.py [--dry] [--workdir DIR] [--only swap,attention,plans,cards,oom]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
for _name, _value in {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
                      "HF_HUB_DISABLE_TELEMETRY": "1"}.items():
    os.environ.setdefault(_name, _value)

EMULATED_CARDS_GB = (4, 6, 8)
PLAN_OFFLOADS = ("none", "model", "group", "sequential")


@dataclass(frozen=True)
class Row:
    check: str
    configuration: str
    value: str
    ok: bool
    note: str = ""


@dataclass(frozen=True)
class Sizes:
    """What a run measures at: the real sizes on a card, tiny ones for --dry."""

    resolutions: tuple[int, ...]
    speed_resolution: int
    steps: int


CARD_SIZES = Sizes((512, 768), 512, 8)
DRY_SIZES = Sizes((64, 128), 64, 2)


def memory_fraction(card_gb: float, total_bytes: int) -> float | None:
    """The fraction of this card that emulates a `card_gb` card; None when this card is smaller."""
    fraction = card_gb * 1024**3 / total_bytes
    return fraction if fraction <= 1.0 else None


def format_table(rows: list[Row]) -> str:
    header = ("check", "configuration", "value", "result", "note")
    cells = [header] + [(row.check, row.configuration, row.value, "ok" if row.ok else "FAIL", row.note)
                        for row in rows]
    widths = [max(len(line[column]) for line in cells) for column in range(len(header))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
             for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def exit_code(rows: list[Row]) -> int:
    return 0 if rows and all(row.ok for row in rows) else 1


def guarded(check: str, configuration: str, measure: Callable[[], Row]) -> Row:
    """A failing measurement is a FAIL row with its error, and the other checks still run."""
    try:
        return measure()
    except Exception as error:  # the table must show every failure, whatever it is
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
        return Row(check, configuration, "-", False, f"{type(error).__name__}: {first_line}")


class Harness:
    """Checkpoints, managers and generations on one device ("cuda", or "cpu" for --dry)."""

    def __init__(self, device: str, folder: Path, names: tuple[str, ...], sizes: Sizes) -> None:
        from webui.jobs.device import DeviceThread

        self.device, self.folder, self.names, self.sizes = device, folder, names, sizes
        self._thread = DeviceThread()

    def close(self) -> None:
        self._thread.shutdown()

    def on_device(self, work: Callable[[], object]) -> object:
        """Run on the device thread, then free what the check built (each check starts from an empty card)."""
        import gc

        try:
            return self._thread.run(work)
        finally:
            gc.collect()
            if self.device == "cuda":
                import torch

                torch.cuda.empty_cache()

    def card_plan(self, vram_mb: int | None = None, **changes: object):
        from webui.model_manager.memory_policy import DeviceInfo, PrecisionFlags, plan_memory

        if self.device == "cuda":
            import torch

            total = vram_mb or torch.cuda.get_device_properties(0).total_memory // 2**20
            plan = plan_memory(DeviceInfo("cuda", "check", total), PrecisionFlags())
        else:
            plan = plan_memory(DeviceInfo("cpu"), PrecisionFlags())
            if vram_mb is not None:  # the emulated card's choices that exist on a CPU
                card = plan_memory(DeviceInfo("cuda", "check", vram_mb), PrecisionFlags())
                plan = replace(plan, attention=card.attention, vae_tiling=card.vae_tiling,
                               vae_slicing=card.vae_slicing, fp8_weights=card.fp8_weights, reasons=card.reasons)
        return replace(plan, **changes) if changes else plan

    def manager(self, plan, entries: int = 1):
        from webui.model_manager.manager import ModelManager, ModelSources
        from webui.model_manager.weight_cache import WeightCache

        manager = ModelManager(ModelSources((self.folder,)), plan, None,
                               cache=WeightCache(max_bytes=2**42, max_entries=entries))
        manager.refresh()
        return manager

    def generate(self, manager, size: int, steps: int | None = None):
        from webui.engine.generate import GenerationEngine, InfotextOptions
        from webui.engine.request import GenerationRequest
        from webui.engine.samplers import default_sampler_table

        engine = GenerationEngine(manager, default_sampler_table())
        request = GenerationRequest(prompt="a castle on a hill", sampler_name="Euler", steps=steps or 2,
                                    width=size, height=size, seed=1, checkpoint=self.names[0])
        return engine.generate(request, InfotextOptions())

    def peak_mb(self, work: Callable[[], object]) -> float:
        """On a card: all the VRAM allocated at the peak (weights included: offload plans move them); on the CPU:
        the RSS peak over the block's start (the benchmark's counter)."""
        if self.device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
            work()
            return torch.cuda.max_memory_allocated() / 2**20
        from webui.benchmark.runner import PeakMemory

        with PeakMemory(self.device) as peak:
            work()
        return peak.megabytes

    def limit_memory(self, fraction: float | None) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()
            torch.cuda.set_per_process_memory_fraction(1.0 if fraction is None else fraction)


def swap_row(harness: Harness) -> Row:
    def measure() -> Row:
        manager = harness.manager(harness.card_plan(offload="none"), entries=2)
        manager.load(harness.names[0])
        manager.load(harness.names[1])
        times = []
        for index in range(4):
            started = time.perf_counter()
            manager.load(harness.names[index % 2])
            if harness.device == "cuda":
                import torch

                torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
        return Row("swap RAM -> VRAM", "cache hit, whole model on the device", f"{statistics.median(times):.3f} s",
                   True, f"max {max(times):.3f} s of 4")
    return guarded("swap RAM -> VRAM", "cache hit", lambda: harness.on_device(measure))  # type: ignore[arg-type]


def attention_rows(harness: Harness) -> list[Row]:
    import importlib.util

    modes = ["sdpa", "sliced"]
    if harness.device == "cuda" and importlib.util.find_spec("xformers") is not None:
        modes.insert(1, "xformers")
    rows = []
    size, steps = harness.sizes.speed_resolution, harness.sizes.steps
    for mode in modes:
        def measure(mode: str = mode) -> Row:
            manager = harness.manager(harness.card_plan(attention=mode))
            harness.generate(manager, size, 1)  # warm-up
            started = time.perf_counter()
            harness.generate(manager, size, steps)
            seconds = time.perf_counter() - started
            return Row("it/s by attention", f"{mode} {size}x{size}", f"{steps / seconds:.2f} it/s", True,
                       f"{steps} steps incl. decode")
        rows.append(guarded("it/s by attention", mode, lambda measure=measure: harness.on_device(measure)))
    return rows


def plan_peak_rows(harness: Harness) -> list[Row]:
    offloads = PLAN_OFFLOADS if harness.device == "cuda" else ("none", "group")
    rows = []
    size = harness.sizes.speed_resolution
    for offload in offloads:
        for fp8 in (False, True):
            label = f"offload {offload}{', fp8' if fp8 else ''}"

            def measure(offload: str = offload, fp8: bool = fp8, label: str = label) -> Row:
                manager = harness.manager(harness.card_plan(offload=offload, fp8_weights=fp8))
                manager.load(harness.names[0])
                peak = harness.peak_mb(lambda: harness.generate(manager, size))
                ok = peak > 0
                return Row("peak VRAM per plan" if harness.device == "cuda" else "peak RAM per plan",
                           f"{label} {size}x{size}", f"{peak:.0f} MB", ok, "" if ok else "no peak measured")
            rows.append(guarded("peak per plan", label, lambda measure=measure: harness.on_device(measure)))
    return rows


def emulated_card_rows(harness: Harness) -> list[Row]:
    rows = []
    total = _total_vram_bytes(harness)
    for card_gb in EMULATED_CARDS_GB:
        fraction = memory_fraction(card_gb, total) if total else None
        if harness.device == "cuda" and fraction is None:
            rows.append(Row("emulated card", f"{card_gb} GB", "-", True, "this card is smaller: not emulated"))
            continue
        plan = harness.card_plan(card_gb * 1024)
        chosen = _policy_choice(card_gb) + ("" if harness.device == "cuda" else " (run on the CPU without offload)")
        for size in harness.sizes.resolutions:
            def measure(size: int = size, plan=plan, fraction: float | None = fraction, card_gb: int = card_gb,
                        chosen: str = chosen) -> Row:
                harness.limit_memory(fraction)
                try:
                    manager = harness.manager(plan)
                    result = harness.generate(manager, size)
                finally:
                    harness.limit_memory(None)
                retried = [note for note in result.notes if "out of memory" in note]
                return Row("emulated card", f"{card_gb} GB {size}x{size}", chosen,
                           not retried and len(result.images) == 1, "; ".join(retried) or "no out-of-memory")
            rows.append(guarded("emulated card", f"{card_gb} GB {size}", lambda measure=measure: harness.on_device(
                measure)))
    return rows


def _policy_choice(card_gb: int) -> str:
    from webui.model_manager.memory_policy import DeviceInfo, PrecisionFlags, plan_memory

    plan = plan_memory(DeviceInfo("cuda", "emulated", card_gb * 1024), PrecisionFlags())
    return f"offload {plan.offload}{', fp8' if plan.fp8_weights else ''}, attention {plan.attention}"


def _total_vram_bytes(harness: Harness) -> int | None:
    if harness.device != "cuda":
        return None
    import torch

    return int(torch.cuda.get_device_properties(0).total_memory)


def forced_oom_row(harness: Harness) -> Row:
    def measure() -> Row:
        import torch

        manager = harness.manager(harness.card_plan(offload="none"))
        loaded = manager.load(harness.names[0])
        raised: list[bool] = []

        def out_of_memory_once(module: torch.nn.Module, args: object) -> None:
            if not raised:
                raised.append(True)
                raise torch.OutOfMemoryError("forced by gpu_check")

        handle = loaded.pipeline.unet.register_forward_pre_hook(out_of_memory_once)
        try:
            result = harness.generate(manager, harness.sizes.speed_resolution)
        finally:
            handle.remove()
        retry = [note for note in result.notes if note.startswith("out of memory; retried with")]
        return Row("forced out-of-memory", "whole model, OOM at the first UNet call", retry[0] if retry else "-",
                   bool(retry) and len(result.images) == 1, f"now {manager.plan.describe()}")
    return guarded("forced out-of-memory", "leaner retry", lambda: harness.on_device(measure))  # type: ignore


def prepare_checkpoints(dry: bool, workdir: Path) -> tuple[Path, tuple[str, ...]]:
    folder = workdir / "Stable-diffusion"
    folder.mkdir(parents=True, exist_ok=True)
    names = ("check-a.safetensors", "check-b.safetensors")
    if dry:
        import shutil

        from webui.model_manager.demo import TinySD1Spec, write_tiny_checkpoint

        first = write_tiny_checkpoint(folder / names[0], TinySD1Spec())
        shutil.copy(first, folder / names[1])
        shutil.copy(first.with_suffix(".yaml"), folder / "check-b.yaml")
    elif not all((folder / name).exists() for name in names):
        from swap import write_random_sd15

        write_random_sd15(folder, names)
    return folder, names


CHECKS: dict[str, Callable[[Harness], list[Row]]] = {
    "swap": lambda harness: [swap_row(harness)],
    "attention": attention_rows,
    "plans": plan_peak_rows,
    "cards": emulated_card_rows,
    "oom": lambda harness: [forced_oom_row(harness)],
}


def run_checks(dry: bool, workdir: Path, only: tuple[str, ...] = tuple(CHECKS)) -> list[Row]:
    import torch

    unknown = sorted(set(only) - set(CHECKS))
    if unknown:
        raise SystemExit(f"unknown check(s) {', '.join(unknown)}; allowed: {', '.join(CHECKS)}")
    if not dry and not torch.cuda.is_available():
        return [Row("device", "cuda", "-", False, "no CUDA device; run with --dry on a CPU")]
    folder, names = prepare_checkpoints(dry, workdir)
    harness = Harness("cpu" if dry else "cuda", folder, names, DRY_SIZES if dry else CARD_SIZES)
    try:
        return [row for name in only for row in CHECKS[name](harness)]
    finally:
        harness.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry", action="store_true", help="check this script's logic on the CPU (tiny model)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the checkpoints go (default: a temp dir)")
    parser.add_argument("--only", default=",".join(CHECKS), help=f"some of {','.join(CHECKS)} (default: all)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kestrel-gpu-check-") as temporary:
        started = time.perf_counter()
        only = tuple(name.strip() for name in args.only.split(",") if name.strip())
        rows = run_checks(args.dry, args.workdir or Path(temporary), only)
    print(format_table(rows))
    print(f"{'dry run on the CPU (tiny model): ' if args.dry else ''}{sum(row.ok for row in rows)}/{len(rows)} ok "
          f"in {time.perf_counter() - started:.0f} s")
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())
