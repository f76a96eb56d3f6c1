"""DeepBooru's tag probabilities → the prompt text A1111 v1.10 returns (its `tag_multi`), as a pure function.

Pure (no torch, no I/O) so every option can be checked against A1111's behaviour with plain numbers. What A1111
does, in order, and so does `format_tags`:

1. drop every tag scoring below the threshold (a score equal to it is kept; compared in double precision, as
   numpy 1.x compares a float32 score with a Python float) and every `rating:*` tag, whatever its score;
2. order alphabetically (by code point, on the raw tag with its underscores) or by score, highest first (ties
   keep the model's tag order);
3. drop the filtered tags: the setting is split at commas, each entry stripped and its spaces turned into
   underscores, and compared with the raw tag;
4. per tag: underscores → spaces, then a backslash before each `\\`, `(` and `)` (square brackets are left alone),
   then `(tag:0.953)` when ranks are asked for;
5. join with ", ".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from webui.errors import FieldError

RATING_PREFIX = "rating:"
_SPECIAL = re.compile(r"([\\()])")

# DeepBooruOptions field → A1111's settings key (defaults from modules/shared_options.py, section "Interrogate")
SETTING_KEYS = {
    "threshold": "interrogate_deepbooru_score_threshold",
    "sort_alpha": "deepbooru_sort_alpha",
    "use_spaces": "deepbooru_use_spaces",
    "escape": "deepbooru_escape",
    "filter_tags": "deepbooru_filter_tags",
    "include_ranks": "interrogate_return_ranks",
}


@dataclass(frozen=True)
class DeepBooruOptions:
    """The settings that shape DeepBooru's answer; the defaults are A1111 v1.10's."""

    threshold: float = 0.5
    sort_alpha: bool = True
    use_spaces: bool = True
    escape: bool = True
    filter_tags: str = ""
    include_ranks: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float) \
                or not math.isfinite(self.threshold):
            raise FieldError(SETTING_KEYS["threshold"], f"must be a number (a score from 0 to 1), got "
                                                        f"{self.threshold!r}")
        for name in ("sort_alpha", "use_spaces", "escape", "include_ranks"):
            if not isinstance(getattr(self, name), bool):
                raise FieldError(SETTING_KEYS[name], f"must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.filter_tags, str):
            raise FieldError(SETTING_KEYS["filter_tags"], f"must be text (tags separated by commas), got "
                                                          f"{self.filter_tags!r}")

    @classmethod
    def from_settings(cls, get: Callable[[str], object]) -> DeepBooruOptions:
        """Read A1111's keys through `get` (a settings lookup); a key answered with None keeps the default. A value
        of the wrong type is a FieldError naming the key."""
        values = {name: get(key) for name, key in SETTING_KEYS.items()}
        return cls(**{name: value for name, value in values.items() if value is not None})  # type: ignore[arg-type]


def filtered_tags(filter_tags: str) -> set[str]:
    """A1111's filter setting as the raw tags it removes ("long hair, smile" → {"long_hair", "smile"})."""
    return {entry.strip().replace(" ", "_") for entry in filter_tags.split(",")}


def format_tag(tag: str, probability: float, options: DeepBooruOptions) -> str:
    text = tag.replace("_", " ") if options.use_spaces else tag
    if options.escape:
        text = _SPECIAL.sub(r"\\\1", text)
    return f"({text}:{probability:.3f})" if options.include_ranks else text


def format_tags(tags: Sequence[str], probabilities: Sequence[float], options: DeepBooruOptions) -> str:
    """The prompt for one image: `probabilities[i]` is the model's score for `tags[i]`."""
    if len(tags) != len(probabilities):
        raise ValueError(f"{len(tags)} tags but {len(probabilities)} scores")
    kept: dict[str, float] = {}
    for tag, probability in zip(tags, probabilities, strict=True):
        if probability < options.threshold or tag.startswith(RATING_PREFIX):
            continue
        kept[tag] = float(probability)
    ordered = sorted(kept) if options.sort_alpha else sorted(kept, key=lambda tag: -kept[tag])
    removed = filtered_tags(options.filter_tags)
    return ", ".join(format_tag(tag, kept[tag], options) for tag in ordered if tag not in removed)
