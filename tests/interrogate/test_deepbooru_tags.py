"""DeepBooru's scores → prompt text, option by option, as A1111 v1.10's `DeepDanbooru.tag_multi` answers
(modules/deepbooru.py; the expected strings are worked out by hand from its steps)."""

from __future__ import annotations

import pytest

from webui.config.a1111_options_catalog import CATALOG
from webui.engine.deepbooru_tags import SETTING_KEYS, DeepBooruOptions, filtered_tags, format_tags
from webui.errors import FieldError

TAGS = ["solo", "long_hair", "rating:safe", "smile", "1girl", "hat_(mine)", "blue_sky", "\\m/", "[square]"]
SCORES = [0.51, 0.97, 0.99, 0.5, 0.88, 0.73, 0.49999, 0.66, 0.6]


def formatted(**options: object) -> str:
    return format_tags(TAGS, SCORES, DeepBooruOptions(**options))


def test_defaults_sort_alphabetically_use_spaces_escape_and_drop_rating_tags():
    # kept: score >= 0.5 (smile's 0.5 is kept, blue_sky's 0.49999 is not), rating:safe dropped despite 0.99
    assert formatted() == "1girl, [square], \\\\m/, hat \\(mine\\), long hair, smile, solo"


def test_sort_by_score_highest_first_with_ties_in_the_models_order():
    assert format_tags(["b", "a", "c", "d"], [0.7, 0.9, 0.7, 0.8], DeepBooruOptions(sort_alpha=False)) == \
        "a, d, b, c"
    assert formatted(sort_alpha=False) == "long hair, 1girl, hat \\(mine\\), \\\\m/, [square], solo, smile"


def test_the_alphabetical_order_is_of_the_raw_tags_with_their_underscores():
    # '_' (95) sorts after '1' (49) while ' ' (32) would sort before it: A1111 sorts before replacing
    assert format_tags(["a_b", "a1"], [0.9, 0.9], DeepBooruOptions()) == "a1, a b"
    assert format_tags(["a_z", "aZ"], [0.9, 0.9], DeepBooruOptions()) == "aZ, a z"


def test_the_threshold_keeps_equal_scores_and_drops_lower_ones():
    assert formatted(threshold=0.88) == "1girl, long hair"
    assert formatted(threshold=0.0) == "1girl, [square], \\\\m/, blue sky, hat \\(mine\\), long hair, smile, solo"
    assert formatted(threshold=1.0) == ""
    # a rating tag never comes back, whatever the threshold
    assert "rating" not in formatted(threshold=0.0)
    assert format_tags(["ratings", "rating:explicit"], [0.9, 0.9], DeepBooruOptions()) == "ratings"


def test_underscores_stay_when_spaces_are_off():
    assert formatted(use_spaces=False, threshold=0.7) == "1girl, hat_\\(mine\\), long_hair"


def test_escaping_puts_a_backslash_before_backslashes_and_round_brackets_only():
    assert formatted(escape=False, threshold=0.6) == "1girl, [square], \\m/, hat (mine), long hair"
    assert format_tags(["(a)_[b]\\"], [0.9], DeepBooruOptions()) == "\\(a\\) [b]\\\\"


def test_ranks_wrap_each_tag_with_its_score_to_three_decimals():
    assert formatted(include_ranks=True, threshold=0.7) == \
        "(1girl:0.880), (hat \\(mine\\):0.730), (long hair:0.970)"
    assert format_tags(["a"], [0.12351], DeepBooruOptions(include_ranks=True, threshold=0.1)) == "(a:0.124)"
    assert format_tags(["a"], [0.9996], DeepBooruOptions(include_ranks=True, threshold=0.1)) == "(a:1.000)"


def test_filtered_tags_are_split_at_commas_stripped_and_matched_with_underscores():
    assert filtered_tags(" long hair,smile , 1girl") == {"long_hair", "smile", "1girl"}
    assert formatted(filter_tags=" long hair,smile , 1girl") == "[square], \\\\m/, hat \\(mine\\), solo"
    assert formatted(filter_tags="long_hair") == "1girl, [square], \\\\m/, hat \\(mine\\), smile, solo"
    # the filter is compared with the raw tag: neither the escaped form nor another case matches
    assert "hat" in formatted(filter_tags="hat \\(mine\\), Solo")
    assert "solo" in formatted(filter_tags="hat \\(mine\\), Solo")
    assert formatted(filter_tags="hat (mine)").count("hat") == 0


def test_every_option_together():
    options = DeepBooruOptions(threshold=0.6, sort_alpha=False, use_spaces=False, escape=False,
                               filter_tags="1girl", include_ranks=True)
    assert format_tags(TAGS, SCORES, options) == "(long_hair:0.970), (hat_(mine):0.730), (\\m/:0.660), ([square]:0.600)"


def test_tags_and_scores_must_pair_up():
    with pytest.raises(ValueError, match="2 tags but 1 scores"):
        format_tags(["a", "b"], [0.5], DeepBooruOptions())


def catalog_default(key: str) -> object:
    return next(row[1] for row in CATALOG["interrogate"] if row[0] == key)


def test_the_defaults_are_a1111s_and_the_catalogues():
    # A1111 v1.10 shared_options.py: 0.5, True, True, True, "", False
    assert DeepBooruOptions() == DeepBooruOptions(0.5, True, True, True, "", False)
    for name, key in SETTING_KEYS.items():
        assert getattr(DeepBooruOptions(), name) == catalog_default(key), key


def test_from_settings_reads_a1111s_keys_and_keeps_defaults_for_none():
    settings: dict[str, object] = {"interrogate_deepbooru_score_threshold": 0.35, "deepbooru_sort_alpha": False,
                                   "deepbooru_use_spaces": False, "deepbooru_escape": False,
                                   "deepbooru_filter_tags": "solo", "interrogate_return_ranks": True}
    assert DeepBooruOptions.from_settings(settings.__getitem__) == DeepBooruOptions(0.35, False, False, False,
                                                                                    "solo", True)
    assert DeepBooruOptions.from_settings(lambda key: None) == DeepBooruOptions()
    assert DeepBooruOptions.from_settings({"interrogate_deepbooru_score_threshold": 1}.get).threshold == 1


@pytest.mark.parametrize(("key", "value"), [("interrogate_deepbooru_score_threshold", "0.5"),
                                            ("interrogate_deepbooru_score_threshold", True),
                                            ("interrogate_deepbooru_score_threshold", float("nan")),
                                            ("deepbooru_sort_alpha", 1), ("deepbooru_escape", "yes"),
                                            ("deepbooru_filter_tags", ["solo"]), ("interrogate_return_ranks", 0)])
def test_a_setting_of_the_wrong_type_is_a_field_error_naming_its_key(key, value):
    with pytest.raises(FieldError) as raised:
        DeepBooruOptions.from_settings({key: value}.get)
    assert raised.value.field == key
    assert repr(value) in str(raised.value)
