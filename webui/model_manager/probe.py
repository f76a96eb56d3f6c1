"""Identify a checkpoint's architecture from tensor names and shapes alone (pure: no torch).

A registry of probes, tried in order; the first that recognises the key layout wins. Supported architectures load;
recognised-but-unsupported ones (SD 2.x, SDXL, SD3, ...) get a clear "not supported yet" error instead of a
confusing shape mismatch deep inside a loader. The order follows A1111's own config detection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from webui.model_manager.safetensors_header import TensorIndex

UNET_PREFIX = "model.diffusion_model."
SD1_CLIP_KEY = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
SD1_CLIP_KEY_LEGACY = "cond_stage_model.transformer.embeddings.token_embedding.weight"


class UnsupportedArchitectureError(ValueError):
    """The checkpoint is of a known kind we cannot run yet, or of no kind we know."""


@dataclass(frozen=True)
class Architecture:
    name: str                 # e.g. "sd1", "sd1-inpaint"
    label: str                # what users read, e.g. "SD 1.x"
    supported: bool
    unet_in_channels: int = 4


Probe = Callable[[TensorIndex], "Architecture | None"]


def _unet_in_channels(index: TensorIndex) -> int | None:
    shape = index.shape(UNET_PREFIX + "input_blocks.0.0.weight")
    return shape[1] if shape and len(shape) == 4 else None


def probe_sd3(index: TensorIndex) -> Architecture | None:
    if index.shape(UNET_PREFIX + "x_embedder.proj.weight"):
        return Architecture("sd3", "SD 3", supported=False)
    return None


def probe_sdxl(index: TensorIndex) -> Architecture | None:
    if index.has_prefix("conditioner.embedders.1.model.ln_final"):
        return Architecture("sdxl", "SDXL", supported=False)
    if index.has_prefix("conditioner.embedders.0.model.ln_final"):
        return Architecture("sdxl-refiner", "SDXL refiner", supported=False)
    return None


def probe_sd2(index: TensorIndex) -> Architecture | None:
    if index.has_prefix("cond_stage_model.model.transformer.resblocks."):
        return Architecture("sd2", "SD 2.x", supported=False)
    return None


def probe_sd1(index: TensorIndex) -> Architecture | None:
    if not (index.shape(SD1_CLIP_KEY) or index.shape(SD1_CLIP_KEY_LEGACY)):
        return None
    channels = _unet_in_channels(index)
    if channels == 4:
        return Architecture("sd1", "SD 1.x", supported=True, unet_in_channels=4)
    if channels == 9:
        return Architecture("sd1-inpaint", "SD 1.x inpainting", supported=True, unet_in_channels=9)
    if channels == 8:
        return Architecture("sd1-pix2pix", "SD 1.x instruct-pix2pix", supported=False, unet_in_channels=8)
    return None


def default_probes() -> tuple[Probe, ...]:
    return (probe_sd3, probe_sdxl, probe_sd2, probe_sd1)


def identify(index: TensorIndex, probes: Iterable[Probe], file_name: str) -> Architecture:
    """Return the supported architecture of a checkpoint or raise a message that names what was found."""
    for probe in probes:
        architecture = probe(index)
        if architecture is None:
            continue
        if not architecture.supported:
            raise UnsupportedArchitectureError(f"{file_name}: not supported yet: {architecture.label}")
        return architecture
    if not index.has_prefix(UNET_PREFIX):
        raise UnsupportedArchitectureError(
            f"{file_name}: not a Stable Diffusion checkpoint (no '{UNET_PREFIX}*' UNet weights); "
            "a VAE, LoRA or embedding belongs in its own folder")
    raise UnsupportedArchitectureError(f"{file_name}: not supported yet: unrecognised architecture")
