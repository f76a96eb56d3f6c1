"""sd-webui-controlnet's infotext entries (pure): `ControlNet 0: "Module: canny, Model: name [hash], Weight: 1.0, ..."`.

The extension writes, for each enabled unit under its index, these fields of the unit in this order, each as
`Display Name: value` (field names title-cased word by word, values as Python prints them), joined by ", ", and
reads them back by splitting on "," and ": " (so no value may hold either). Read back: "True"/"False" are booleans,
then integers, then floats, else the text.
"""

from __future__ import annotations

from collections.abc import Mapping

INFOTEXT_FIELDS = ("module", "model", "weight", "resize_mode", "processor_res", "threshold_a", "threshold_b",
                   "guidance_start", "guidance_end", "pixel_perfect", "control_mode")
KEY_PREFIX = "ControlNet "


def unit_key(index: int) -> str:
    return f"{KEY_PREFIX}{index}"


def display_name(field: str) -> str:
    return " ".join(word.capitalize() for word in field.split("_"))


def field_name(display: str) -> str:
    return "_".join(word.lower() for word in display.split(" "))


def serialize_unit(values: Mapping[str, object]) -> str:
    """The entry's value (before A1111's quoting); ValueError when a value holds "," or ":"."""
    parts = []
    for field in INFOTEXT_FIELDS:
        text = str(values[field])
        if "," in text or ":" in text:
            raise ValueError(f"controlnet {field} {text!r} cannot be written to the infotext (it holds ',' or ':')")
        parts.append(f"{display_name(field)}: {text}")
    return ", ".join(parts)


def parse_value(text: str) -> bool | int | float | str:
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_unit(text: str) -> dict[str, object]:
    """field → value of one entry; ValueError naming the part that is not `Name: value`."""
    values: dict[str, object] = {}
    for item in text.split(","):
        key, separator, value = item.strip().partition(": ")
        if not separator or not key:
            raise ValueError(f"controlnet infotext part {item.strip()!r} is not 'Name: value'")
        values[field_name(key)] = parse_value(value.strip())
    return values


def units_in(parameters: Mapping[str, object]) -> dict[int, dict[str, object]]:
    """The ControlNet entries of parsed infotext parameters, by unit index (malformed entries are left out, as
    the extension skips legacy-format ones)."""
    units: dict[int, dict[str, object]] = {}
    for key, value in parameters.items():
        index = key[len(KEY_PREFIX):]
        if not key.startswith(KEY_PREFIX) or not index.isdigit() or not isinstance(value, str):
            continue
        try:
            units[int(index)] = parse_unit(value)
        except ValueError:
            continue
    return units
