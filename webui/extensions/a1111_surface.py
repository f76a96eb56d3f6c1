"""The plain-value surfaces of A1111's `modules` that extensions read: `shared.cmd_opts` (A1111's flag names),
`modules.paths`, `extensions.active()`, `images.read_info_from_image` / `save_image`, `hashes`, the prompt styles
and `generation_parameters_copypaste` (also `infotext_utils`).

Everything is built from the App's values when an extension's shim is made; nothing here imports gradio (the
page-side pieces, `ui_components` and the Gradio 3 adapter, live in `webui.ui`). Secrets never reach an extension:
`cmd_opts.gradio_auth` and `api_auth` are None whatever the flags say.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from PIL import Image

from webui.config.atomic import write_atomically
from webui.infotext.paste import generation_parameters
from webui.infotext.png import PARAMETERS_KEY, image_text_items, png_bytes_with_infotext

if TYPE_CHECKING:
    from webui.app_context import App


def command_line_options(app: App) -> SimpleNamespace:
    """A1111's `shared.cmd_opts` with its names and defaults, filled from our flags and data dir."""
    options, paths = app.options, app.paths
    return SimpleNamespace(
        data_dir=str(paths.root), models_dir=str(paths.models), ckpt_dir=str(options.ckpt_dir) if options.ckpt_dir
        else None, ckpt=str(options.ckpt) if options.ckpt else None, vae_dir=None, lora_dir=str(paths.lora),
        lyco_dir_backcompat=str(paths.models / "LyCORIS"), embeddings_dir=str(paths.embeddings),
        hypernetwork_dir=str(paths.models / "hypernetworks"), textual_inversion_templates_dir=None,
        ui_settings_file=str(paths.config_file), ui_config_file=str(paths.root / "ui-config.json"),
        styles_file=[str(paths.styles_file)], port=options.port, listen=options.listen, server_name=options.server_name,
        api=options.serves_api, nowebui=options.nowebui, share=False, ngrok=None, gradio_auth=None, api_auth=None,
        xformers=options.xformers, no_half=options.no_half, no_half_vae=options.no_half_vae,
        medvram=options.medvram, lowvram=options.lowvram, precision=options.precision, device_id=None,
        use_cpu=[], disable_all_extensions=options.disable_all_extensions, disable_extra_extensions=False,
        enable_insecure_extension_access=options.enable_insecure_extension_access, freeze_settings=False,
        hide_ui_dir_config=options.non_local, skip_version_check=True, no_download_sd_model=True,
        do_not_download_clip=True, theme=options.theme, autolaunch=options.autolaunch, gradio_debug=False,
        administrator=False, allow_code=False, skip_torch_cuda_test=True, opt_channelslast=False,
        no_gradio_queue=False, api_log=False, timeout_keep_alive=30, disable_safe_unpickle=False,
        ui_debug_mode=False, profile=False)


def paths_module_values(app: App) -> dict[str, Any]:
    """`modules.paths` (and `paths_internal`): where A1111 keeps things, mapped to our data dir."""
    root = app.paths.root
    return {"script_path": str(root), "data_path": str(root), "models_path": str(app.paths.models),
            "extensions_dir": str(app.paths.extensions), "extensions_builtin_dir": str(root / "extensions-builtin"),
            "default_output_dir": str(app.paths.outputs), "sd_configs_path": str(root / "configs"),
            "config_states_dir": str(root / "config_states"), "cwd": str(root), "paths": {}}


@dataclass(frozen=True)
class ExtensionInfo:
    """What A1111's `modules.extensions.Extension` tells about an installed extension."""

    name: str
    path: str
    enabled: bool
    is_builtin: bool = False
    remote: str | None = None
    branch: str | None = None
    commit_hash: str | None = None
    version: str | None = None
    status: str = ""

    @property
    def canonical_name(self) -> str:
        return self.name.lower()


def active_extensions(app: App) -> list[ExtensionInfo]:
    """`modules.extensions.active()`: the enabled extensions, in load order (all of them are known by now)."""
    return [ExtensionInfo(record.name, str(record.folder), record.enabled, False, record.git.remote,
                          record.git.branch, record.git.commit_hash,
                          record.version or (record.git.commit_hash or "")[:8] or None, record.status.value)
            for record in app.extensions.records() if record.enabled]


def read_info_from_image(image: Image.Image) -> tuple[str | None, dict[str, str]]:
    """A1111's `images.read_info_from_image`: (the infotext or None, the image's other text items)."""
    items = image_text_items(image)
    return items.pop(PARAMETERS_KEY, None), items


def _next_number(folder: Path) -> int:
    numbers = [int(match.group(1)) for path in folder.iterdir() if (match := re.match(r"^(\d+)-", path.name))]
    return max(numbers, default=-1) + 1


