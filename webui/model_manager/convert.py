"""Convert a checkpoint into a pruned fp16 `.safetensors`: the seed's subject as a tool.

A 4 GB fp32 `.ckpt` (often with EMA weights and training leftovers) becomes a ~2 GB fp16 `.safetensors` that loads
by memory map and can never run code. The source is read safely (weights-only for pickles), training-only keys
are dropped, floating tensors are cast to fp16 (the noise-schedule buffers stay fp32, as real files keep them),
and the result is written atomically under a new name: a file in use is never rewritten in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from webui.config.atomic import write_atomically
from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.ldm_layout import save_single_file
from webui.model_manager.probe import UNET_PREFIX
from webui.model_manager.safetensors_header import CheckpointFormatError
from webui.model_manager.sd1_configs import yaml_beside

TRAINING_ONLY_PREFIXES = ("model_ema.", "optimizer", "lr_scheduler", "loss.", "discriminator.")
KEEP_FP32 = {"betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
             "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
             "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
             "posterior_mean_coef1", "posterior_mean_coef2", "logvar"}


@dataclass(frozen=True)
class ConversionReport:
    source: Path
    destination: Path
    bytes_before: int
    bytes_after: int
    tensors_kept: int
    tensors_dropped: int

    def summary(self) -> str:
        gib = 1024**3
        return (f"{self.source.name} ({self.bytes_before / gib:.2f} GiB) → {self.destination.name} "
                f"({self.bytes_after / gib:.2f} GiB): {self.tensors_kept} tensors kept, "
                f"{self.tensors_dropped} training-only dropped")


def default_destination(source: Path) -> Path:
    stem = source.stem.removesuffix("-fp16").removesuffix("-pruned")
    return source.with_name(f"{stem}-pruned-fp16.safetensors")


def pruned_fp16(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
    """The tensors worth keeping, in fp16 (schedule buffers stay fp32); also how many were dropped."""
    kept: dict[str, torch.Tensor] = {}
    dropped = 0
    for key, tensor in state_dict.items():
        if key.startswith(TRAINING_ONLY_PREFIXES):
            dropped += 1
            continue
        keep_precision = key in KEEP_FP32 or not tensor.is_floating_point()
        kept[key] = tensor if keep_precision else tensor.to(torch.float16)
    return kept, dropped


def copy_yaml_along(source: Path, destination: Path) -> None:
    """A derived file keeps the architecture description of its source (A1111's `<name>.yaml`)."""
    source_yaml = yaml_beside(source)
    if source_yaml is not None and not destination.with_suffix(".yaml").exists():
        config_text = source_yaml.read_bytes()
        write_atomically(destination.with_suffix(".yaml"), lambda stream: stream.write(config_text))


def convert_checkpoint(source: Path, destination: Path | None = None, overwrite: bool = False,
                       readers: CheckpointReaders | None = None) -> ConversionReport:
    destination = destination or default_destination(source)
    if destination.suffix != ".safetensors":
        raise ValueError(f"destination {destination.name} must end in .safetensors")
    if destination.resolve() == source.resolve():
        raise ValueError(f"destination {destination} is the source file; choose another name")
    if destination.exists() and not overwrite:
        raise FileExistsError(f"{destination} already exists; pass --overwrite to replace it")
    state_dict = (readers or CheckpointReaders()).read_state_dict(source)
    if not any(key.startswith(UNET_PREFIX) for key in state_dict):
        raise CheckpointFormatError(f"{source.name}: not a Stable Diffusion checkpoint (no '{UNET_PREFIX}*' keys)")
    kept, dropped = pruned_fp16(state_dict)
    save_single_file(destination, kept, {"format": "pt", "kestrel_converted_from": source.name})
    copy_yaml_along(source, destination)
    return ConversionReport(source, destination, source.stat().st_size, destination.stat().st_size,
                            len(kept), dropped)
