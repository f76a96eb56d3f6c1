"""Hot swapping weights into a resident pipeline: where every named tensor lives, found once per pipeline.

`load_state_dict(assign=True)` walks every submodule on each call, and looking each key up with
`get_submodule` walks the path again; for SD 1.5 that is most of a 50–80 ms swap. The slots map each state-dict
key to its owning module once, so a swap is a check plus one `setattr` per tensor (a few milliseconds).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from webui.model_manager.safetensors_header import CheckpointFormatError

Weights = Mapping[str, Mapping[str, torch.Tensor]]  # component name → its state dict
Slot = tuple[torch.nn.Module, str, bool]             # (owner module, attribute, is a parameter)


class WeightSlots:
    def __init__(self, components: Mapping[str, torch.nn.Module]) -> None:
        self._components = dict(components)
        self._slots: dict[str, dict[str, Slot]] = {}
        for name, module in self._components.items():
            persistent = set(module.state_dict())  # non-persistent buffers (CLIP's position_ids) are not weights
            slots: dict[str, Slot] = {}
            for owner_name, owner in module.named_modules():
                prefix = f"{owner_name}." if owner_name else ""
                for attribute, _ in owner.named_parameters(recurse=False):
                    slots[prefix + attribute] = (owner, attribute, True)
                for attribute, _ in owner.named_buffers(recurse=False):
                    if prefix + attribute in persistent:
                        slots[prefix + attribute] = (owner, attribute, False)
            self._slots[name] = slots

    def check(self, weights: Weights, part_names: Mapping[str, str], only: tuple[str, ...] | None = None) -> None:
        """Every live tensor gets a replacement of the same shape, and nothing else comes along."""
        for name, slots in self._selected(only):
            part, incoming = part_names[name], weights[name]
            if set(incoming) != set(slots):
                missing, unexpected = sorted(set(slots) - set(incoming)), sorted(set(incoming) - set(slots))
                raise CheckpointFormatError(f"the {part} weights do not fit the loaded {part}: {len(missing)} "
                                            f"missing (e.g. {missing[:3]}), {len(unexpected)} unexpected")
            wrong = [key for key, (owner, attribute, _) in slots.items()
                     if tuple(getattr(owner, attribute).shape) != tuple(incoming[key].shape)]
            if wrong:
                raise CheckpointFormatError(f"the {part} weights have other shapes than the loaded {part}: "
                                            f"{wrong[:3]}")

    def current(self, only: tuple[str, ...] | None = None) -> dict[str, dict[str, torch.Tensor]]:
        """References to the live tensors (no copy), e.g. to undo a failed swap."""
        return {name: {key: getattr(owner, attribute).detach() for key, (owner, attribute, _) in slots.items()}
                for name, slots in self._selected(only)}

    def _selected(self, only: tuple[str, ...] | None) -> list[tuple[str, dict[str, Slot]]]:
        return [(name, slots) for name, slots in self._slots.items() if only is None or name in only]

    def assign(self, weights: Weights, device: torch.device | None, only: tuple[str, ...] | None = None) -> None:
        """Make `weights` the live tensors; move them to `device` when the model lives on an accelerator."""
        for name, slots in self._selected(only):
            incoming = weights[name]
            for key, (owner, attribute, is_parameter) in slots.items():
                tensor = incoming[key]
                if is_parameter:
                    requires_grad = getattr(owner, attribute).requires_grad
                    setattr(owner, attribute, torch.nn.Parameter(tensor, requires_grad=requires_grad))
                else:
                    setattr(owner, attribute, tensor)
            if device is not None:
                self._components[name].to(device)
