"""A1111's prompt syntax, parsed without torch: emphasis weights, BREAK, prompt editing and alternation.

Two independent readings of one prompt, as in A1111:

* `prompt_schedule` resolves `[from:to:when]`, `[to:when]`, `[from::when]` and `[a|b]` into the plain text used
  at each sampling step; emphasis brackets pass through untouched.
* `parse_attention` turns one such text into runs of (text, weight): `(x)` ×1.1, `[x]` ÷1.1, `(x:w)` ×w, nested
  groups multiply, `\\(` escapes, unbalanced brackets apply to the end, `BREAK` becomes a chunk break.

The behaviour (including its quirks) is pinned by golden tables taken from A1111's own examples.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

BREAK_MARKER = ("BREAK", -1.0)
ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1

_ATTENTION_TOKEN = re.compile(r"""
\\\(|\\\)|\\\[|\\]|\\\\|\\|   # escapes and a lone backslash
\(|\[|
:\s*([+-]?[.\d]+)\s*\)|       # ':1.3)' closes a weighted round group
\)|]|
[^\\()\[\]:]+|
:
""", re.X)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

AttentionRun = tuple[str, float]


def parse_attention(text: str) -> list[AttentionRun]:
    """Runs of (text, weight); a chunk break is the run `BREAK_MARKER`. Adjacent equal weights are merged."""
    runs: list[list] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply_from(start: int, multiplier: float) -> None:
        for run in runs[start:]:
            run[1] *= multiplier

    for match in _ATTENTION_TOKEN.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            runs.append([token[1:], 1.0])
        elif token == "(":
            round_open.append(len(runs))
        elif token == "[":
            square_open.append(len(runs))
        elif weight is not None and round_open:
            multiply_from(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            multiply_from(round_open.pop(), ROUND_MULTIPLIER)
        elif token == "]" and square_open:
            multiply_from(square_open.pop(), SQUARE_MULTIPLIER)
        else:
            for index, part in enumerate(_BREAK.split(token)):
                if index > 0:
                    runs.append(list(BREAK_MARKER))
                runs.append([part, 1.0])
    for start in round_open:
        multiply_from(start, ROUND_MULTIPLIER)
    for start in square_open:
        multiply_from(start, SQUARE_MULTIPLIER)
    return _merge_equal_weights(runs)


def _merge_equal_weights(runs: list[list]) -> list[AttentionRun]:
    if not runs:
        return [("", 1.0)]
    merged = [runs[0]]
    for text, weight in runs[1:]:
        if merged[-1][1] == weight:
            merged[-1][0] += text
        else:
            merged.append([text, weight])
    return [(text, weight) for text, weight in merged]


# --- prompt editing and alternation -------------------------------------------------------------------------------

@dataclass
class _Scheduled:
    before: list | None
    after: list
    when_text: str
    when: int = 0


@dataclass
class _Alternate:
    options: list[list]


class _NoParse(Exception):
    """The text at this position is not one of the grammar's constructs."""


