"""The ControlNet residuals of one UNet call, as sd-webui-controlnet computes them (its `hook.py` forward).

Each active unit runs its ControlNet on the UNet's own input (the 4 latent channels, also for a 9-channel inpainting
UNet), timestep and text conditioning, with its hint image; the 13 outputs (12 for the encoder blocks, then the
middle block; fewer for the tiny test models) are scaled and summed over the units, and the UNet adds them to its
skip connections. The control modes are the extension's:
- Balanced: every output × weight, on the conditional and the unconditional rows;
- My prompt is more important ("soft injection"): output i × weight · 0.825^(n−1−i), so the deep blocks keep the
  control and the shallow ones mostly let the prompt speak;
- ControlNet is more important ("CFG injection"): full weight on the conditional rows only, none on the
  unconditional ones, so CFG pushes towards the control.
In the hires pass, canny and mlsd units use the soft weights whatever their mode (the extension does this to avoid
artifacts). A unit acts while `sampling_step / total_steps` lies within [guidance_start, guidance_end], where
`sampling_step` is A1111's: the index of the last finished step (0 before the first).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SOFT_INJECTION_BASE = 0.825
CFG_INJECTION_MODE = "ControlNet is more important"
SOFT_INJECTION_MODE = "My prompt is more important"


@dataclass
class ActiveUnit:
    model: torch.nn.Module
    hint: torch.Tensor           # [1, 3, H, W] in [0, 1] (or −1 on masked pixels), pixel size of the pass
    weight: float
    guidance_start: float
    guidance_end: float
    control_mode: str
    soft_weights: bool           # "My prompt is more important", or forced for canny/mlsd in the hires pass
    low_vram: bool = False       # keep the model on the CPU between calls

    def active_at(self, fraction: float) -> bool:
        return self.weight != 0 and self.guidance_start <= fraction <= self.guidance_end

    def scales(self, count: int) -> list[float]:
        if self.soft_weights:
            return [self.weight * SOFT_INJECTION_BASE ** float(count - 1 - index) for index in range(count)]
        return [self.weight] * count

    def outputs(self, x: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor) -> list[torch.Tensor]:
        device = x.device
        if self.low_vram:
            self.model.to(device)
        try:
            hint = self.hint.to(device, x.dtype).expand(x.shape[0], -1, -1, -1)
            down, middle = self.model(x, timestep, encoder_hidden_states=context, controlnet_cond=hint,
                                      return_dict=False)
        finally:
            if self.low_vram:
                self.model.to("cpu")
        return [*down, middle]


@dataclass
class ControlPassHook:
    """The units of one sampling pass; `UNetModel.apply_model` asks it for residuals at every call."""

    units: list[ActiveUnit]
    total_steps: int = 1
    sampling_step: int = 0

    def on_step(self, index: int) -> None:
        self.sampling_step = index

    def residuals(self, x: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
                  cond_rows: int) -> list[torch.Tensor] | None:
        """The summed, scaled outputs for this call's rows (the first `cond_rows` are conditional), or None when no
        unit acts at this step."""
        fraction = self.sampling_step / max(self.total_steps, 1)
        total: list[torch.Tensor] | None = None
        for unit in self.units:
            if not unit.active_at(fraction):
                continue
            outputs = unit.outputs(x, timestep, context)
            scales = unit.scales(len(outputs))
            if unit.control_mode == CFG_INJECTION_MODE:
                rows = torch.arange(x.shape[0], device=x.device) < cond_rows
                mark = rows.to(x.dtype)[:, None, None, None]
                outputs = [output * mark for output in outputs]
            scaled = [output * scale for output, scale in zip(outputs, scales, strict=True)]
            total = scaled if total is None else [a + b for a, b in zip(total, scaled, strict=True)]
        return total
