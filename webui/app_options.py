"""The flags and settings read into the plain, typed options each service takes (the services never see
SettingsStore or the flags themselves): what a job saves and writes, Extras' folder, the face restorer, the memory
plan's precision flags, the login flags and the checkpoint cache's budget."""

from __future__ import annotations

import os
from pathlib import Path

from webui import PRODUCT_NAME, __version__
from webui.config.flags import CommandLineOptions, parse_credentials
from webui.config.options import SettingsStore
from webui.config.paths import DataPaths
from webui.engine.face_restore import FaceRestoreOptions
from webui.engine.generate import InfotextOptions
from webui.jobs.extras import ExtrasOptions
from webui.jobs.generation import GridOptions, JobOptions
from webui.model_manager.memory_policy import PrecisionFlags
from webui.security.setup import LoginFlags
from webui.storage.outputs import SaveOptions

VERSION_TEXT = f"{PRODUCT_NAME}-{__version__}"  # deliberately not "v1.x": A1111 would apply old-version quirks


def read_job_options(settings: SettingsStore, paths: DataPaths) -> JobOptions:
    """This moment's settings as plain values for one job (the jobs layer never sees SettingsStore)."""
    def save_options(key: str) -> SaveOptions:
        outdir = Path(settings.get(key))
        return SaveOptions(
            folder=outdir if outdir.is_absolute() else paths.root / outdir,
            save_to_dirs=bool(settings.get("save_to_dirs")),
            embed_infotext=bool(settings.get("enable_pnginfo")),
        )

    return JobOptions(
        infotext=InfotextOptions(
            add_model_hash=bool(settings.get("add_model_hash_to_info")),
            add_model_name=bool(settings.get("add_model_name_to_info")),
            version=VERSION_TEXT if settings.get("add_version_to_infotext") else None,
            preview_every=max(0, int(settings.get("show_progress_every_n_steps")))
            if settings.get("live_previews_enable") else 0,
        ),
        save=save_options("outdir_txt2img_samples"),
        save_img2img=save_options("outdir_img2img_samples"),
        clip_skip=int(settings.get("CLIP_stop_at_last_layers")),
        grids=GridOptions(
            save=bool(settings.get("grid_save")), only_if_multiple=bool(settings.get("grid_only_if_multiple")),
            rows=int(settings.get("n_rows")), txt2img=save_options("outdir_txt2img_grids"),
            img2img=save_options("outdir_img2img_grids")),
    )


def read_face_options(settings: SettingsStore) -> FaceRestoreOptions:
    return FaceRestoreOptions(str(settings.get("face_restoration_model")), float(settings.get("code_former_weight")))


def read_extras_options(settings: SettingsStore, paths: DataPaths) -> ExtrasOptions:
    folder = Path(settings.get("outdir_extras_samples"))
    return ExtrasOptions(folder=folder if folder.is_absolute() else paths.root / folder,
                         embed_infotext=bool(settings.get("enable_pnginfo")),
                         use_original_name=bool(settings.get("use_original_name_batch")))


def physical_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def checkpoint_cache_bytes(requested_gb: float | None, ram_bytes: int) -> int:
    """--ckpt-cache-gb, else a quarter of RAM: room for two or three fp16 SD 1.5 checkpoints on a 24–32 GB box.
    The live checkpoint is always kept, whatever the budget."""
    if requested_gb is not None:
        return int(requested_gb * 1024**3)
    return ram_bytes // 4


def login_flags(options: CommandLineOptions) -> LoginFlags:
    def pairs(text: str | None) -> tuple[tuple[str, str], ...]:
        def refuse(message: str) -> None:
            raise ValueError(message)
        return tuple(parse_credentials(text or "", refuse))

    admins = tuple(name.strip() for name in (options.admin_users or "").split(",") if name.strip())
    return LoginFlags(gradio_auth=pairs(options.gradio_auth), gradio_auth_file=options.gradio_auth_path,
                      api_auth=pairs(options.api_auth), admin_users=admins,
                      exposed=options.exposed, insecure_no_auth=options.insecure_no_auth)


def setting_or(settings: SettingsStore, key: str, default: object) -> object:
    return settings.get(key) if settings.knows(key) else default


def precision_flags(options: CommandLineOptions, settings: SettingsStore) -> PrecisionFlags:
    return PrecisionFlags(
        no_half=options.no_half, no_half_vae=options.no_half_vae, precision=options.precision,
        xformers=options.xformers, opt_sdp_attention=options.opt_sdp_attention,
        opt_split_attention=options.opt_split_attention, medvram=options.medvram, lowvram=options.lowvram,
        fp8_storage=str(setting_or(settings, "fp8_storage", "Disable")),
        cache_fp16_weight=bool(setting_or(settings, "cache_fp16_weight", False)),
        no_auto_fp8=options.no_auto_fp8,
    )
