"""User settings persisted in `config.json` under A1111's keys.

A registry of `OptionSpec`s says which keys exist, their defaults and labels (later issues add a Settings tab and
extension settings on top of the same registry). `SettingsStore` holds the values, keeps unknown keys it found in
the file (an A1111 config.json carries many we do not know yet, and we must not drop them on save), and writes
atomically.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webui.config.a1111_options_catalog import catalog_specs
from webui.config.atomic import write_json_atomically

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptionSpec:
    key: str
    default: Any
    label: str
    section: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    in_settings_tab: bool = True   # False for what the quicksettings row owns (checkpoint, hash)
    component: str | None = None   # "slider", "radio", "dropdown", ... (None: chosen from the default's type)
    section_label: str | None = None  # the Settings tab's title for a section it does not know (extensions)
    step: float | None = None      # a slider's step
    # False for an A1111 key Kestrel lists and remembers but does not act on yet (a1111_options_catalog.py): the
    # API says so when it is set, and the Settings tab may show it read-only
    honoured: bool = True
    # choices read when asked (A1111's `lambda: {"choices": ...}`): files the user adds while the server runs
    choices_from: Callable[[], tuple[str, ...]] | None = None

    def current_choices(self) -> tuple[str, ...] | None:
        return self.choices_from() if self.choices_from is not None else self.choices

    def coerce(self, value: Any) -> Any:
        """The value in the default's type, or ValueError naming the setting and what is allowed."""
        kind = type(self.default)
        try:
            if kind is bool:
                if not isinstance(value, bool):
                    raise TypeError
                coerced: Any = value
            elif kind in (int, float):
                if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
                    raise TypeError
                coerced = kind(value)
            elif kind is str:
                if not isinstance(value, str):  # str(5) or str({...}) would be stored as text nobody meant
                    raise TypeError
                coerced = value
            elif kind is list:
                if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
                    raise TypeError
                coerced = list(value)
            else:
                coerced = value
        except (TypeError, ValueError):
            expected = "a list of strings" if kind is list else f"a {kind.__name__}"
            raise ValueError(f"setting {self.key}: {value!r} is not {expected}") from None
        choices = self.current_choices()
        if choices is not None and isinstance(coerced, list):  # a checkbox group: each item is one choice
            unknown = [item for item in coerced if item not in choices]
            if unknown:
                raise ValueError(f"setting {self.key}: {', '.join(map(repr, unknown))} not among "
                                 f"{', '.join(choices) or 'no choices'}")
        elif choices is not None and coerced not in choices:
            raise ValueError(f"setting {self.key}: {coerced!r} is not one of {', '.join(choices)}")
        if (self.minimum is not None and coerced < self.minimum) or (
                self.maximum is not None and coerced > self.maximum):
            raise ValueError(f"setting {self.key}: {coerced} is out of range {self.minimum}–{self.maximum}")
        return coerced


class OptionRegistry:
    """Known settings; registering a key twice is a programming error and raises."""

    def __init__(self, specs: Iterable[OptionSpec] = ()) -> None:
        self._specs: dict[str, OptionSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: OptionSpec) -> None:
        """Register a setting; one that honours an A1111 key only catalogued so far takes the catalogue's place
        (an extension or feature that implements it), anything else registered twice raises."""
        existing = self._specs.get(spec.key)
        if existing is not None and (existing.honoured or not spec.honoured):
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
    """The settings Kestrel honours, with A1111's keys and defaults, then every other A1111 key (not honoured)."""
    honoured = honoured_options()
    return OptionRegistry([*honoured, *catalog_specs(OptionSpec, {spec.key for spec in honoured})])


