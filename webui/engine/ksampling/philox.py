"""The "NV" noise source: CUDA's default `torch.randn` stream, computed with numpy on any device.

PyTorch's CUDA generator draws each normal number from Philox 4x32 with 10 rounds: the counter holds the call's
offset in its first word and the element's index in its third, the key is the 64-bit seed, and the first two output
words become one normal number by Box–Muller (the sine branch) in float32. A1111 offers this as "NV" so that images
made on NVIDIA cards come out the same on a CPU, a Mac or AMD. Each `randn` call advances the offset by one, as
CUDA does for a kernel launch of this size.
"""

from __future__ import annotations

import numpy as np

MULTIPLIERS = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
WEYL = (np.uint32(0x9E3779B9), np.uint32(0xBB67AE85))
ROUNDS = 10
UINT32_TO_UNIT = np.float32(2.3283064e-10)              # 2**-32, as CUDA's curand writes it
UINT32_TO_ANGLE = np.float32(2.3283064e-10 * 6.2831855)  # 2**-32 · 2π


def _split_product(word: np.ndarray, multiplier: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """(high, low) 32-bit halves of a 32×32-bit product."""
    product = word.astype(np.uint64) * multiplier
    return (product >> np.uint64(32)).astype(np.uint32), (product & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def philox_4x32(counter: list[np.ndarray], key: list[np.ndarray]) -> list[np.ndarray]:
    """Ten Philox rounds over arrays of counters (four words) under a key (two words); returns four words."""
    c0, c1, c2, c3 = (word.copy() for word in counter)
    k0, k1 = (word.copy() for word in key)
    for round_index in range(ROUNDS):
        high0, low0 = _split_product(c0, MULTIPLIERS[0])
        high2, low2 = _split_product(c2, MULTIPLIERS[1])
        c0, c1, c2, c3 = high2 ^ c1 ^ k0, low2, high0 ^ c3 ^ k1, low0
        if round_index < ROUNDS - 1:
            k0 = k0 + WEYL[0]
            k1 = k1 + WEYL[1]
    return [c0, c1, c2, c3]


def _box_muller_sine(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The constants are float32 (as curand's), the arithmetic float64, the result float32: this is what matches
    the known-answer vector of A1111's implementation to the last digit."""
    unit, angle_step = np.float64(UINT32_TO_UNIT), np.float64(UINT32_TO_ANGLE)
    radius_source = first.astype(np.float64) * unit + unit / 2
    angle = second.astype(np.float64) * angle_step + angle_step / 2
    return (np.sqrt(-2.0 * np.log(radius_source)) * np.sin(angle)).astype(np.float32)


class PhiloxGenerator:
    """One seeded stream; `randn(shape)` returns what `torch.randn(shape, device="cuda")` would after
    `torch.manual_seed(seed)` (and after as many earlier calls)."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self.offset = 0

    def randn(self, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape, dtype=np.int64))
        counter = [np.full(count, self.offset, dtype=np.uint32), np.zeros(count, dtype=np.uint32),
                   np.arange(count, dtype=np.uint32), np.zeros(count, dtype=np.uint32)]
        seed = np.uint64(self.seed & 0xFFFFFFFFFFFFFFFF)
        key = [np.full(count, seed & np.uint64(0xFFFFFFFF), dtype=np.uint64).astype(np.uint32),
               np.full(count, seed >> np.uint64(32), dtype=np.uint64).astype(np.uint32)]
        self.offset += 1
        words = philox_4x32(counter, key)
        return _box_muller_sine(words[0], words[1]).reshape(shape)