class _ScheduleParser:
    """A recursive-descent reading of A1111's prompt-editing grammar.

    Inside a bracket construct every character must belong to the grammar; at the top level a bracket that does not
    start a construct is literal text (A1111's `/[][():]/+` fallback). A `|` or a dangling backslash at the top level
    makes the whole prompt unparsable, and A1111 then uses it verbatim. Bracket constructs are memoised by position,
    so hostile prompts (thousands of unclosed brackets) parse in near-linear time; nesting deeper than
    `MAX_DEPTH` is not a construct."""

    MAX_DEPTH = 64

    def __init__(self, text: str) -> None:
        self.text = text
        self._memo: dict[tuple[str, int, bool], tuple[list, int] | None] = {}
        self._depth = 0

    def parse(self) -> list:
        nodes: list = []
        position = 0
        while position < len(self.text):
            try:
                position = self._parse_item(position, nodes, pipe_is_text=False)
            except _NoParse:
                if self.text[position] not in "[]():":
                    raise
                nodes.append(self.text[position])
                position += 1
        return nodes

    def _parse_sequence(self, position: int, stops: str, pipe_is_text: bool) -> tuple[list, int]:
        nodes: list = []
        while position < len(self.text) and self.text[position] not in stops:
            position = self._parse_item(position, nodes, pipe_is_text)
        return nodes, position

    def _parse_item(self, position: int, nodes: list, pipe_is_text: bool) -> int:
        char = self.text[position]
        if char == "(":
            return self._construct("round", position, nodes, pipe_is_text)
        if char == "[":
            try:
                return self._construct("square", position, nodes, False)
            except _NoParse:
                # A1111's parser also accepts `[{b|d{:.5]`: an edit whose text holds a literal `|`.
                return self._construct("square", position, nodes, True)
        return self._parse_plain(position, nodes, pipe_is_text)

    def _construct(self, kind: str, position: int, nodes: list, pipe_is_text: bool) -> int:
        key = (kind, position, pipe_is_text)
        if key not in self._memo:
            self._memo[key] = self._parse_construct(kind, position, pipe_is_text)
        found = self._memo[key]
        if found is None:
            raise _NoParse
        nodes.extend(found[0])
        return found[1]

    def _parse_construct(self, kind: str, position: int, pipe_is_text: bool) -> tuple[list, int] | None:
        if self._depth >= self.MAX_DEPTH:
            return None
        self._depth += 1
        try:
            parse = self._parse_round if kind == "round" else self._parse_square
            return parse(position, pipe_is_text)
        except _NoParse:
            return None
        finally:
            self._depth -= 1

    def _parse_plain(self, position: int, nodes: list, pipe_is_text: bool) -> int:
        start = position
        special = "[]():" if pipe_is_text else "[]():|"
        while position < len(self.text) and self.text[position] not in special:
            if self.text[position] == "\\":
                if position + 1 >= len(self.text):
                    raise _NoParse
                position += 1
            position += 1
        if position == start:
            raise _NoParse
        nodes.append(self.text[start:position])
        return position

    def _parse_round(self, position: int, pipe_is_text: bool) -> tuple[list, int]:
        inner, position = self._parse_sequence(position + 1, "):", pipe_is_text)
        parts: list = ["(", *inner]
        if self._at(position, ":"):
            weight, position = self._parse_sequence(position + 1, "):", pipe_is_text)
            parts += [":", *weight]
        if not self._at(position, ")"):
            raise _NoParse
        return [*parts, ")"], position + 1

    def _parse_square(self, position: int, pipe_is_text: bool) -> tuple[list, int]:
        stops = "]:" if pipe_is_text else "]:|"
        first, position = self._parse_sequence(position + 1, stops, pipe_is_text)
        if self._at(position, "]"):
            return ["[", *first, "]"], position + 1
        if self._at(position, "|"):
            return self._parse_alternate(first, position)
        if not self._at(position, ":"):
            raise _NoParse
        when = self._match_when(position + 1)
        if when is not None:  # [to:when]
            return [_Scheduled(None, first, when[0])], when[1]
        second, position = self._parse_sequence(position + 1, stops, pipe_is_text)
        when = self._match_when(position + 1) if self._at(position, ":") else None
        if when is None:
            raise _NoParse
        return [_Scheduled(first, second, when[0])], when[1]

    def _parse_alternate(self, first: list, position: int) -> tuple[list, int]:
        options = [first]
        while self._at(position, "|"):
            option, position = self._parse_sequence(position + 1, "]:|", False)
            options.append(option)
        if not self._at(position, "]"):
            raise _NoParse
        return [_Alternate(options)], position + 1

    def _match_when(self, position: int) -> tuple[str, int] | None:
        """`[ws] NUMBER [ws] ]` from `position`: the number's text and the position after the bracket."""
        position = _skip_whitespace(self.text, position)
        number = _NUMBER.match(self.text, position)
        if number is None:
            return None
        after = _skip_whitespace(self.text, number.end())
        return (number.group(0), after + 1) if self._at(after, "]") else None

    def _at(self, position: int, char: str) -> bool:
        return position < len(self.text) and self.text[position] == char


def _skip_whitespace(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _walk(nodes: list):
    for node in nodes:
        yield node
        if isinstance(node, _Scheduled):
            yield from _walk(node.before or [])
            yield from _walk(node.after)
        elif isinstance(node, _Alternate):
            for option in node.options:
                yield from _walk(option)


def _render(nodes: list, step: int) -> str:
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, _Scheduled):
            parts.append(_render(node.before or [], step) if step <= node.when else _render(node.after, step))
        else:
            parts.append(_render(node.options[(step - 1) % len(node.options)], step))
    return "".join(parts)


def prompt_schedule(prompt: str, steps: int, hires_steps: int | None = None) -> list[tuple[int, str]]:
    """[(last step, text)] in step order: the text applies up to and including its step.

    A `when` with a decimal point is a fraction of the steps, an integer an absolute step. For the hires pass
    (`hires_steps` given) fractions run from 1 to 2 and integers count on from the first pass's `steps`."""
    if hires_steps is None:
        int_offset, fraction_offset, total = 0, 0.0, steps
    else:
        int_offset, fraction_offset, total = steps, 1.0, hires_steps
    try:
        nodes = _ScheduleParser(prompt).parse()
    except _NoParse:
        return [(total, prompt)]
    boundaries = {total}
    for node in _walk(nodes):
        if isinstance(node, _Scheduled):
            value = float(node.when_text)
            value = (value - fraction_offset) * total if "." in node.when_text else value - int_offset
            node.when = min(total, int(value))
            if node.when >= 1:
                boundaries.add(node.when)
        elif isinstance(node, _Alternate):
            boundaries.update(range(1, total + 1))
    return [(step, _render(nodes, step)) for step in sorted(boundaries)]


def text_at_step(schedule: Sequence[tuple[int, object]], step: int) -> int:
    """Index of the schedule entry in force at 0-based sampling step `step` (A1111: first entry with step <= end)."""
    for index, (end, _) in enumerate(schedule):
        if step <= end:
            return index
    return len(schedule) - 1
