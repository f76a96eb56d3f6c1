"""The page's small pure helpers (no browser): the token counter's text, ♻️'s choice, Settings search."""

from __future__ import annotations

import re

from webui.config.options import default_options
from webui.ui.generation_panel import seed_of_selected
from webui.ui.img2img_tab import scaled_size
from webui.ui.prompt_tools import TokenCount
from webui.ui.settings_tab import search_results_html


def test_the_token_counter_shows_each_chunk_once_there_are_several():
    assert TokenCount(2, 75, (2,)).text() == "2/75"
    assert TokenCount(80, 150, (75, 5)).text() == "80/150 (75 + 5)"


def test_reuse_seed_takes_the_selected_entry():
    entries = [("grid", 100, ""), ("a", 100, ""), ("b", 101, "")]
    assert seed_of_selected(entries, 2, -1) == 101
    assert seed_of_selected(entries, 9, -1) == 100  # out of range (a new, shorter result): the first
    assert seed_of_selected([], 0, 42) == 42


def test_resize_by_rounds_down_to_multiples_of_8():
    class Picture:
        width, height = 100, 60

    assert scaled_size(Picture(), 1.5) == (144, 88)


def test_settings_search_matches_every_word_in_label_or_key():
    specs = list(default_options())
    found = search_results_html(specs, "grid")
    keys = re.findall(r'data-setting="setting_([^"]+)"', found)
    assert keys and all("grid" in (spec.label + spec.key).lower() for spec in specs if spec.key in keys)
    assert search_results_html(specs, "") == ""
    assert "No setting matches" in search_results_html(specs, "zzzz-nothing")
