"""The pure side of "Interrogate CLIP": A1111's settings, category files (topN, dict limit, skip) and the answer's
string (with and without ranks)."""

from __future__ import annotations

import pytest

from webui.config.a1111_options_catalog import CATALOG
from webui.engine.interrogate_clip_text import (
    ClipInterrogateOptions,
    category_names,
    format_interrogation,
    parse_category,
    select_categories,
    strip_prompt,
    top_count_of,
)
from webui.errors import FieldError


def catalog_defaults() -> dict[str, object]:
    return {key: default for key, default, *_ in CATALOG["interrogate"]}


def test_options_from_a1111_defaults_match_the_dataclass_defaults():
    assert ClipInterrogateOptions.from_settings(catalog_defaults().__getitem__) == ClipInterrogateOptions()
    assert ClipInterrogateOptions() == ClipInterrogateOptions(num_beams=1, min_length=24, max_length=48,
                                                              dict_limit=1500, skip_categories=(),
                                                              return_ranks=False)


def test_options_read_each_a1111_key():
    settings = catalog_defaults() | {"interrogate_clip_num_beams": 3, "interrogate_clip_min_length": 5,
                                     "interrogate_clip_max_length": 9.0, "interrogate_clip_dict_limit": "0",
                                     "interrogate_clip_skip_categories": ["artists"],
                                     "interrogate_return_ranks": True}
    assert ClipInterrogateOptions.from_settings(settings.__getitem__) == ClipInterrogateOptions(
        num_beams=3, min_length=5, max_length=9, dict_limit=0, skip_categories=("artists",), return_ranks=True)


@pytest.mark.parametrize(("key", "value"), [("interrogate_clip_num_beams", 0), ("interrogate_clip_dict_limit", -1),
                                            ("interrogate_clip_max_length", "long"),
                                            ("interrogate_clip_skip_categories", 3)])
def test_a_bad_setting_names_its_key(key, value):
    settings = catalog_defaults() | {key: value}
    with pytest.raises(FieldError) as raised:
        ClipInterrogateOptions.from_settings(settings.__getitem__)
    assert raised.value.field == key and str(value) in str(raised.value)


def test_top_count_comes_from_the_name():
    assert [top_count_of(name) for name in ("flavors", "flavors.top3", "mediums.top12", "top3")] == [1, 3, 12, 1]


def test_lines_are_stripped_blank_lines_dropped_and_the_dict_limit_keeps_the_first():
    text = " oil painting \n\nwatercolor\r\nsketch\n"
    assert parse_category("mediums", text, 0).items == ("oil painting", "watercolor", "sketch")
    assert parse_category("mediums", text, 2).items == ("oil painting", "watercolor")


def test_select_skips_by_stem_in_file_name_order():
    texts = {"movements.txt": "cubism", "flavors.top3.txt": "a\nb\nc\nd", "artists.txt": "x", "empty.txt": "\n"}
    chosen = select_categories(texts, ClipInterrogateOptions(skip_categories=("artists",)))
    assert [(category.name, category.top_count) for category in chosen] == [("flavors.top3", 3), ("movements", 1)]
    assert category_names([*texts, "notes.md"]) == ["artists", "empty", "flavors.top3", "movements"]


def test_the_answer_joins_caption_and_matches_and_ranks_are_probabilities_to_three_decimals():
    matches = [[("alice", 0.98765)], [("soft light", 0.5), ("vivid", 0.25)]]
    assert format_interrogation("a cat", matches, False) == "a cat, alice, soft light, vivid"
    assert format_interrogation("a cat", matches, True) == "a cat, (alice:0.988), (soft light:0.500), (vivid:0.250)"


def test_the_prompt_is_cut_off_the_caption():
    assert strip_prompt("a picture of a dog on a hill", "a picture of ") == "a dog on a hill"
    assert strip_prompt("two dogs", "a picture of ") == "two dogs"