def save_image(image: Image.Image, path: str, basename: str, seed: Any = None, prompt: str | None = None,
               extension: str = "png", info: str | None = None, short_filename: bool = False,
               no_prompt: bool = False, grid: bool = False, pnginfo_section_name: str = "parameters",
               p: Any = None, existing_info: Any = None, forced_filename: str | None = None, suffix: str = "",
               save_to_dirs: bool | None = None) -> tuple[str, str | None]:
    """A1111's `images.save_image`, PNG only: `NNNNN-<basename>-<seed><suffix>.png` (or the forced name) with the
    infotext in its "parameters" chunk, written atomically; returns (the file, None) as A1111 does without a
    .txt file."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    if extension.lower().lstrip(".") != "png":
        raise ValueError(f"save_image: Kestrel saves PNG only, not {extension!r}")
    if forced_filename:
        name = forced_filename
    else:
        parts = [f"{_next_number(folder):05}", *(part for part in (basename, str(seed) if seed is not None else "")
                                                 if part)]
        name = "-".join(parts) + suffix
    target = folder / f"{name}.png"
    data = png_bytes_with_infotext(image, info)
    write_atomically(target, lambda file: file.write(data))
    return str(target), None


def image_from_bytes(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def sha256_from_cache(filename: str, title: str, use_addnet_hash: bool = False) -> str | None:
    """A1111's `hashes.sha256_from_cache` (no cache here: hashed on demand; None when the file is missing)."""
    return sha256(filename, title, use_addnet_hash)


def sha256(filename: str, title: str = "", use_addnet_hash: bool = False) -> str | None:
    path = Path(filename)
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class PromptStyles:
    """`shared.prompt_styles`: A1111's style names (from styles.csv) and its `apply_styles_to_prompt`."""

    app: App

    @property
    def styles(self) -> dict[str, Any]:
        return {style.name: style for style in self.app.styles.styles()}

    def apply_styles_to_prompt(self, prompt: str, styles: list[str]) -> str:
        return self.app.styles.apply(prompt, "", list(styles))[0]

    def apply_negative_styles_to_prompt(self, prompt: str, styles: list[str]) -> str:
        return self.app.styles.apply("", prompt, list(styles))[1]


@dataclass(frozen=True)
class ParamBinding:
    """A1111's `ParamBinding`: a button that sends an infotext (or an image's) to a tab's fields."""

    paste_button: Any
    tabname: str
    source_text_component: Any = None
    source_image_component: Any = None
    source_tabname: str | None = None
    override_settings_component: Any = None
    paste_field_names: list[str] = field(default_factory=list)


@dataclass
class CopyPaste:
    """`generation_parameters_copypaste` / `infotext_utils`: parse an infotext, and keep the paste buttons and
    fields extensions register. Kestrel's own send-to buttons are wired by its tabs; bindings registered here are
    recorded (listed by the Extensions tab) and the ones that name a text source are wired by the UI."""

    bindings: list[ParamBinding] = field(default_factory=list)
    paste_fields: dict[str, dict[str, Any]] = field(default_factory=dict)

    def parse_generation_parameters(self, text: str, skip_fields: list[str] | None = None) -> dict[str, str]:
        parameters = generation_parameters(text)
        for name in skip_fields or ():
            parameters.pop(name, None)
        return parameters

    def register_paste_params_button(self, binding: ParamBinding) -> None:
        self.bindings.append(binding)

    def add_paste_fields(self, tabname: str, init_img: Any, fields: Any, override_settings_component: Any = None
                         ) -> None:
        self.paste_fields[tabname] = {"init_img": init_img, "fields": fields,
                                      "override_settings_component": override_settings_component}

    def create_buttons(self, tabs_list: list[str]) -> dict[str, Any]:
        """A1111 returns one "Send to <tab>" button per tab; the buttons come from the page's adapter."""
        raise NotImplementedError("create_buttons is provided by the page while an extension builds its UI")

    def image_from_url_text(self, filedata: Any) -> Image.Image | None:
        if filedata is None:
            return None
        if isinstance(filedata, Image.Image):
            return filedata
        if isinstance(filedata, dict) and filedata.get("path"):
            return Image.open(filedata["path"])
        if isinstance(filedata, str) and Path(filedata).is_file():
            return Image.open(filedata)
        raise ValueError(f"image_from_url_text: cannot read an image from {type(filedata).__name__}")


def copypaste_values(copypaste: CopyPaste, create_buttons: Callable[[list[str]], dict[str, Any]] | None = None
                     ) -> dict[str, Any]:
    values: dict[str, Any] = {"ParamBinding": ParamBinding, "parse_generation_parameters":
                              copypaste.parse_generation_parameters,
                              "register_paste_params_button": copypaste.register_paste_params_button,
                              "add_paste_fields": copypaste.add_paste_fields,
                              "image_from_url_text": copypaste.image_from_url_text,
                              "paste_fields": copypaste.paste_fields, "registered_param_bindings": copypaste.bindings}
    values["create_buttons"] = create_buttons or copypaste.create_buttons
    return values


class State:
    """`shared.state`: what scripts read of the running job (Kestrel's queue owns the real state)."""

    interrupted = False
    skipped = False
    job = ""
    job_no = 0
    job_count = 0
    sampling_step = 0
    sampling_steps = 0
    textinfo: str | None = None
    current_image = None

    def begin(self, job: str = "") -> None: ...

    def end(self) -> None: ...

    def nextjob(self) -> None: ...

    def interrupt(self) -> None: ...

    def skip(self) -> None: ...


class ImageSaveParams:
    """`script_callbacks.ImageSaveParams`: what on_before_image_saved / on_image_saved receive."""

    def __init__(self, image: Any, p: Any, filename: str | None, pnginfo: dict[str, str]) -> None:
        self.image = image
        self.p = p
        self.filename = filename
        self.pnginfo = pnginfo
