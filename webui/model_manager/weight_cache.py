"""A thread-safe LRU of prepared checkpoint weights in RAM, bounded by bytes and by count.

An entry is everything needed to make a checkpoint live without touching the disk: the weights of each component,
already converted to diffusers keys and cast to the dtype the memory plan runs in. Making a cached checkpoint live
is then a pointer flip (`load_state_dict(assign=True)`), not a file read. An evicted entry is dropped completely;
nothing else holds its tensors, so their memory returns.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property

import torch

from webui.model_manager.catalog import CheckpointRecord
from webui.model_manager.probe import Architecture
from webui.model_manager.sd1_configs import SD1Configs
from webui.model_manager.weight_slots import Weights


@dataclass(frozen=True)
class PreparedCheckpoint:
    record: CheckpointRecord
    architecture: Architecture
    configs: SD1Configs
    weights: Weights
    is_demo: bool
    # With fp8 storage and A1111's `cache_fp16_weight`: the UNet's weights before quantisation, kept so that
    # switching fp8 off rebuilds from them (bit for bit what "Disable" loads) without reading the file again.
    unquantised_unet: Mapping[str, torch.Tensor] | None = None

    @cached_property  # summed once: the cache's eviction loop asks for it on every switch
    def nbytes(self) -> int:
        states = [*self.weights.values(), *([self.unquantised_unet] if self.unquantised_unet else [])]
        shared: set[int] = set()  # tensors the fp8 cast left alone are in both states: count them once
        total = 0
        for state in states:
            for tensor in state.values():
                if id(tensor) not in shared:
                    shared.add(id(tensor))
                    total += tensor.numel() * tensor.element_size()
        return total

    def unquantised(self) -> PreparedCheckpoint | None:
        """This entry with its unquantised UNet (the kept copy, or its own weights when they are not fp8); None
        when only fp8 weights are left, which must not be up-cast (that would not restore the file's values)."""
        if self.unquantised_unet is not None:
            return replace(self, weights={**self.weights, "unet": self.unquantised_unet}, unquantised_unet=None)
        if any(tensor.dtype == torch.float8_e4m3fn for tensor in self.weights["unet"].values()):
            return None
        return self

    @property
    def key(self) -> str:
        return str(self.record.path)


class WeightCache:
    """LRU keyed by checkpoint path. Limits: total bytes and number of entries (A1111's sd_checkpoints_limit)."""

    def __init__(self, max_bytes: int, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"checkpoint cache size {max_entries} must be at least 1")
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._entries: OrderedDict[str, PreparedCheckpoint] = OrderedDict()
        self._lock = threading.Lock()

    def configure(self, max_bytes: int | None = None, max_entries: int | None = None) -> None:
        with self._lock:
            if max_bytes is not None:
                self._max_bytes = max_bytes
            if max_entries is not None:
                if max_entries < 1:
                    raise ValueError(f"checkpoint cache size {max_entries} must be at least 1")
                self._max_entries = max_entries
            self._evict(keep=None)

    def get(self, key: str) -> PreparedCheckpoint | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, entry: PreparedCheckpoint) -> None:
        """Insert as most recent; older entries leave until the limits hold (the newest always stays)."""
        with self._lock:
            self._entries[entry.key] = entry
            self._entries.move_to_end(entry.key)
            self._evict(keep=entry.key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def keys(self) -> list[str]:
        """Least recently used first."""
        with self._lock:
            return list(self._entries)

    def total_bytes(self) -> int:
        with self._lock:
            return sum(entry.nbytes for entry in self._entries.values())

    def _evict(self, keep: str | None) -> None:
        def over_limit() -> bool:
            total = sum(entry.nbytes for entry in self._entries.values())
            return len(self._entries) > self._max_entries or total > self._max_bytes

        while self._entries and over_limit():
            oldest = next(iter(self._entries))
            if oldest == keep:  # `keep` was just made the most recent, so it is alone: it stays even if too big
                return
            del self._entries[oldest]
