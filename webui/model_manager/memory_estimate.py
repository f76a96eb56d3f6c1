"""What the next job will need on the device at its size, and what offloading moves per step: a pure estimate.

For the memory ledger (System tab, page footer): weights resident on the device under the plan's offload mode
(the components' real byte counts come in; nothing is probed here), the UNet's activations for the latent size
and batch (classifier-free guidance doubles the batch), and the VAE decode's (capped by the tile when the VAE is
tiled). The per-step offload traffic is why a step is slow: group and sequential offload send every UNet weight
to the card on every step, model offload sends it once per job.

The activation constants are sized from diffusers' SD 1.5 figures at 512² (about 1 GB of UNet activations in fp16
with SDPA, about 1.2 GB for an untiled VAE decode); they are estimates until bench/gpu_check.py has measured a card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from webui.model_manager.memory_policy import MemoryPlan

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
UNET_ACTIVATION_ELEMENTS_PER_LATENT_PIXEL = 64_000   # live at the peak of one UNet call, per batch element
SLICED_ATTENTION_FACTOR = 0.6                        # slicing keeps one head's attention matrix at a time
VAE_DECODE_ELEMENTS_PER_PIXEL = 2_300                # the decoder's peak, per output pixel
VAE_TILE_PIXELS = 512 * 512                          # diffusers' SD tile: a tiled decode never holds more
UNET_BLOCK_GROUPS = 12                               # SD 1.x UNet: down, mid and up blocks with their resnets
PCIE_GBPS = 12.0                                     # host → card copy rate assumed for the traffic's time
MB = 1024 * 1024


@dataclass(frozen=True)
class JobEstimate:
    weights_mb: float          # resident on the device during sampling
    unet_activations_mb: float
    vae_decode_mb: float
    traffic_per_step_mb: float  # host → device weight copies per sampling step
    traffic_per_job_mb: float   # copies once per job (model offload)

    @property
    def peak_mb(self) -> float:
        """Sampling and decoding do not overlap; the larger of the two phases is the job's peak."""
        return self.weights_mb + max(self.unet_activations_mb, self.vae_decode_mb)

    @property
    def traffic_seconds_per_step(self) -> float:
        return self.traffic_per_step_mb / 1024 / PCIE_GBPS

    def slow_step_reason(self) -> str:
        if self.traffic_per_step_mb > 0:
            return (f"offload traffic: each step copies {self.traffic_per_step_mb:.0f} MB of UNet weights to the "
                    f"card (≈{self.traffic_seconds_per_step * 1000:.0f} ms at {PCIE_GBPS:.0f} GB/s)")
        if self.traffic_per_job_mb > 0:
            return (f"model offload: {self.traffic_per_job_mb:.0f} MB of weights move to the card once per job, "
                    "not per step")
        return "no offload traffic: every weight stays where it computes"


def estimate_job(plan: MemoryPlan, component_bytes: Mapping[str, int], width: int, height: int,
                 batch_size: int = 1) -> JobEstimate:
    """`component_bytes`: each component's stored weight bytes ("unet", "text_encoder", "vae")."""
    if width <= 0 or height <= 0 or batch_size <= 0:
        raise ValueError(f"size {width}x{height} and batch {batch_size} must be positive")
    unet = component_bytes.get("unet", 0)
    compute_bytes = DTYPE_BYTES.get(plan.unet_dtype, 4)
    latent_pixels = (width // 8) * (height // 8)
    activations = float(UNET_ACTIVATION_ELEMENTS_PER_LATENT_PIXEL * latent_pixels * 2 * batch_size * compute_bytes)
    if plan.attention == "sliced":
        activations *= SLICED_ATTENTION_FACTOR
    decoded_pixels = width * height * (1 if plan.vae_slicing else batch_size)
    if plan.vae_tiling:
        decoded_pixels = min(decoded_pixels, VAE_TILE_PIXELS)
    vae = VAE_DECODE_ELEMENTS_PER_PIXEL * decoded_pixels * DTYPE_BYTES.get(plan.vae_dtype, 4)
    resident, per_step, per_job = _weights_and_traffic(plan, component_bytes, unet)
    return JobEstimate(resident / MB, activations / MB, vae / MB, per_step / MB, per_job / MB)


def _weights_and_traffic(plan: MemoryPlan, component_bytes: Mapping[str, int], unet: int) -> tuple[int, int, int]:
    """(bytes resident during sampling, copied per step, copied per job) for the plan's offload mode."""
    total = sum(component_bytes.values())
    if plan.device == "cpu" or plan.offload == "none":
        return total, 0, 0
    if plan.offload == "model":
        return max(component_bytes.values(), default=0), 0, total
    if plan.offload == "group":
        return 2 * unet // UNET_BLOCK_GROUPS, unet, 0       # the running group and the prefetched one
    return unet // (UNET_BLOCK_GROUPS * 8), unet, 0          # sequential: one layer at a time