def honoured_options() -> list[OptionSpec]:
    return [
        OptionSpec("sd_model_checkpoint", None, "Stable Diffusion checkpoint", "sd", in_settings_tab=False),
        OptionSpec("sd_checkpoint_hash", "", "SHA256 hash of the current checkpoint", "sd", in_settings_tab=False),
        OptionSpec("sd_vae", "Automatic", "SD VAE", "sd", in_settings_tab=False),
        # A1111's key; its default there is 1. Ours keeps a few more, bounded by --ckpt-cache-gb.
        OptionSpec("sd_checkpoints_limit", 3, "Maximum number of checkpoints loaded at the same time", "sd",
                   minimum=1, maximum=10),
        OptionSpec("quicksettings_list", ["sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers"],
                   "Quicksettings list (settings shown above the tabs; the checkpoint is always there)", "ui"),
        OptionSpec("disable_weights_auto_swap", True,
                   "Do not switch the checkpoint when pasting an infotext with a known model hash", "infotext"),
        OptionSpec("CLIP_stop_at_last_layers", 1, "Clip skip (stop at the last layers of CLIP)", "sd",
                   minimum=1, maximum=12),
        OptionSpec("save_to_dirs", True, "Save images to a subdirectory", "saving-to-dirs"),
        OptionSpec("outdir_txt2img_samples", "outputs/txt2img-images", "Output directory for txt2img images",
                   "saving-paths"),
        OptionSpec("outdir_img2img_samples", "outputs/img2img-images", "Output directory for img2img images",
                   "saving-paths"),
        OptionSpec("outdir_txt2img_grids", "outputs/txt2img-grids", "Output directory for txt2img grids",
                   "saving-paths"),
        OptionSpec("outdir_img2img_grids", "outputs/img2img-grids", "Output directory for img2img grids",
                   "saving-paths"),
        OptionSpec("outdir_extras_samples", "outputs/extras-images", "Output directory for images from extras tab",
                   "saving-paths"),
        OptionSpec("use_original_name_batch", True,
                   "Use original name for output filename during batch process in extras tab", "saving-images"),
        OptionSpec("ESRGAN_tile", 192, "Tile size for ESRGAN upscalers. 0 = no tiling.", "upscaling",
                   minimum=0, maximum=512),
        OptionSpec("ESRGAN_tile_overlap", 8, "Tile overlap for ESRGAN upscalers. Low values = visible seam.",
                   "upscaling", minimum=0, maximum=48),
        OptionSpec("grid_save", True, "Always save all generated image grids", "saving-images"),
        OptionSpec("grid_only_if_multiple", True, "Do not save grids consisting of one picture", "saving-images"),
        OptionSpec("return_grid", True, "Show grid in gallery", "ui"),
        OptionSpec("n_rows", -1, "Grid row count; use -1 for autodetect and 0 for it to be same as batch size",
                   "saving-images", minimum=-1, maximum=16),
        OptionSpec("enable_pnginfo", True, "Save text information about generation parameters as chunks to png files",
                   "infotext"),
        OptionSpec("add_model_hash_to_info", True, "Add model hash to infotext", "infotext"),
        OptionSpec("add_model_name_to_info", True, "Add model name to infotext", "infotext"),
        OptionSpec("add_version_to_infotext", True, "Add program version to infotext", "infotext"),
        OptionSpec("live_previews_enable", True, "Show live previews of the created image", "ui"),
        OptionSpec("show_progress_every_n_steps", 10,
                   "Live preview display period (in sampling steps; -1 = only at the end)", "ui", minimum=-1,
                   maximum=150),
        *sampler_option_specs(),
    ]


def sampler_option_specs() -> list[OptionSpec]:
    """A1111 v1.10's "Sampler parameters" (and its noise source and alphas_cumprod settings), keys and defaults."""
    section = "sampler-params"
    return [
        OptionSpec("eta_ddim", 0.0, "Eta for DDIM (noise multiplier)", section, 0.0, 1.0, step=0.01),
        OptionSpec("eta_ancestral", 1.0, "Eta for k-diffusion samplers (noise multiplier)", section, 0.0, 1.0,
                   step=0.01),
        OptionSpec("s_churn", 0.0, "Sigma churn", section, 0.0, 100.0, step=0.01),
        OptionSpec("s_tmin", 0.0, "Sigma tmin", section, 0.0, 10.0, step=0.01),
        OptionSpec("s_tmax", 0.0, "Sigma tmax (0 = inf)", section, 0.0, 999.0, step=0.01),
        OptionSpec("s_noise", 1.0, "Sigma noise", section, 0.0, 1.1, step=0.001),
        OptionSpec("sigma_min", 0.0, "Sigma min (0 = default)", section, 0.0, 1000.0),
        OptionSpec("sigma_max", 0.0, "Sigma max (0 = default)", section, 0.0, 1000.0),
        OptionSpec("rho", 0.0, "Scheduler rho (0 = default: 7 for Karras, 1 for polyexponential)", section, 0.0, 100.0),
        OptionSpec("eta_noise_seed_delta", 0, "Eta noise seed delta (ENSD; does not improve anything, just produces "
                   "different results for ancestral samplers — only useful for reproducing images)", section,
                   minimum=0, maximum=2 ** 31),
        OptionSpec("always_discard_next_to_last_sigma", False, "Always discard next-to-last sigma", section),
        OptionSpec("beta_dist_alpha", 0.6, "Beta scheduler - alpha", section, 0.01, 1.0, step=0.01),
        OptionSpec("beta_dist_beta", 0.6, "Beta scheduler - beta", section, 0.01, 1.0, step=0.01),
        OptionSpec("randn_source", "GPU", "Random number generator source (GPU: A1111's default; CPU: the same "
                   "images on every machine; NV: NVIDIA's GPU numbers on any device)", "sd",
                   choices=("GPU", "CPU", "NV"), component="radio"),
        OptionSpec("fp8_storage", "Disable", "FP8 weight (store the UNet's Linear/Conv weights in fp8; Kestrel "
                   "also chooses it on cards of 4 GB or less)", "optimizations",
                   choices=("Disable", "Enable for SDXL", "Enable"), component="radio", section_label="Optimizations"),
        OptionSpec("cache_fp16_weight", False, "Cache FP16 weight for LoRA (keep the unquantised UNet in RAM beside "
                   "fp8: switching FP8 off needs no disk read)", "optimizations", section_label="Optimizations"),
        OptionSpec("use_downcasted_alpha_bar", False, "Downcast model alphas_cumprod to fp16 before sampling "
                   "(for reproducing images made before A1111 1.8)", "sd"),
    ]


