"""Finding and loading extensions at start-up (called by `build_app`, before the UI is built).

Each folder of `extensions/` is one extension: `extension.toml` → ours (`setup(ctx)` with `webui.extensions.api`),
`scripts/*.py` → A1111 style (through the `modules` shim). Loading one is isolated: a bad manifest, an import
that fails, a `setup` that raises or an A1111 script reaching for what the shim lacks marks that extension failed
or unsupported, with its traceback, and the others load on. Disabled extensions (`disabled_extensions` in
config.json, or --disable-all-extensions) are listed but not imported.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from webui.config.options import OptionSpec
from webui.extensions.a1111 import A1111Shim
from webui.extensions.api import API_VERSION
from webui.extensions.context import KestrelExtensionContext, extension_data_dir
from webui.extensions.git import read_git_info
from webui.extensions.manifest import MANIFEST_FILE, ManifestError, parse_manifest
from webui.extensions.registry import Contributions, ExtensionRecord, Extensions, Failure, Status
from webui.extensions.requirements import install, read_plan

if TYPE_CHECKING:
    from webui.app_context import App

log = logging.getLogger(__name__)
DISABLED_SETTING = OptionSpec("disabled_extensions", [], "Disabled extensions (applied at the next start)",
                              "extensions", in_settings_tab=False)


def extension_folders(root: Path) -> list[Path]:
    """Folders of `extensions/` in name order; hidden ones (installs in progress) and files are not extensions."""
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith((".", "_")))


def _kind(folder: Path) -> str | None:
    if (folder / MANIFEST_FILE).is_file():
        return "kestrel"
    if (folder / "scripts").is_dir():
        return "a1111"
    return None


def _assets(folder: Path) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """A1111's page assets, which our extensions may use too: style.css and javascript/*.js."""
    css = (folder / "style.css").read_text(encoding="utf-8") if (folder / "style.css").is_file() else None
    scripts = tuple((f"{folder.name}/javascript/{path.name}", path.read_text(encoding="utf-8"))
                    for path in sorted((folder / "javascript").glob("*.js")))
    return ((css,) if css is not None else ()), scripts


@dataclass
class _Progress:
    """How far loading one extension got, so a failure names its stage (manifest, import, setup)."""

    stage: str = "manifest"


def _load_kestrel(folder: Path, app: App, record: ExtensionRecord, progress: _Progress) -> Contributions:
    manifest = parse_manifest((folder / MANIFEST_FILE).read_text(encoding="utf-8"), API_VERSION)
    record.name, record.version = manifest.name, manifest.version
    entry = folder / manifest.entry
    progress.stage = "import"
    if not entry.is_file():
        raise ManifestError(f"{MANIFEST_FILE}: entry {manifest.entry!r} does not exist in {folder.name}/")
    module_name = f"kestrel_extension_{manifest.name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, entry)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling inside the extension look themselves up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    setup = getattr(module, "setup", None)
    if not callable(setup):
        raise ManifestError(f"{manifest.entry} has no setup(ctx) function")
    context = KestrelExtensionContext(manifest.name, app)
    progress.stage = "setup"
    setup(context)
    contributions = context.commit()
    css, scripts = _assets(folder)
    return dataclasses.replace(contributions, css=css, scripts=scripts)


def _load_a1111(folder: Path, app: App, record: ExtensionRecord, progress: _Progress) -> Contributions:
    progress.stage = "import"
    shim = A1111Shim(record.name, app, folder, app.extensions.a1111_lock)
    try:
        shim.load_scripts(folder)
    except Exception:
        if shim.missing:
            record.status = Status.UNSUPPORTED
            record.message = f"uses {', '.join(dict.fromkeys(shim.missing))}, which Kestrel's A1111 " \
                             "compatibility layer does not offer"
        raise
    shim.commit()
    record.asked_for = tuple(dict.fromkeys(shim.missing))
    if record.asked_for:
        record.message = f"loaded; it asked for {', '.join(record.asked_for)}, which Kestrel does not offer " \
                         "(it went on without)"
    css, scripts = _assets(folder)
    return Contributions(css=css, scripts=scripts, a1111=shim)


def _requirements_first(folder: Path, app: App, record: ExtensionRecord) -> str | None:
    """What the extension's requirements.txt / install.py still need (None when nothing); installed now only when
    the admin started the server with --install-extension-requirements."""
    plan = read_plan(folder.name, folder, extension_data_dir(app.paths.root, folder.name))
    if plan is None:
        return None
    record.requirements = plan.requirements
    if plan.needed and app.options.install_extension_requirements:
        result = install(plan, "--install-extension-requirements")
        if not result.ok:
            record.failures.append(Failure("install requirements", result.log))
        plan = read_plan(folder.name, folder, extension_data_dir(app.paths.root, folder.name)) or plan
    return plan.describe() if plan.needed else None


def _load_one(folder: Path, kind: str, app: App, record: ExtensionRecord) -> Contributions | None:
    started = time.perf_counter()
    progress = _Progress()
    try:
        waiting = _requirements_first(folder, app, record)
        loader = _load_kestrel if kind == "kestrel" else _load_a1111
        try:
            contributions = loader(folder, app, record, progress)
        except (Exception, SystemExit):
            if waiting:
                record.status = Status.NEEDS_INSTALL
                record.message = f"needs its requirements ({waiting}): an admin can install them in the " \
                                 "Extensions tab (or start with --install-extension-requirements), then restart"
            raise
        record.status = Status.LOADED
        if waiting:
            record.message = "; ".join(part for part in (record.message, f"loaded without its requirements "
                                                         f"({waiting})") if part)
        return contributions
    except (Exception, SystemExit) as error:
        if record.status not in (Status.UNSUPPORTED, Status.NEEDS_INSTALL):
            record.status = Status.FAILED
            record.message = f"{progress.stage}: {error}" if isinstance(error, ManifestError) else \
                f"{progress.stage} failed: {type(error).__name__}: {error}"
        record.failures.append(Failure(progress.stage, "".join(traceback.format_exception(error))))
        log.error("extension %s not loaded (%s)", record.name, record.message)
        return None
    finally:
        record.load_seconds = time.perf_counter() - started


def load_extensions(app: App, extensions: Extensions) -> None:
    """Discover and load every extension of the data dir's extensions folder into `extensions` (the registry the
    job service already holds as its hooks); never raises because of an extension."""
    if not app.settings.knows(DISABLED_SETTING.key):
        app.settings.register(DISABLED_SETTING)
    disabled = set(app.settings.get(DISABLED_SETTING.key))
    for folder in extension_folders(app.paths.extensions):
        kind = _kind(folder)
        record = ExtensionRecord(folder.name, folder, kind or "unknown", Status.DISABLED, git=read_git_info(folder))
        contributions = None
        if kind is None:
            record.status = Status.FAILED
            record.message = f"neither {MANIFEST_FILE} nor a scripts/ folder: not an extension"
        elif app.options.disable_all_extensions or folder.name in disabled:
            record.message = "--disable-all-extensions" if app.options.disable_all_extensions else \
                "disabled in the Extensions tab"
        else:
            contributions = _load_one(folder, kind, app, record)
        try:
            extensions.add(record, contributions)
        except ValueError as error:  # two folders claiming one manifest name
            duplicate = ExtensionRecord(folder.name, folder, kind or "unknown", Status.FAILED, record.version,
                                        str(error), record.load_seconds, record.git)
            extensions.add(duplicate)
        else:
            log.info("extension %s: %s (%.3f s)", record.name, record.status.value, record.load_seconds)
    app.engine.seams.attach(extensions)  # the v2 seams (variants, conditioning, post-processors) from the next job
