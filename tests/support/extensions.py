"""Fixture extensions (tests/fixtures/extensions) copied into a data dir, and Apps that load them."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "extensions"
ALL_FIXTURES = ("good", "broken_import", "broken_setup", "bad_hook", "a1111_style", "a1111_unsupported")


def install_fixtures(data_dir: Path, *names: str) -> Path:
    """Copy the named fixture extensions (default: all) into <data_dir>/extensions; returns that folder."""
    folder = data_dir / "extensions"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or ALL_FIXTURES:
        shutil.copytree(FIXTURES / name, folder / name)
    return folder


def write_extension(folder: Path, manifest: str, main: str = "def setup(ctx):\n    pass\n") -> Path:
    folder.mkdir(parents=True)
    (folder / "extension.toml").write_text(manifest, encoding="utf-8")
    (folder / "main.py").write_text(main, encoding="utf-8")
    return folder


def app_for(base, data_dir: Path, **flags):
    """An App sharing `base`'s model, engine, device and queue, with its own data dir, settings and extensions
    (loading extensions is cheap; loading the model is not)."""
    from webui.config.flags import CommandLineOptions
    from webui.config.options import SettingsStore, default_options
    from webui.config.paths import DataPaths
    from webui.extensions.loader import load_extensions
    from webui.extensions.registry import Extensions

    settings = SettingsStore(default_options(), data_dir / "config.json")
    settings.load()
    app = dataclasses.replace(base, options=CommandLineOptions(data_dir=data_dir, device="cpu", **flags),
                              paths=DataPaths(data_dir), settings=settings, extensions=Extensions())
    load_extensions(app, app.extensions)
    return app
