"""Loading extensions: statuses, isolation, manifests, disabling, the A1111 shim's scope, settings."""

import json
import sys
from pathlib import Path

import pytest

from tests.support import copy_checkpoint
from tests.support.extensions import app_for, install_fixtures, write_extension
from webui.app_context import build_app
from webui.config.flags import CommandLineOptions
from webui.extensions.registry import Status

MANIFEST = 'name = "{name}"\nversion = "0.1.0"\napi_version = {api}\n'


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("extensions-data")
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")
    install_fixtures(data)
    app = build_app(CommandLineOptions(data_dir=data, device="cpu"), default_data_dir=data)
    yield app
    app.stop()


def status(app, name):
    return app.extensions.record(name)


def test_each_fixture_gets_its_status_and_the_failures_keep_their_traceback(app):
    assert {record.name: record.status for record in app.extensions.records()} == {
        "a1111_style": Status.LOADED, "a1111_unsupported": Status.UNSUPPORTED, "bad_hook": Status.LOADED,
        "broken_import": Status.FAILED, "broken_setup": Status.FAILED, "good": Status.LOADED}
    broken_import = status(app, "broken_import")
    assert broken_import.message.startswith("import failed: ModuleNotFoundError")
    assert "kestrel_no_such_module_for_tests" in broken_import.failures[0].traceback
    broken_setup = status(app, "broken_setup")
    assert broken_setup.message == "setup failed: RuntimeError: setup exploded on purpose"
    assert 'raise RuntimeError("setup exploded on purpose")' in broken_setup.failures[0].traceback
    unsupported = status(app, "a1111_unsupported")
    assert "modules.sd_hijack" in unsupported.message and "does not offer" in unsupported.message
    assert all(record.load_seconds > 0 for record in app.extensions.records() if record.status is Status.LOADED)


def test_a_failed_setup_leaves_nothing_registered(app):
    assert [(tab.extension, tab.elem_id) for tab in app.extensions.tabs()] == [("good", "good_tab")]
    assert [(route.extension, route.path) for route in app.extensions.routes()] == [("good", "/hello")]
    assert [name for name, _ in app.extensions.a1111_shims()] == ["a1111_style"]


def test_settings_of_both_kinds_are_registered_and_validated(app):
    assert app.settings.get("good_greeting") == "hello"
    assert app.settings.get("a1111_demo_word") == "bird"
    level = app.settings.registry.get("a1111_demo_level")
    assert (level.component, level.minimum, level.maximum, level.section, level.section_label) == \
        ("slider", 1, 5, "a1111_demo", "A1111 Demo")
    assert app.settings.registry.get("a1111_demo_word").label == "Word the demo tab shows (any word)"
    with pytest.raises(ValueError, match="a1111_demo_level: 9 is out of range"):
        app.settings.set("a1111_demo_level", 9)


def test_the_a1111_shim_is_gone_after_loading_and_css_and_scripts_are_collected(app):
    assert "modules" not in sys.modules and not any(name.startswith("modules.") for name in sys.modules)
    assert "rgb(12, 34, 56)" in app.extensions.css()
    assert [name for name, _ in app.extensions.scripts()] == ["a1111_style/javascript/a1111_demo.js"]


def test_the_shim_restores_a_modules_package_that_was_there(app, tmp_path):
    import types

    sentinel = types.ModuleType("modules")
    sys.modules["modules"] = sentinel
    try:
        data = tmp_path / "data"
        install_fixtures(data, "a1111_style")
        loaded = app_for(app, data)
        assert loaded.extensions.record("a1111_style").status is Status.LOADED
        assert sys.modules["modules"] is sentinel
    finally:
        del sys.modules["modules"]


@pytest.mark.parametrize(("manifest", "message"), [
    ('name = "x"\n', "extension.toml lacks version, api_version (required: name, version, api_version)"),
    (MANIFEST.format(name="too-new", api=3), "needs extension API version 3; this Kestrel offers version 2"),
    ("name = [", "extension.toml is not valid TOML"),
    (MANIFEST.format(name="bad name", api=1), "name 'bad name' must be 1-64 letters"),
    (MANIFEST.format(name="x", api='"1"'), "api_version '1' must be a whole number"),
])
def test_manifest_errors_are_clear(app, tmp_path, manifest, message):
    write_extension(tmp_path / "data" / "extensions" / "candidate", manifest)
    record = app_for(app, tmp_path / "data").extensions.record("candidate")
    assert record.status is Status.FAILED and record.message.startswith("manifest: ")
    assert message in record.message


