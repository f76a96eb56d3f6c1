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


def test_broken_file_is_kept_aside_reported_and_defaults_used(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{oops")
    store = SettingsStore(default_options(), path)
    problem = store.load()
    assert problem is not None and "could not be read" in problem and store.problem == problem
    (kept,) = tmp_path.glob("config.json.broken-*")
    assert kept.read_text() == "{oops" and not path.exists()
    assert store.get("CLIP_stop_at_last_layers") == 1
    store.set("CLIP_stop_at_last_layers", 2)
    assert json.loads(path.read_text()) == {"CLIP_stop_at_last_layers": 2}
    with pytest.raises(KeyError, match="unknown setting 'nope'"):
        store.get("nope")


def test_values_are_validated_on_write_and_bad_stored_values_fall_back(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"CLIP_stop_at_last_layers": 40, "n_rows": 2, "grid_save": "yes please"}))
    store = SettingsStore(default_options(), path)
    problem = store.load()
    assert "CLIP_stop_at_last_layers: 40 is out of range 1–12" in problem and "grid_save" in problem
    assert store.get("CLIP_stop_at_last_layers") == 1 and store.get("n_rows") == 2 and store.get("grid_save") is True
    with pytest.raises(ValueError, match="setting CLIP_stop_at_last_layers: 0 is out of range 1–12"):
        store.update({"n_rows": 3, "CLIP_stop_at_last_layers": 0})
    assert store.get("n_rows") == 2  # nothing changed
    with pytest.raises(ValueError, match="setting save_to_dirs: 'no' is not a bool"):
        store.set("save_to_dirs", "no")
    store.set("show_progress_every_n_steps", 5.0)
    assert store.get("show_progress_every_n_steps") == 5 and isinstance(store.get("show_progress_every_n_steps"), int)


def test_duplicate_registration_raises():
    registry = OptionRegistry([OptionSpec("a", 1, "A", "s")])
    with pytest.raises(ValueError, match="'a' is registered twice"):
        registry.add(OptionSpec("a", 2, "A again", "s"))


def test_a1111_default_merge_name():
    from webui.model_manager.tools import default_merge_name

    assert default_merge_name("anything-v4.5", "counterfeit", None, "Weighted sum", 0.3) == \
        "anything-v4.5_0.7-counterfeit_0.3-Weighted_sum-merged"
    assert default_merge_name("a", "b", "c", "Add difference", 1.0) == "a_0.0-b_1.0-c-Add_difference-merged"
