"""A1111's ui-config.json: the user's control defaults, missing keys added, bad values and files reported."""

import json

from webui.config.ui_config import UiConfig


def test_values_are_read_and_missing_keys_written(tmp_path):
    path = tmp_path / "ui-config.json"
    path.write_text(json.dumps({"txt2img/Sampling steps/value": 33, "txt2img/Width/value": "wide"}))
    config = UiConfig(path)
    assert config.value("txt2img", "Sampling steps", 20) == 33
    assert config.value("txt2img", "Width", 512) == 512  # wrong type: the built-in default
    assert config.value("txt2img", "CFG Scale", 7.0) == 7.0
    config.save_missing()
    saved = json.loads(path.read_text())
    assert saved["txt2img/CFG Scale/value"] == 7.0 and saved["txt2img/Sampling steps/value"] == 33
    assert saved["txt2img/Width/value"] == "wide"  # the user's text is kept, not silently rewritten


def test_a_broken_file_is_reported_and_left_alone(tmp_path):
    path = tmp_path / "ui-config.json"
    path.write_text("{broken")
    config = UiConfig(path)
    assert "could not be read" in config.problem
    assert config.value("txt2img", "Sampling steps", 20) == 20
    config.save_missing()
    assert path.read_text() == "{broken"
