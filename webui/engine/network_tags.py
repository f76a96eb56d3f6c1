"""A1111's extra-network tags in prompts, `<kind:name:args>` (pure).

`<lora:name>`, `<lora:name:0.7>` (text encoder and UNet 0.7), `<lora:name:0.7:0.3>` (text encoder 0.7, UNet 0.3),
named `te=`/`unet=` arguments, `lyco` as another name for `lora`. The tags are removed from the text that gets
encoded; the infotext keeps the prompt as written, as A1111 does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TAG = re.compile(r"<(\w+):([^>]+)>")
LORA_KINDS = ("lora", "lyco")


@dataclass(frozen=True)
class NetworkTag:
    kind: str
    name: str
    te_weight: float = 1.0
    unet_weight: float = 1.0

    @property
    def is_lora(self) -> bool:
        return self.kind in LORA_KINDS


def _number(tag: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{tag}: {text!r} is not a number (a weight such as 0.8 is expected)") from None


def _parse(kind: str, arguments: str, whole: str) -> NetworkTag:
    positional: list[str] = []
    named: dict[str, str] = {}
    for item in arguments.split(":"):
        key, equals, value = item.partition("=")
        if equals:
            named[key.strip()] = value.strip()
        else:
            positional.append(item.strip())
    name = positional[0] if positional else ""
    te_weight = _number(whole, positional[1]) if len(positional) > 1 else 1.0
    te_weight = _number(whole, named["te"]) if "te" in named else te_weight
    unet_weight = _number(whole, positional[2]) if len(positional) > 2 else te_weight
    unet_weight = _number(whole, named["unet"]) if "unet" in named else unet_weight
    return NetworkTag(kind, name, te_weight, unet_weight)


def extract_network_tags(prompt: str) -> tuple[str, tuple[NetworkTag, ...]]:
    """(prompt without its tags, the tags in order). A malformed weight raises ValueError naming the tag."""
    tags: list[NetworkTag] = []

    def take(match: re.Match) -> str:
        tags.append(_parse(match.group(1).lower(), match.group(2), match.group(0)))
        return ""

    return TAG.sub(take, prompt), tuple(tags)
