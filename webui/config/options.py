"""User settings persisted in `config.json` under A1111's keys.

A registry of `OptionSpec`s says which keys exist, their defaults and labels (later issues add a Settings tab and
extension settings on top of the same registry). `SettingsStore` holds the values, keeps unknown keys it found in
the file (an A1111 config.json carries many we do not know yet, and we must not drop them on save), and writes
atomically.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webui.config.atomic import write_json_atomically


@dataclass(frozen=True)
class OptionSpec:
    key: str
    default: Any
    label: str
    section: str


class OptionRegistry:
    """Known settings; registering a key twice is a programming error and raises."""

    def __init__(self, specs: Iterable[OptionSpec] = ()) -> None:
        self._specs: dict[str, OptionSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: OptionSpec) -> None:
        if spec.key in self._specs:
            raise ValueError(f"setting {spec.key!r} is registered twice")
        self._specs[spec.key] = spec

    def get(self, key: str) -> OptionSpec:
        try:
            return self._specs[key]
        except KeyError:
            raise KeyError(f"unknown setting {key!r}; known: {', '.join(sorted(self._specs))}") from None

    def __iter__(self):
        return iter(self._specs.values())


def default_options() -> OptionRegistry:
    """The settings the foundation honours, with A1111's keys and defaults."""
    return OptionRegistry([
        OptionSpec("sd_model_checkpoint", None, "Stable Diffusion checkpoint", "sd"),
        OptionSpec("sd_checkpoint_hash", "", "SHA256 hash of the current checkpoint", "sd"),
        OptionSpec("sd_vae", "Automatic", "SD VAE", "sd"),
        # A1111's key; its default there is 1. Ours keeps a few more, bounded by --ckpt-cache-gb.
        OptionSpec("sd_checkpoints_limit", 3, "Maximum number of checkpoints loaded at the same time", "sd"),
        OptionSpec("CLIP_stop_at_last_layers", 1, "Clip skip (stop at the last layers of CLIP)", "sd"),
        OptionSpec("save_to_dirs", True, "Save images to a subdirectory", "saving-to-dirs"),
        OptionSpec("outdir_txt2img_samples", "outputs/txt2img-images", "Output directory for txt2img images",
                   "saving-paths"),
        OptionSpec("outdir_img2img_samples", "outputs/img2img-images", "Output directory for img2img images",
                   "saving-paths"),
        OptionSpec("outdir_txt2img_grids", "outputs/txt2img-grids", "Output directory for txt2img grids",
                   "saving-paths"),
        OptionSpec("outdir_img2img_grids", "outputs/img2img-grids", "Output directory for img2img grids",
                   "saving-paths"),
        OptionSpec("grid_save", True, "Always save all generated image grids", "saving-images"),
        OptionSpec("grid_only_if_multiple", True, "Do not save grids consisting of one picture", "saving-images"),
        OptionSpec("return_grid", True, "Show grid in gallery", "ui"),
        OptionSpec("n_rows", -1, "Grid row count; use -1 for autodetect and 0 for it to be same as batch size",
                   "saving-images"),
        OptionSpec("enable_pnginfo", True, "Save text information about generation parameters as chunks to png files",
                   "infotext"),
        OptionSpec("add_model_hash_to_info", True, "Add model hash to infotext", "infotext"),
        OptionSpec("add_model_name_to_info", True, "Add model name to infotext", "infotext"),
        OptionSpec("add_version_to_infotext", True, "Add program version to infotext", "infotext"),
        OptionSpec("live_previews_enable", True, "Show live previews of the created image", "ui"),
        OptionSpec("show_progress_every_n_steps", 10,
                   "Live preview display period (in sampling steps; -1 = only at the end)", "ui"),
    ])


class SettingsStore:
    """Thread-safe settings values backed by config.json (A1111's flat {key: value} format)."""

    def __init__(self, registry: OptionRegistry, path: Path) -> None:
        self._registry = registry
        self._path = path
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}

    def load(self) -> None:
        """Read config.json if present; a broken file is an error naming the file, never silently reset."""
        if not self._path.exists():
            return
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read settings file {self._path}: {error}") from error
        if not isinstance(data, dict):
            raise ValueError(f"settings file {self._path} must hold a JSON object, found {type(data).__name__}")
        with self._lock:
            self._values = data

    def get(self, key: str) -> Any:
        spec = self._registry.get(key)
        with self._lock:
            return self._values.get(key, spec.default)

    def knows(self, key: str) -> bool:
        try:
            self._registry.get(key)
        except KeyError:
            return False
        return True

    def values(self) -> dict[str, Any]:
        """Every registered setting with its current value (A1111's GET /options)."""
        with self._lock:
            return {spec.key: self._values.get(spec.key, spec.default) for spec in self._registry}

    def set(self, key: str, value: Any) -> None:
        """Set one value and persist the whole file atomically."""
        self.update({key: value})

    def update(self, values: dict[str, Any]) -> None:
        """Set several values with one atomic write; an unknown key fails before anything changes."""
        for key in values:
            self._registry.get(key)
        with self._lock:
            self._values.update(values)
            write_json_atomically(self._path, self._values)
