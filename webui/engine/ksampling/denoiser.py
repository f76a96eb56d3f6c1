"""A1111's CFG denoiser over a diffusers UNet (`sd_samplers_cfg_denoiser.py`), for one batch of one pass.

k-diffusion calls `denoiser(x, sigma)` and wants the guided prediction of the clean latent. As in A1111: the UNet
sees `x · c_in` at the continuous timestep `sigma_to_t(σ)` (k-diffusion's CompVisDenoiser over the checkpoint's
`alphas_cumprod`); conditional rows come first, the unconditional after, in one UNet call when both have the same
length and in two calls otherwise (A1111's default: no padding); `denoised = uncond + (cond − uncond) · scale`;
with a mask the known latents are blended back after (k-diffusion samplers) or before (timestep samplers) the
UNet. The conditioning is looked up by call count, as A1111's `self.step` is — which is also why a second-order
sampler's prompt schedule is built over twice the steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from webui.engine.controlnet.hook import ControlPassHook

# (call index, batch size) → (cond, uncond), each [B, tokens, width]
StepConditioning = Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]
StepCallback = Callable[[int, torch.Tensor], None]  # (step index, the step's x0 prediction)


class SamplingStopped(BaseException):
    """Raised inside the sampler's loop to stop it (Interrupt, Skip); a BaseException so no sampler swallows it."""


@dataclass
class LatentMask:
    """A1111's p.mask / p.nmask: `keep` is 1 where the init latents stay, `repaint` = 1 − keep."""

    init_latents: torch.Tensor
    keep: torch.Tensor
    repaint: torch.Tensor

    def blend(self, latents: torch.Tensor) -> torch.Tensor:
        return latents * self.repaint + self.init_latents * self.keep


class UNetModel(torch.nn.Module):
    """What k-diffusion's CompVisDenoiser wraps: the checkpoint's `alphas_cumprod` and `apply_model`."""

    def __init__(self, unet, alphas_cumprod: torch.Tensor, control: ControlPassHook | None = None) -> None:
        super().__init__()
        self.unet = unet
        self.alphas_cumprod = alphas_cumprod
        self.image_cond: torch.Tensor | None = None  # 9-channel inpainting models: [mask, masked image latents]
        self.control = control                      # ControlNet units of this pass
        self.cond_rows = 0                           # the first `cond_rows` rows of a call are conditional

    def apply_model(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        model_input = x if self.image_cond is None else torch.cat([x, self.image_cond[:x.shape[0]]], dim=1)
        dtype = self.unet.dtype
        context = cond.to(dtype)
        extra = {}
        if self.control is not None:  # ControlNet sees the 4 latent channels, also for a 9-channel UNet
            residuals = self.control.residuals(x.to(dtype), t.float(), context, self.cond_rows)
            if residuals is not None:
                extra = {"down_block_additional_residuals": tuple(residuals[:-1]),
                         "mid_block_additional_residual": residuals[-1]}
        eps = self.unet(model_input.to(dtype), t.float(), encoder_hidden_states=context, return_dict=False,
                        **extra)[0]
        return eps.to(x.dtype)


class CFGDenoiser:
    """One pass's guided denoiser; `last_prediction` is the conditional x0 of the latest call (what an interrupted
    job decodes, as A1111's `last_latent`)."""

    def __init__(self, model_wrap, conditioning: StepConditioning, cfg_scale: float,
                 should_stop: Callable[[], bool], mask: LatentMask | None = None,
                 image_cond: torch.Tensor | None = None) -> None:
        self.model_wrap = model_wrap
        self.conditioning = conditioning
        self.cfg_scale = cfg_scale
        self.should_stop = should_stop
        self.mask = mask
        self.image_cond = image_cond
        self.calls = 0
        self.scale_multiplier = 1.0          # DDIM CFG++ maps the CFG scale to [0, 1]
        self.last_prediction: torch.Tensor | None = None
        self.last_uncond_output: torch.Tensor | None = None

    def _model_output(self, x_in: torch.Tensor, sigma_in: torch.Tensor, cond: torch.Tensor,
                      uncond: torch.Tensor) -> torch.Tensor:
        """UNet outputs for [cond rows; uncond rows] — one call when the lengths match, two otherwise."""
        model = self.model_wrap.inner_model
        size = cond.shape[0]
        if cond.shape[1] == uncond.shape[1]:
            model.image_cond, model.cond_rows = self._image_cond_for(x_in.shape[0]), size
            return self.model_wrap(x_in, sigma_in, cond=torch.cat([cond, uncond]))
        out = torch.zeros_like(x_in)
        model.image_cond, model.cond_rows = self._image_cond_for(size), size
        out[:size] = self.model_wrap(x_in[:size], sigma_in[:size], cond=cond)
        model.cond_rows = 0
        out[size:] = self.model_wrap(x_in[size:], sigma_in[size:], cond=uncond)
        return out

    def _image_cond_for(self, rows: int) -> torch.Tensor | None:
        if self.image_cond is None:
            return None
        repeats = -(-rows // self.image_cond.shape[0])
        return self.image_cond.repeat(repeats, 1, 1, 1)[:rows]

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **_: object) -> torch.Tensor:
        if self.should_stop():
            raise SamplingStopped
        batch = x.shape[0]
        cond, uncond = self.conditioning(self.calls, batch)
        x_in = torch.cat([x, x])
        sigma_in = torch.cat([sigma, sigma])
        out = self._model_output(x_in, sigma_in, cond.to(x.device), uncond.to(x.device))
        out_cond, out_uncond = out[:batch], out[batch:]
        self.last_uncond_output = out_uncond
        denoised = out_uncond + (out_cond - out_uncond) * (self.cfg_scale * self.scale_multiplier)
        if self.mask is not None:
            denoised = self.mask.blend(denoised)
        self.last_prediction = self.prediction_x0(x, out_cond, sigma)
        self.calls += 1
        return denoised

    def prediction_x0(self, x: torch.Tensor, out: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return out  # k-diffusion's denoiser already predicts x0


class EpsCFGDenoiser(CFGDenoiser):
    """A1111's CFGDenoiserTimesteps: the UNet's eps at integer timesteps, guided; the mask blends before."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.alphas_cumprod = self.model_wrap.inner_model.alphas_cumprod

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **_: object) -> torch.Tensor:
        """`sigma` holds the integer timesteps here (A1111 passes them in the same argument)."""
        if self.mask is not None:
            x = self.mask.blend(x)
        unmasked, self.mask = self.mask, None
        try:
            return super().__call__(x, sigma)
        finally:
            self.mask = unmasked

    def prediction_x0(self, x: torch.Tensor, out: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        alpha = self.alphas_cumprod[sigma.to(dtype=torch.long)][:, None, None, None].to(x.dtype)
        return (x - (1 - alpha).sqrt() * out) / alpha.sqrt()


class TimestepModel(torch.nn.Module):
    """A1111's CompVisTimestepsDenoiser: eps straight from the UNet at the given timesteps."""

    def __init__(self, inner_model: UNetModel) -> None:
        super().__init__()
        self.inner_model = inner_model

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.inner_model.apply_model(x, timesteps, cond)
