"""Golden tables: A1111's documented results for its prompt parser (modules/prompt_parser.py doctests, v1.10)."""

import time

import pytest

from webui.engine.prompt_syntax import parse_attention, prompt_schedule, text_at_step

ATTENTION_CASES = [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [("a ", 1.0), ("house", 1.5730000000000004), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
      (", sun, ", 1.1), ("sky", 1.4641000000000006), (".", 1.1)]),
    ("[faint]", [("faint", 1 / 1.1)]),
    ("((a))", [("a", 1.2100000000000002)]),
    ("(masterpiece:1.2), 1girl", [("masterpiece", 1.2), (", 1girl", 1.0)]),
    ("a BREAK b", [("a", 1.0), ("BREAK", -1.0), ("b", 1.0)]),
    ("(a BREAK b)", [("a", 1.1), ("BREAK", -1.1), ("b", 1.1)]),
    ("", [("", 1.0)]),
    ("back\\\\slash", [("back\\slash", 1.0)]),
]


@pytest.mark.parametrize(("prompt", "expected"), ATTENTION_CASES)
def test_attention_matches_a1111(prompt, expected):
    got = parse_attention(prompt)
    assert [text for text, _ in got] == [text for text, _ in expected]
    assert [weight for _, weight in got] == pytest.approx([weight for _, weight in expected])


SCHEDULE_CASES = [  # steps = 10
    ("test", [(10, "test")]),
    ("a [b:3]", [(3, "a "), (10, "a b")]),
    ("a [b: 3]", [(3, "a "), (10, "a b")]),
    ("a [[[b]]:2]", [(2, "a "), (10, "a [[b]]")]),
    ("[(a:2):3]", [(3, ""), (10, "(a:2)")]),
    ("a [b : c : 1] d", [(1, "a b  d"), (10, "a  c  d")]),
    ("a[b:[c:d:2]:1]e", [(1, "abe"), (2, "ace"), (10, "ade")]),
    ("a [unbalanced", [(10, "a [unbalanced")]),
    ("a [b:.5] c", [(5, "a  c"), (10, "a b c")]),
    ("a [{b|d{:.5] c", [(5, "a  c"), (10, "a {b|d{ c")]),
    ("((a][:b:c [d:3]", [(3, "((a][:b:c "), (10, "((a][:b:c d")]),
    ("[a|(b:1.1)]", [(step, "a" if step % 2 else "(b:1.1)") for step in range(1, 11)]),
    ("[fe|]male", [(step, "female" if step % 2 else "male") for step in range(1, 11)]),
    ("[fe|||]male", [(step, "female" if step % 4 == 1 else "male") for step in range(1, 11)]),
    ("a [cat::4] b", [(4, "a cat b"), (10, "a  b")]),
    ("a | b", [(10, "a | b")]),  # not the grammar: used verbatim
]


@pytest.mark.parametrize(("prompt", "expected"), SCHEDULE_CASES)
def test_schedule_matches_a1111(prompt, expected):
    assert prompt_schedule(prompt, 10) == expected


def test_hires_schedule_counts_fractions_from_one_and_integers_from_the_first_pass():
    assert prompt_schedule("a [b:.5] c", 10, hires_steps=10) == [(10, "a b c")]
    assert prompt_schedule("a [b:1.5] c", 10, hires_steps=10) == [(5, "a  c"), (10, "a b c")]
    assert prompt_schedule("a [b:13] c", 10, hires_steps=10) == [(3, "a  c"), (10, "a b c")]


def test_step_lookup_uses_the_first_entry_not_yet_ended():
    schedule = prompt_schedule("a [b:3]", 10)
    assert [text_at_step(schedule, step) for step in range(10)] == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]


def test_hostile_prompts_parse_quickly():
    started = time.perf_counter()
    for prompt in ["[" * 5000 + "a", "(" * 5000 + "a" + ")" * 5000, "[a:" * 2000 + "1]" * 2000, "[a|" * 3000]:
        prompt_schedule(prompt, 20)
        parse_attention(prompt)
    assert time.perf_counter() - started < 10
