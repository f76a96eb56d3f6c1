"""The VRAM/RAM ledger (System tab and the page's footer): what each component occupies where, the RAM cache, the
plan's estimate for the next job at common sizes, and why a step would be slow (offload traffic).

Reads what is live (the components' tensors, the RAM cache's byte count, CUDA's allocator) and asks the pure
`memory_estimate` for the rest; nothing here changes the model, so it is safe on any thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from webui.model_manager.memory_estimate import JobEstimate, estimate_job
from webui.model_manager.sd1_pipeline import COMPONENTS, PART_NAMES
from webui.model_manager.weight_storage import placement

if TYPE_CHECKING:
    from webui.app_context import App

LEDGER_SIZES = ((512, 512), (768, 768))
MB = 1024 * 1024


def component_rows(app: App) -> tuple[list[str], dict[str, int]]:
    """One markdown row per component and place, and each component's stored bytes (for the estimate)."""
    loaded = app.models.loaded
    if loaded is None:
        return ["| (no checkpoint loaded) | | | |"], {}
    rows, sizes = [], {}
    for name in COMPONENTS:
        where = placement(getattr(loaded.pipeline, name))
        sizes[name] = sum(where.values())
        for (device, dtype), size in sorted(where.items()):
            rows.append(f"| {PART_NAMES[name]} | {device} | {dtype} | {size / MB:.0f} |")
    return rows, sizes


def _estimate_row(size: tuple[int, int], estimate: JobEstimate) -> str:
    width, height = size
    return (f"| {width}×{height} | {estimate.weights_mb:.0f} | {estimate.unet_activations_mb:.0f} | "
            f"{estimate.vae_decode_mb:.0f} | **{estimate.peak_mb:.0f}** |")


def ledger_markdown(app: App) -> str:
    plan, cache = app.models.plan, app.models.cache
    rows, sizes = component_rows(app)
    lines = ["### Memory ledger", "", "| component | where | stored as | MB |", "|---|---|---|---|", *rows,
             f"| RAM cache ({len(cache.keys())} checkpoint(s)) | cpu | | {cache.total_bytes() / MB:.0f} |"]
    allocated = _cuda_allocated_mb(plan.device)
    if allocated is not None:
        lines.append(f"| CUDA allocator (all tensors) | cuda | | {allocated:.0f} |")
    if sizes:
        place = "VRAM" if plan.device == "cuda" else "RAM"
        lines += ["", f"Next job, batch 1 ({place} estimate for {plan.describe()}):", "",
                  "| size | weights MB | UNet activations MB | VAE decode MB | peak MB |", "|---|---|---|---|---|"]
        estimates = [(size, estimate_job(plan, sizes, *size)) for size in LEDGER_SIZES]
        lines += [_estimate_row(size, estimate) for size, estimate in estimates]
        lines += ["", f"Step speed: {estimates[0][1].slow_step_reason()}."]
    return "\n".join(lines)


def footer_text(app: App) -> str:
    """One line for the bottom of the page: the plan, and the weights' place and size."""
    plan = app.models.plan
    _, sizes = component_rows(app)
    if not sizes:
        return f"Memory plan: {plan.describe()}"
    estimate = estimate_job(plan, sizes, 512, 512)
    where = "VRAM" if plan.device == "cuda" else "RAM"
    return (f"Memory plan: {plan.describe()} · weights {sum(sizes.values()) / MB:.0f} MB · "
            f"512² needs ≈{estimate.peak_mb:.0f} MB {where} · {estimate.slow_step_reason()}")


def _cuda_allocated_mb(device: str) -> float | None:
    if device != "cuda":
        return None
    import torch

    return torch.cuda.memory_allocated() / MB if torch.cuda.is_available() else None
