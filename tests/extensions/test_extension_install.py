"""Installing from a git URL: a real local repository over file:// (no network), staged then renamed."""

import subprocess

import pytest

from webui.config.flags import CommandLineOptions, parse_flags
from webui.extensions.git import InstallError, folder_name_for, install_from_url, read_git_info


def git(*arguments, cwd):
    subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *arguments], cwd=cwd,
                   check=True, capture_output=True)


@pytest.fixture
def repository(tmp_path):
    repo = tmp_path / "sources" / "kestrel-hello.git"
    repo.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "extension.toml").write_text('name = "hello"\nversion = "0.3.0"\napi_version = 1\n')
    (repo / "main.py").write_text("def setup(ctx):\n    pass\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "first", cwd=repo)
    return repo


def test_install_clones_into_the_extensions_folder(repository, tmp_path):
    extensions = tmp_path / "data" / "extensions"
    url = f"file://{repository}"
    target = install_from_url(extensions, url)
    assert target == extensions / "kestrel-hello" and (target / "extension.toml").is_file()
    assert [path.name for path in extensions.iterdir()] == ["kestrel-hello"]  # no staging folder left
    info = read_git_info(target)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repository, capture_output=True, text=True).stdout
    assert (info.remote, info.branch, info.commit_hash) == (url, "main", head.strip())
    assert isinstance(info.commit_date, int) and info.commit_date > 1_600_000_000
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=target, capture_output=True,
                             text=True).stdout
    assert shallow.strip() == "true"
    with pytest.raises(InstallError, match="extension directory already exists"):
        install_from_url(extensions, url)
    assert install_from_url(extensions, url, branch="main", folder_name="other").name == "other"


def test_a_failed_clone_leaves_nothing_behind(tmp_path):
    extensions = tmp_path / "data" / "extensions"
    with pytest.raises(InstallError, match="git clone .* failed"):
        install_from_url(extensions, f"file://{tmp_path / 'missing.git'}")
    assert list(extensions.iterdir()) == []
    for bad, message in (("", "no URL given"), ("--upload-pack=x", "must not start with '-'")):
        with pytest.raises(InstallError, match=message):
            install_from_url(extensions, bad)
    with pytest.raises(InstallError, match="local directory name '../up'"):
        install_from_url(extensions, "file:///x/y.git", folder_name="../up")


def test_folder_names_and_a1111s_access_rule():
    assert folder_name_for("https://example.invalid/user/sd-webui-thing.git") == "sd-webui-thing"
    assert folder_name_for("https://example.invalid/user/thing/") == "thing"
    assert not CommandLineOptions().disable_extension_access
    assert CommandLineOptions(listen=True).disable_extension_access
    assert CommandLineOptions(server_name="box.lan").disable_extension_access
    assert not parse_flags(["--listen", "--enable-insecure-extension-access"]).disable_extension_access
    assert parse_flags(["--disable-all-extensions"]).disable_all_extensions
