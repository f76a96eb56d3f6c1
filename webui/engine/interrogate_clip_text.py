"""The text side of A1111's "Interrogate CLIP" (pure: no torch): settings, category files, the answer's string.

A1111 v1.10 (`modules/interrogate.py`):
- every `*.txt` in `interrogate/` is a category named by its stem; a stem ending `.topN` (`flavors.top3`) takes the
  N best matches, otherwise 1; `interrogate_clip_skip_categories` lists stems to leave out;
- each file's lines (stripped) are the candidates, the first `interrogate_clip_dict_limit` of them (0 = all);
- the answer is the BLIP caption, then ", <match>" for each match of each category, or ", (<match>:<p>)" with the
  softmax probability to 3 decimals when `interrogate_return_ranks` is on. No prefix (no "by " for artists).
Where we differ on purpose: blank lines are not candidates (A1111 would rank an empty string), and categories are
taken in file-name order (A1111 takes the folder's listing order, which the file system decides).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from webui.errors import FieldError

CATEGORY_SUFFIX = ".txt"
A1111_CATEGORY_FILES = ("artists.txt", "flavors.txt", "mediums.txt", "movements.txt")  # what A1111 downloads
TOP_COUNT = re.compile(r"\.top(\d+)$")

SETTING_KEYS = {"num_beams": "interrogate_clip_num_beams", "min_length": "interrogate_clip_min_length",
                "max_length": "interrogate_clip_max_length", "dict_limit": "interrogate_clip_dict_limit",
                "skip_categories": "interrogate_clip_skip_categories", "return_ranks": "interrogate_return_ranks"}


@dataclass(frozen=True)
class ClipInterrogateOptions:
    """A1111's interrogate settings (defaults as in its shared_options.py). `interrogate_keep_models_in_memory` is
    the registry's (interrogators.py): it releases the models after each call unless the setting is on."""

    num_beams: int = 1
    min_length: int = 24
    max_length: int = 48
    dict_limit: int = 1500
    skip_categories: tuple[str, ...] = ()
    return_ranks: bool = False

    def __post_init__(self) -> None:
        for name in ("num_beams", "min_length", "max_length"):
            if getattr(self, name) < 1:
                raise FieldError(SETTING_KEYS[name], f"must be at least 1, got {getattr(self, name)}")
        if self.dict_limit < 0:
            raise FieldError(SETTING_KEYS["dict_limit"], f"must be 0 (no limit) or more, got {self.dict_limit}")

    @classmethod
    def from_settings(cls, get: Callable[[str], object]) -> ClipInterrogateOptions:
        """Read A1111's keys through `get` (the settings store); a value of the wrong type names its key."""
        return cls(num_beams=_integer(get, "num_beams"), min_length=_integer(get, "min_length"),
                   max_length=_integer(get, "max_length"), dict_limit=_integer(get, "dict_limit"),
                   skip_categories=_names(get, "skip_categories"), return_ranks=bool(get(SETTING_KEYS["return_ranks"])))


def _integer(get: Callable[[str], object], field: str) -> int:
    key = SETTING_KEYS[field]
    value = get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldError(key, f"must be a whole number, got {value!r}")
    try:
        return int(float(value))
    except ValueError:
        raise FieldError(key, f"must be a whole number, got {value!r}") from None


def _names(get: Callable[[str], object], field: str) -> tuple[str, ...]:
    key = SETTING_KEYS[field]
    value = get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise FieldError(key, f"must be a list of category names, got {value!r}")


@dataclass(frozen=True)
class Category:
    name: str
    top_count: int
    items: tuple[str, ...]


def category_name(file_name: str) -> str:
    """`flavors.top3.txt` → `flavors.top3` (the name A1111 shows in "skip categories")."""
    return file_name[:-len(CATEGORY_SUFFIX)] if file_name.endswith(CATEGORY_SUFFIX) else file_name


def top_count_of(name: str) -> int:
    match = TOP_COUNT.search(name)
    return int(match.group(1)) if match else 1


def parse_category(name: str, text: str, dict_limit: int) -> Category:
    items = tuple(line.strip() for line in text.splitlines() if line.strip())
    if dict_limit:
        items = items[:dict_limit]
    return Category(name=name, top_count=top_count_of(name), items=items)


def select_categories(texts: Mapping[str, str], options: ClipInterrogateOptions) -> list[Category]:
    """`texts`: {file name: contents}. Skipped names left out, file-name order, empty categories dropped."""
    categories = [parse_category(category_name(file_name), text, options.dict_limit)
                  for file_name, text in sorted(texts.items())
                  if category_name(file_name) not in options.skip_categories]
    return [category for category in categories if category.items and category.top_count > 0]


def category_names(file_names: Iterable[str]) -> list[str]:
    """The choices of `interrogate_clip_skip_categories` for a folder's files."""
    return sorted(category_name(name) for name in file_names if name.endswith(CATEGORY_SUFFIX))


def strip_prompt(decoded: str, prompt: str) -> str:
    """BLIP decodes the prompt back ("a picture of ..."); A1111 cuts its length off the front."""
    text = decoded.strip()
    stem = prompt.strip()
    return text[len(stem):].strip() if text.startswith(stem) else text


def format_interrogation(caption: str, matches: Sequence[Sequence[tuple[str, float]]], return_ranks: bool) -> str:
    """caption + ", match" per match (or ", (match:0.123)" with ranks), categories in order."""
    parts = [caption]
    for category_matches in matches:
        for text, probability in category_matches:
            parts.append(f"({text}:{probability:.3f})" if return_ranks else text)
    return ", ".join(parts)
