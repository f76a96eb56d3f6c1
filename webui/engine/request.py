"""`GenerationRequest`: the frozen, validated description of one txt2img job (pure).

Every entry point (the UI today, `/sdapi/v1` and extensions later) builds one of these; nothing downstream sees
loose dicts or positional argument slices. Validation names the bad value and what is allowed, so the UI and the
API can show the message as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

RANDOM_SEED = -1
MAX_SEED = 4294967295  # seeds are 32-bit; A1111 draws random ones from [0, 4294967294)

# A1111's UI ranges (sliders); the API accepts the same.
SIZE_RANGE = (64, 2048)
SIZE_STEP = 8
STEPS_RANGE = (1, 150)
CFG_RANGE = (1.0, 30.0)
BATCH_SIZE_RANGE = (1, 8)
BATCH_COUNT_RANGE = (1, 100)


def _check_range(name: str, value: float, bounds: tuple[float, float]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"{name} {value} is out of range; allowed: {low}–{high}")


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str = ""
    negative_prompt: str = ""
    sampler_name: str = "DPM++ 2M"
    scheduler: str = "Automatic"
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    seed: int = RANDOM_SEED
    batch_size: int = 1
    batch_count: int = 1
    checkpoint: str | None = None  # title, name or hash; None = whatever is loaded
    save_images: bool = True       # write to outputs/ (the UI always does; A1111's API only when asked)

    def __post_init__(self) -> None:
        for name in ("steps", "width", "height", "seed", "batch_size", "batch_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        for name in ("width", "height"):
            value = getattr(self, name)
            _check_range(name, value, SIZE_RANGE)
            if value % SIZE_STEP:
                raise ValueError(f"{name} {value} must be a multiple of {SIZE_STEP}")
        _check_range("steps", self.steps, STEPS_RANGE)
        _check_range("cfg_scale", self.cfg_scale, CFG_RANGE)
        _check_range("batch_size", self.batch_size, BATCH_SIZE_RANGE)
        _check_range("batch_count", self.batch_count, BATCH_COUNT_RANGE)
        if self.seed != RANDOM_SEED:
            _check_range("seed", self.seed, (0, MAX_SEED))

    @property
    def image_count(self) -> int:
        return self.batch_size * self.batch_count
