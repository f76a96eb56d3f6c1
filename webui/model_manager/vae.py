"""External VAEs, selected as A1111 does (`sd_vae`: Automatic | None | a file).

Files: `models/VAE/**` and `*.vae.*` beside checkpoints. "Automatic" takes `<checkpoint>.vae.safetensors|.pt|.ckpt`
next to the checkpoint and otherwise the VAE baked into it; "None" always the baked-in one. A VAE file holds the
LDM VAE keys (with or without `first_stage_model.`), converted with diffusers' own function and swapped into the
live pipeline's VAE; the baked-in weights stay in the checkpoint's cache entry and come back the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

from webui.model_manager.catalog import CheckpointRecord
from webui.model_manager.hashing import short_hash
from webui.model_manager.loaders import LoaderRegistry
from webui.model_manager.safetensors_header import CheckpointFormatError

VAE_EXTENSIONS = (".safetensors", ".pt", ".ckpt")
AUTOMATIC, NONE = "Automatic", "None"


@dataclass(frozen=True)
class VaeRecord:
    path: Path
    name: str                  # the file name A1111 lists and stores in sd_vae
    sha256: str | None = None

    @property
    def model_name(self) -> str:
        """What the infotext's "VAE:" records: the file name without its extension(s)."""
        return self.name.removesuffix(self.path.suffix).removesuffix(".vae")

    @property
    def short_hash(self) -> str | None:
        return short_hash(self.sha256) if self.sha256 else None


def scan_vaes(vae_folders: Iterable[Path], checkpoint_folders: Iterable[Path]) -> list[VaeRecord]:
    found: dict[Path, VaeRecord] = {}
    for folder in vae_folders:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.suffix.lower() in VAE_EXTENSIONS:
                    found.setdefault(path.resolve(), VaeRecord(path.resolve(), path.name))
    for folder in checkpoint_folders:
        if folder.is_dir():
            for path in sorted(folder.rglob("*.vae.*")):
                if path.is_file() and path.suffix.lower() in VAE_EXTENSIONS:
                    found.setdefault(path.resolve(), VaeRecord(path.resolve(), path.name))
    return sorted(found.values(), key=lambda record: record.name.lower())


def resolve_vae(choice: str, checkpoint: CheckpointRecord, vaes: list[VaeRecord]) -> VaeRecord | None:
    """The VAE file in force for this checkpoint, or None for the baked-in one."""
    if choice == NONE:
        return None
    if choice == AUTOMATIC:
        beside = {checkpoint.path.with_suffix(f".vae{extension}") for extension in VAE_EXTENSIONS}
        return next((record for record in vaes if record.path in beside), None)
    for record in vaes:
        if choice in (record.name, record.model_name):
            return record
    allowed = ", ".join([AUTOMATIC, NONE, *(record.name for record in vaes)])
    raise LookupError(f"VAE {choice!r} not found; allowed: {allowed}")


def read_vae_weights(record: VaeRecord, loaders: LoaderRegistry, vae_config: Mapping,
                     dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The file's weights under diffusers' AutoencoderKL keys, in `dtype`."""
    state = loaders.state_dict("vae", record.path)
    if not any(key.endswith("decoder.conv_out.weight") for key in state):
        raise CheckpointFormatError(f"{record.name}: not a VAE (no decoder.conv_out.weight)")
    converted = convert_ldm_vae_checkpoint(state, dict(vae_config))
    return {key: value.to(dtype) if value.is_floating_point() else value for key, value in converted.items()}
