"""LoRAs for one job, through diffusers' own adapter seam (PEFT): loaded, weighted per component, then removed.

`load_lora_weights` converts kohya files (`lora_unet_…`, `lora_te_…`) itself and wraps the affected layers; the
base weights are never modified (nothing is fused), and `unload_lora_weights` puts the original layers back; what
loading changes besides (grad flags, train/eval mode, attributes PEFT and transformers leave on the models) is
captured before and restored after, so the model is as it was — the fast checkpoint swap relies on that.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from webui.model_manager.weight_storage import lift_fp8_adapters

log = logging.getLogger(__name__)

# Key prefixes that mark LoRAs for other model families (SDXL's two text encoders, SD3/Flux transformers).
FOREIGN_PREFIXES = {"lora_te1_": "SDXL", "lora_te2_": "SDXL", "lora_transformer_": "SD3/Flux",
                    "transformer.": "SD3/Flux", "lora_unet_double_blocks": "Flux"}


class LoraArchitectureError(ValueError):
    """The LoRA was made for another model family or does not fit this model's layers."""


@dataclass(frozen=True)
class LoraToApply:
    name: str                                 # as written in the prompt (for messages)
    state_dict: Mapping[str, torch.Tensor]
    te_weight: float
    unet_weight: float


def check_family(lora: LoraToApply) -> None:
    for prefix, family in FOREIGN_PREFIXES.items():
        if any(key.startswith(prefix) for key in lora.state_dict):
            raise LoraArchitectureError(
                f"LoRA {lora.name} is for {family} (its keys start with {prefix!r}); this is an SD 1.x model")


def _load(pipeline, lora: LoraToApply, adapter: str) -> None:
    check_family(lora)
    try:
        with warnings.catch_warnings():  # several adapters at once is what we want; PEFT warns about it
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            pipeline.load_lora_weights(dict(lora.state_dict), adapter_name=adapter)
    except (ValueError, RuntimeError, KeyError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LoraArchitectureError(f"LoRA {lora.name} does not fit this SD 1.x model: {first_line}") from error
    present = {name for names in pipeline.get_list_adapters().values() for name in names}
    if adapter not in present:
        raise LoraArchitectureError(f"LoRA {lora.name}: none of its weights match a layer of this SD 1.x model")


@dataclass(frozen=True)
class _ModelState:
    """What loading a LoRA changes on a model besides wrapping layers, to be put back after unloading."""

    model: torch.nn.Module
    attributes: dict[str, object]
    training: tuple[tuple[torch.nn.Module, bool], ...]
    requires_grad: tuple[tuple[torch.nn.Parameter, bool], ...]

    @classmethod
    def capture(cls, model: torch.nn.Module) -> _ModelState:
        return cls(model, dict(vars(model)), tuple((module, module.training) for module in model.modules()),
                   tuple((parameter, parameter.requires_grad) for parameter in model.parameters()))

    def restore(self) -> None:
        for key in [key for key in vars(self.model) if key not in self.attributes]:
            delattr(self.model, key)  # e.g. transformers' `_weight_conversions`, which would alter later saving
        for key, value in self.attributes.items():
            if vars(self.model).get(key) is not value:
                setattr(self.model, key, value)
        for module, training in self.training:
            module.training = training
        for parameter, requires_grad in self.requires_grad:
            if parameter.requires_grad != requires_grad:
                parameter.requires_grad_(requires_grad)


@contextmanager
def applied_loras(pipeline, loras: Sequence[LoraToApply]) -> Iterator[None]:
    """Apply `loras` for the duration of the block (call it outside `torch.inference_mode`)."""
    if not loras:
        yield
        return
    adapters: list[str] = []
    states = [_ModelState.capture(model) for model in (pipeline.unet, pipeline.text_encoder)]
    try:
        for index, lora in enumerate(loras):
            adapter = f"kestrel_lora_{index}"
            adapters.append(adapter)
            _load(pipeline, lora, adapter)
        lift_fp8_adapters(pipeline.unet, pipeline.unet.dtype)  # fp8-stored weights: adapters in the compute dtype
        parts = pipeline.get_list_adapters()
        weights = [{component: (lora.te_weight if component.startswith("text_encoder") else lora.unet_weight)
                    for component, names in parts.items() if adapter in names}
                   for adapter, lora in zip(adapters, loras, strict=True)]
        pipeline.set_adapters(adapters, adapter_weights=weights)
        yield
    finally:
        pipeline.unload_lora_weights()
        for state in states:  # loading also flips grad flags and eval mode and leaves attributes behind
            state.restore()
