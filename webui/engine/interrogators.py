"""The interrogators behind `POST /sdapi/v1/interrogate` and the img2img "Interrogate" buttons: a registry of the
kinds A1111 has ("clip", "deepdanbooru"), the file check that runs before anything is queued, and the call that
runs as a job on the device thread (as A1111 runs it under its queue lock).

Each model is read on first use, not at start (most sessions never interrogate), and released after each call
unless A1111's `interrogate_keep_models_in_memory` is on: on a 4 GB card the interrogator must not keep VRAM the
next generation needs. Options are read from the settings at each call, so a change applies to the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from PIL import Image

from webui.engine.deepbooru_tags import SETTING_KEYS as DEEPBOORU_SETTINGS
from webui.engine.deepbooru_tags import DeepBooruOptions
from webui.engine.interrogate import CLIP, DEEPBOORU, InterrogateFiles, InterrogateModelMissing, UnknownInterrogator
from webui.engine.interrogate_clip import ClipInterrogateFiles, ClipInterrogator
from webui.engine.interrogate_clip_text import SETTING_KEYS as CLIP_SETTINGS
from webui.engine.interrogate_clip_text import ClipInterrogateOptions
from webui.engine.interrogate_deepbooru import DeepBooruInterrogator
from webui.model_manager.deepbooru_model import DEEPBOORU_FILE, DEEPBOORU_FOLDER, find_deepbooru_file

log = logging.getLogger(__name__)
Setting = Callable[[str], object]  # an A1111 option's current value by key
KEEP_IN_MEMORY = "interrogate_keep_models_in_memory"


class Interrogator(Protocol):
    def interrogate(self, image: Image.Image, options: Any) -> str: ...

    def unload(self) -> None: ...


@dataclass(frozen=True)
class InterrogatorKind:
    """One interrogator: the files it lacks (422 before queueing), how to build it over them, and its options
    from the settings."""

    missing: Callable[[InterrogateFiles], list[Path]]
    build: Callable[[InterrogateFiles, torch.device, torch.dtype], Interrogator]
    options: Callable[[Setting], Any]
    setting_keys: tuple[str, ...] = ()  # the A1111 options it reads (honoured in Settings and /options)


@dataclass(frozen=True)
class InterrogateSpec:
    """One interrogation job: the picture and A1111's model name."""

    image: Image.Image
    model: str


def _deepbooru_missing(files: InterrogateFiles) -> list[Path]:
    """A1111 takes any .pt in its folder (find_deepbooru_file), the release's name first."""
    found = find_deepbooru_file(files.models)
    return [] if found is not None else [files.models / DEEPBOORU_FOLDER / DEEPBOORU_FILE]


def _deepbooru(files: InterrogateFiles, device: torch.device, dtype: torch.dtype) -> Interrogator:
    weights = find_deepbooru_file(files.models)
    if weights is None:
        raise InterrogateModelMissing(DEEPBOORU, _deepbooru_missing(files))
    return DeepBooruInterrogator(weights, device, dtype)


def _clip_files(files: InterrogateFiles) -> ClipInterrogateFiles:
    return ClipInterrogateFiles.from_data_root(files.root, files.clip_models, files.clip_cache)


def _clip(files: InterrogateFiles, device: torch.device, dtype: torch.dtype) -> Interrogator:
    return ClipInterrogator(_clip_files(files), device, dtype)


def default_kinds() -> dict[str, InterrogatorKind]:
    return {CLIP: InterrogatorKind(lambda files: _clip_files(files).missing(), _clip,
                                   ClipInterrogateOptions.from_settings, tuple(CLIP_SETTINGS.values())),
            DEEPBOORU: InterrogatorKind(_deepbooru_missing, _deepbooru, DeepBooruOptions.from_settings,
                                        tuple(DEEPBOORU_SETTINGS.values()))}


class Interrogators:
    """The interrogators of one process. `check` is cheap (file listing) and runs before queueing; `run` runs on
    the device thread, one call at a time, so the live models need no lock."""

    def __init__(self, files: InterrogateFiles, device: str, half: bool, setting: Setting,
                 kinds: Mapping[str, InterrogatorKind] | None = None) -> None:
        self.files = files
        self._device = torch.device(device)
        self._dtype = torch.float16 if half and self._device.type != "cpu" else torch.float32
        self._setting = setting
        self._kinds = dict(kinds if kinds is not None else default_kinds())
        self._live: dict[str, Interrogator] = {}

    def names(self) -> list[str]:
        return list(self._kinds)

    def setting_keys(self) -> list[str]:
        """Every A1111 option the interrogators act on, each once, in a stable order."""
        keys = [KEEP_IN_MEMORY, *(key for kind in self._kinds.values() for key in kind.setting_keys)]
        return list(dict.fromkeys(keys))

    def setting_choices(self) -> dict[str, Callable[[], tuple[str, ...]]]:
        """Settings whose choices come from the files, read when asked: A1111's skip-categories checkbox group
        lists the category files in `interrogate/`."""
        return {CLIP_SETTINGS["skip_categories"]: lambda: tuple(_clip_files(self.files).category_names())}

    def check(self, model: str) -> None:
        """404 for a model A1111 does not have, 422 naming each missing file and its folder."""
        if model not in self._kinds:
            raise UnknownInterrogator(model)
        missing = self._kinds[model].missing(self.files)
        if missing:
            raise InterrogateModelMissing(model, missing)

    def run(self, spec: InterrogateSpec) -> str:
        """The caption. Out of device memory (a small card holding a checkpoint as well), the model is released
        and the call made once more on the CPU: slower, but an answer rather than an error."""
        self.check(spec.model)  # the files may have gone while the job waited
        kind = self._kinds[spec.model]
        image, options = spec.image.convert("RGB"), kind.options(self._setting)
        interrogator = self._live.get(spec.model) or kind.build(self.files, self._device, self._dtype)
        self._live[spec.model] = interrogator
        try:
            return interrogator.interrogate(image, options)
        except torch.OutOfMemoryError:
            if self._device.type == "cpu":
                raise
            log.warning("interrogate with %s ran out of device memory; running it on the CPU", spec.model)
            self.release(spec.model)
            torch.cuda.empty_cache()
            on_cpu = kind.build(self.files, torch.device("cpu"), torch.float32)
            try:
                return on_cpu.interrogate(image, options)
            finally:
                on_cpu.unload()
        finally:
            if not self._setting(KEEP_IN_MEMORY):
                self.release(spec.model)

    def release(self, model: str | None = None) -> None:
        """Unload one live interrogator, or all of them."""
        names = [model] if model is not None else list(self._live)
        for live in [self._live.pop(name) for name in names if name in self._live]:
            live.unload()

    def loaded(self) -> list[str]:
        return sorted(self._live)

