"""Merge two or three checkpoints the way A1111's Checkpoint Merger does, into an fp16 `.safetensors`.

Weighted sum: A·(1−M) + B·M. Add difference: A + (B − C)·M. Tensors are combined one at a time in fp32 from
memory-mapped sources, so the peak is the output plus one tensor, not three whole models. An inpainting model
(9-channel input) may be A: its first 4 channels are merged, the mask channels kept (A1111's rule). An optional
VAE is baked in. The recipe goes into the file's metadata; the file is written atomically under a new name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.convert import KEEP_FP32, TRAINING_ONLY_PREFIXES, copy_yaml_along
from webui.model_manager.ldm_layout import VAE_PREFIX, save_single_file
from webui.model_manager.probe import UNET_PREFIX
from webui.model_manager.safetensors_header import CheckpointFormatError

MergeProgress = Callable[[int, int], None]  # (tensors done, tensors total)


def _weighted_sum(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor | None, multiplier: float) -> torch.Tensor:
    return a * (1.0 - multiplier) + b * multiplier


def _add_difference(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor | None, multiplier: float) -> torch.Tensor:
    if c is None:
        raise ValueError("Add difference needs the tertiary model's tensor")
    return a + (b - c) * multiplier


@dataclass(frozen=True)
class MergeMethod:
    name: str             # A1111's label
    needs_tertiary: bool
    combine: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None, float], torch.Tensor]


MERGE_METHODS = {method.name: method for method in (
    MergeMethod("Weighted sum", False, _weighted_sum),
    MergeMethod("Add difference", True, _add_difference),
)}


@dataclass(frozen=True)
class MergeRequest:
    primary: Path
    secondary: Path
    tertiary: Path | None
    method: str
    multiplier: float
    destination: Path
    vae: Path | None = None

    def validate(self) -> MergeMethod:
        method = MERGE_METHODS.get(self.method)
        if method is None:
            raise ValueError(f"unknown merge method {self.method!r}; allowed: {', '.join(MERGE_METHODS)}")
        if method.needs_tertiary and self.tertiary is None:
            raise ValueError(f"{self.method} needs a tertiary model (C)")
        if not 0.0 <= self.multiplier <= 1.0:
            raise ValueError(f"multiplier {self.multiplier} is out of range; allowed: 0–1")
        if self.destination.suffix != ".safetensors":
            raise ValueError(f"destination {self.destination.name} must end in .safetensors")
        if self.destination.exists():
            raise FileExistsError(f"{self.destination} already exists; choose another name")
        return method


def _merge_tensor(key: str, a: torch.Tensor, b: torch.Tensor | None, c: torch.Tensor | None,
                  method: MergeMethod, multiplier: float) -> torch.Tensor:
    if b is None or not a.is_floating_point():
        return a
    if method.needs_tertiary and c is None:
        return a
    a32, b32 = a.float(), b.float()
    c32 = c.float() if c is not None else None
    if a32.shape == b32.shape and (c32 is None or c32.shape == a32.shape):
        return method.combine(a32, b32, c32, multiplier)
    if key == UNET_PREFIX + "input_blocks.0.0.weight" and a32.shape[1] == 9 and b32.shape[1] == 4:
        merged = a32.clone()  # inpainting A: merge the 4 latent channels, keep the mask channels
        merged[:, :4] = method.combine(a32[:, :4], b32, c32[:, :4] if c32 is not None and c32.shape[1] == 9
                                       else c32, multiplier)
        return merged
    if key == UNET_PREFIX + "input_blocks.0.0.weight" and a32.shape[1] == 4 and b32.shape[1] == 9:
        raise CheckpointFormatError("when merging an inpainting model with a normal one, the inpainting model "
                                    "must be A (primary)")
    raise CheckpointFormatError(f"cannot merge {key}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ "
                                "(the models have different architectures)")


def _vae_weights(path: Path, readers: CheckpointReaders) -> dict[str, torch.Tensor]:
    """A standalone VAE file's tensors under the checkpoint's `first_stage_model.` keys."""
    state = readers.read_state_dict(path)
    weights = {(key if key.startswith(VAE_PREFIX) else VAE_PREFIX + key): value for key, value in state.items()
               if not key.startswith(("model_ema.", "loss."))}
    if VAE_PREFIX + "decoder.conv_out.weight" not in weights:
        raise CheckpointFormatError(f"{path.name}: not a VAE (no decoder.conv_out.weight)")
    return weights


def merge_checkpoints(request: MergeRequest, readers: CheckpointReaders | None = None,
                      progress: MergeProgress | None = None) -> Path:
    method = request.validate()
    readers = readers or CheckpointReaders()
    a = readers.read_state_dict(request.primary)
    b = readers.read_state_dict(request.secondary)
    c = readers.read_state_dict(request.tertiary) if request.tertiary and method.needs_tertiary else None
    if not any(key.startswith(UNET_PREFIX) for key in a):
        raise CheckpointFormatError(f"{request.primary.name}: not a Stable Diffusion checkpoint")
    keys = [key for key in a if not key.startswith(TRAINING_ONLY_PREFIXES)]
    merged: dict[str, torch.Tensor] = {}
    for index, key in enumerate(keys):
        tensor = _merge_tensor(key, a[key], b.get(key), c.get(key) if c is not None else None, method,
                               request.multiplier)
        merged[key] = tensor if key in KEEP_FP32 or not tensor.is_floating_point() else tensor.to(torch.float16)
        if progress is not None:
            progress(index + 1, len(keys))
    if request.vae is not None:
        merged.update({key: value.to(torch.float16) if value.is_floating_point() else value
                       for key, value in _vae_weights(request.vae, readers).items()})
    save_single_file(request.destination, merged, _metadata(request))
    copy_yaml_along(request.primary, request.destination)
    return request.destination


def _metadata(request: MergeRequest) -> Mapping[str, str]:
    recipe = {"type": "kestrel-merge", "method": request.method, "multiplier": request.multiplier,
              "primary_model": request.primary.name, "secondary_model": request.secondary.name,
              "tertiary_model": request.tertiary.name if request.tertiary else None,
              "bake_in_vae": request.vae.name if request.vae else None, "precision": "fp16"}
    return {"format": "pt", "sd_merge_recipe": json.dumps(recipe)}