class SettingsStore:
    """Thread-safe settings values backed by config.json (A1111's flat {key: value} format)."""

    def __init__(self, registry: OptionRegistry, path: Path) -> None:
        self._registry = registry
        self._path = path
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self.problem: str | None = None  # what went wrong reading config.json, for the Settings tab to show

    @property
    def registry(self) -> OptionRegistry:
        return self._registry

    def spec(self, key: str) -> OptionSpec:
        """The option's spec (label, default, component, validation); KeyError naming the key if unknown."""
        return self._registry.get(key)

    def load(self) -> str | None:
        """Read config.json if present. A broken file never stops the start: it is kept aside as
        `config.json.broken-<time>` (nothing the user wrote is lost), the defaults are used, and the problem is
        returned (and logged) so the UI can say it. Values of known keys that no longer validate fall back to
        their defaults the same way."""
        if not self._path.exists():
            return None
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
        except (OSError, ValueError) as error:
            kept = self._path.with_name(f"{self._path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            self._path.replace(kept)
            problem = f"settings file {self._path} could not be read ({error}); it was kept as {kept.name} and " \
                      "the defaults are used"
            log.error(problem)
            self.problem = problem
            return problem
        problems = []
        for key in list(data):
            if self.knows(key):
                try:
                    data[key] = self._registry.get(key).coerce(data[key]) if data[key] is not None else None
                except ValueError as error:
                    problems.append(str(error))
                    del data[key]
        with self._lock:
            self._values = data
        if problems:
            self.problem = "; ".join(problems) + " — the defaults are used for these"
            log.warning(self.problem)
        return self.problem

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

    def register(self, spec: OptionSpec) -> None:
        """Add a setting after config.json was read (extensions do): the value already in the file is validated
        now, and one that does not fit falls back to the default and is reported, as `load` does."""
        self._registry.add(spec)
        with self._lock:
            if spec.key not in self._values or self._values[spec.key] is None:
                return
            try:
                self._values[spec.key] = spec.coerce(self._values[spec.key])
            except ValueError as error:
                del self._values[spec.key]
                problem = f"{error} — the default is used"
                self.problem = f"{self.problem}; {problem}" if self.problem else problem
                log.warning(problem)

    def values(self) -> dict[str, Any]:
        """Every registered setting with its current value (A1111's GET /options)."""
        with self._lock:
            return {spec.key: self._values.get(spec.key, spec.default) for spec in self._registry}

    def set(self, key: str, value: Any) -> None:
        """Set one value and persist the whole file atomically."""
        self.update({key: value})

    def update(self, values: dict[str, Any]) -> None:
        """Set several values with one atomic write; an unknown key or a bad value fails before anything
        changes (ValueError/KeyError naming it)."""
        coerced = {key: self._registry.get(key).coerce(value) if value is not None else None
                   for key, value in values.items()}
        with self._lock:
            self._values.update(coerced)
            write_json_atomically(self._path, self._values)