def test_missing_setup_and_not_an_extension(app, tmp_path):
    extensions = tmp_path / "data" / "extensions"
    write_extension(extensions / "nosetup", MANIFEST.format(name="nosetup", api=1), main="VALUE = 1\n")
    (extensions / "just-a-folder").mkdir()
    loaded = app_for(app, tmp_path / "data").extensions
    assert loaded.record("nosetup").message == "import: main.py has no setup(ctx) function"
    assert "not an extension" in loaded.record("just-a-folder").message


def test_disabled_extensions_are_listed_but_not_imported(app, tmp_path):
    data = tmp_path / "data"
    install_fixtures(data, "broken_import", "good")
    (data / "config.json").write_text(json.dumps({"disabled_extensions": ["broken_import"]}))
    loaded = app_for(app, data).extensions
    assert loaded.record("broken_import").status is Status.DISABLED and not loaded.record("broken_import").failures
    assert loaded.record("good").status is Status.LOADED

    everything_off = app_for(app, tmp_path / "data", disable_all_extensions=True).extensions
    assert {record.status for record in everything_off.records()} == {Status.DISABLED}
    assert everything_off.tabs() == []


def test_two_folders_with_one_name_do_not_both_load(app, tmp_path):
    extensions = tmp_path / "data" / "extensions"
    write_extension(extensions / "first", MANIFEST.format(name="same", api=1))
    write_extension(extensions / "second", MANIFEST.format(name="same", api=1))
    records = {record.folder.name: record for record in app_for(app, tmp_path / "data").extensions.records()}
    assert records["first"].status is Status.LOADED
    assert records["second"].status is Status.FAILED and "listed twice" in records["second"].message


def test_a_setting_that_clashes_fails_setup_with_a_clear_message(app, tmp_path):
    write_extension(tmp_path / "data" / "extensions" / "clash", MANIFEST.format(name="clash", api=1),
                    main="def setup(ctx):\n    ctx.add_setting('enable_pnginfo', True, 'mine')\n")
    record = app_for(app, tmp_path / "data").extensions.record("clash")
    assert record.status is Status.FAILED and "setting 'enable_pnginfo' already exists" in record.message


def test_a_stored_value_that_does_not_fit_falls_back_to_the_default(app, tmp_path):
    data = tmp_path / "data"
    install_fixtures(data, "a1111_style")
    (data / "config.json").write_text(json.dumps({"a1111_demo_level": "loud", "a1111_demo_word": "cat"}))
    loaded = app_for(app, data)
    assert loaded.settings.get("a1111_demo_level") == 3 and loaded.settings.get("a1111_demo_word") == "cat"
    assert "a1111_demo_level" in loaded.settings.problem


def test_the_example_extension_loads_and_its_hooks_work(app, tmp_path):
    import shutil

    from webui.engine.request import GenerationRequest
    from webui.extensions.api import BeforeGeneration, ImageReady

    data = tmp_path / "data"
    example = Path(__file__).resolve().parents[2] / "examples" / "extensions" / "hello-stamp"
    shutil.copytree(example, data / "extensions" / "hello-stamp")
    loaded = app_for(app, data)
    assert loaded.extensions.record("hello-stamp").status is Status.LOADED
    assert [tab.elem_id for tab in loaded.extensions.tabs()] == ["hello_stamp"]
    ((_, contribution),) = loaded.extensions.contributions()
    request = GenerationRequest(prompt="a boat", steps=2, width=64, height=64)
    assert contribution.before_hooks[0](BeforeGeneration(request, "ui")) is None  # no suffix set
    loaded.settings.set("hello_stamp_suffix", "oil painting")
    assert contribution.before_hooks[0](BeforeGeneration(request, "ui")).prompt == "a boat, oil painting"
    fields = contribution.image_hooks[0](ImageReady(None, 7, 0, "a boat\nSteps: 2", request, "ui"))
    assert fields == {"Stamp": "hello"}
    assert (data / "extensions-data" / "hello-stamp" / "stamped.log").read_text() == "7\ta boat\n"
