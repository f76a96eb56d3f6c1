"""Parse an A1111 infotext back into its fields (pure), as A1111's parse_generation_parameters does.

The last line is the parameters line only when it holds at least 3 "key: value" pairs; lines before
"Negative prompt:" are the prompt, that line and the following ones (up to the parameters) the negative prompt.
Quoted values are JSON-unquoted; "WxH" values are also split into "<Key>-1"/"<Key>-2" (Size-1, Size-2).
Filling A1111's defaults for missing keys belongs to the PNG Info workflow and is not done here.
"""

from __future__ import annotations

import json
import re

PARAMETER = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
SIZE = re.compile(r"^(\d+)x(\d+)$")
NEGATIVE_PREFIX = "Negative prompt:"


def parse_infotext(text: str) -> dict[str, str]:
    lines = text.strip().split("\n")
    parameters: dict[str, str] = {}
    if lines and len(PARAMETER.findall(lines[-1])) >= 3:
        for key, value in PARAMETER.findall(lines.pop()):
            key, value = key.strip(), value.strip()
            if value.startswith('"') and value.endswith('"') and len(value) > 1:
                try:
                    value = str(json.loads(value))
                except json.JSONDecodeError:
                    pass
            parameters[key] = value
            if size := SIZE.match(value):
                parameters[f"{key}-1"], parameters[f"{key}-2"] = size.group(1), size.group(2)
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX):].lstrip()
        (negative if in_negative else prompt).append(line)
    return {"Prompt": "\n".join(prompt), "Negative prompt": "\n".join(negative), **parameters}
