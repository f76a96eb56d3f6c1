"""config.json with A1111's keys: defaults, persistence, unknown keys kept, broken file reported."""

import json

import pytest

from webui.config.options import OptionRegistry, OptionSpec, SettingsStore, default_options


def test_defaults_and_persistence(tmp_path):
    path = tmp_path / "config.json"
    store = SettingsStore(default_options(), path)
    store.load()
    assert store.get("enable_pnginfo") is True and store.get("sd_model_checkpoint") is None
    store.set("sd_model_checkpoint", "anything-v4.5.safetensors [6ce0161689]")
    reloaded = SettingsStore(default_options(), path)
    reloaded.load()
    assert reloaded.get("sd_model_checkpoint") == "anything-v4.5.safetensors [6ce0161689]"


def test_unknown_a1111_keys_survive_a_save(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"quicksettings_list": ["sd_model_checkpoint", "sd_vae"],
                                "CLIP_stop_at_last_layers": 2}))
    store = SettingsStore(default_options(), path)
    store.load()
    store.set("save_to_dirs", False)
    assert json.loads(path.read_text()) == {"quicksettings_list": ["sd_model_checkpoint", "sd_vae"],
                                            "CLIP_stop_at_last_layers": 2, "save_to_dirs": False}


def test_broken_file_and_unknown_key_are_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{oops")
    with pytest.raises(ValueError, match="cannot read settings file .*config.json"):
        SettingsStore(default_options(), path).load()
    with pytest.raises(KeyError, match="unknown setting 'nope'"):
        SettingsStore(default_options(), path).get("nope")


def test_duplicate_registration_raises():
    registry = OptionRegistry([OptionSpec("a", 1, "A", "s")])
    with pytest.raises(ValueError, match="'a' is registered twice"):
        registry.add(OptionSpec("a", 2, "A again", "s"))


def test_a1111_default_merge_name():
    from webui.model_manager.tools import default_merge_name

    assert default_merge_name("anything-v4.5", "counterfeit", None, "Weighted sum", 0.3) == \
        "anything-v4.5_0.7-counterfeit_0.3-Weighted_sum-merged"
    assert default_merge_name("a", "b", "c", "Add difference", 1.0) == "a_0.0-b_1.0-c-Add_difference-merged"
