"""An extension's requirements.txt / install.py: listed, installed only with the admin's consent (the flag or
the Extensions tab's button), never on their own; A1111's `launch` helpers work inside install.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import copy_checkpoint
from tests.support.extensions import app_for
from webui.extensions.context import extension_data_dir
from webui.extensions.registry import Status
from webui.extensions.requirements import install, is_satisfied, read_plan

MISSING = "kestrel-no-such-package-for-tests==1.0"
INSTALL_PY = ("import launch\nfrom pathlib import Path\n"
              "Path('installed.txt').write_text(str(launch.is_installed('pillow')) + ' ' + "
              "str(launch.is_installed('kestrel_no_such_package_for_tests')))\n")


def a1111_extension(root: Path, name: str, script: str = "VALUE = 1\n", requirements: str | None = None,
                    install_py: str | None = None) -> Path:
    folder = root / "extensions" / name
    (folder / "scripts").mkdir(parents=True)
    (folder / "scripts" / "main.py").write_text(script)
    if requirements is not None:
        (folder / "requirements.txt").write_text(requirements)
    if install_py is not None:
        (folder / "install.py").write_text(install_py)
    return folder


@pytest.fixture(scope="module")
def base(tmp_path_factory, tiny_checkpoint):
    from webui.app_context import build_app
    from webui.config.flags import CommandLineOptions

    data = tmp_path_factory.mktemp("requirements-base")
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")
    app = build_app(CommandLineOptions(data_dir=data, device="cpu"), default_data_dir=data)
    yield app
    app.stop()


def test_requirement_lines_are_checked_against_this_python():
    assert is_satisfied("pillow") and is_satisfied("packaging>=1")
    assert not is_satisfied(MISSING) and not is_satisfied("pillow<1") and not is_satisfied("not a requirement ((")
    assert is_satisfied('kestrel-nothing; python_version < "3"')  # a marker that does not apply


def test_unmet_requirements_wait_for_consent_and_nothing_is_installed(base, tmp_path):
    data = tmp_path / "data"
    a1111_extension(data, "needs-pkg", "import kestrel_no_such_package_for_tests\n", requirements=f"{MISSING}\n")
    a1111_extension(data, "has-pkg", requirements="# comment\npillow\n")
    app = app_for(base, data)
    loaded = app.extensions
    from webui.ui.extensions_tab import extensions_table

    assert 'class="extension-status status-needs-install"' in extensions_table(app)
    waiting = loaded.record("needs-pkg")
    assert waiting.status is Status.NEEDS_INSTALL and MISSING in waiting.message
    assert "Extensions tab" in waiting.message and "--install-extension-requirements" in waiting.message
    assert not (extension_data_dir(data, "needs-pkg") / "kestrel-install.json").exists()
    fine = loaded.record("has-pkg")
    assert (fine.status, fine.requirements, fine.message) == (Status.LOADED, ("pillow",), "")


def test_install_py_runs_once_consented_with_a1111s_launch_module(base, tmp_path):
    data = tmp_path / "data"
    folder = a1111_extension(data, "with-install", install_py=INSTALL_PY)
    record = app_for(base, data).extensions.record("with-install")
    assert record.status is Status.LOADED and "its install.py has not run" in record.message
    assert not (folder / "installed.txt").exists()
    plan = read_plan("with-install", folder, extension_data_dir(data, "with-install"))
    result = install(plan, "a test")
    assert result.ok, result.log
    assert (folder / "installed.txt").read_text() == "True False"
    assert not read_plan("with-install", folder, extension_data_dir(data, "with-install")).needed
    (folder / "install.py").write_text(INSTALL_PY + "\n# changed\n")  # a changed install.py asks again
    assert read_plan("with-install", folder, extension_data_dir(data, "with-install")).needed


def test_the_flag_is_consent_at_start(base, tmp_path):
    data = tmp_path / "data"
    folder = a1111_extension(data, "flagged", install_py=INSTALL_PY)
    record = app_for(base, data, install_extension_requirements=True).extensions.record("flagged")
    assert (record.status, record.message) == (Status.LOADED, "")
    assert (folder / "installed.txt").read_text() == "True False"


def test_pip_gets_the_requirements_file_and_a_failure_leaves_no_marker(tmp_path):
    folder = a1111_extension(tmp_path, "pkg", requirements=f"{MISSING}\n")
    plan = read_plan("pkg", folder, tmp_path / "data-of-pkg")
    commands = []

    def fake_pip(command, **options):
        commands.append(command)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    result = install(plan, "a test", runner=fake_pip)
    assert commands == [[sys.executable, "-m", "pip", "install", "-r", str(folder / "requirements.txt")]]
    assert not result.ok and "No matching distribution" in result.log and "exit code 1" in result.log
    assert not (tmp_path / "data-of-pkg" / "kestrel-install.json").exists()
