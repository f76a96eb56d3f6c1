"""Issue 22, item 10: files get the umask's mode, a busy port fails clearly before announcing a URL."""

from __future__ import annotations

import os
import socket
import stat

from tests.support.server import run_app
from webui.config.atomic import write_atomically


def test_atomic_files_get_the_mode_of_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        write_atomically(tmp_path / "image.png", lambda stream: stream.write(b"png"))
        os.umask(0o077)
        write_atomically(tmp_path / "private.json", lambda stream: stream.write(b"{}"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "image.png").stat().st_mode) == 0o644  # others may read the outputs
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600


def test_a_busy_port_is_named_and_no_url_is_announced(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_app(["--data-dir", str(tmp_path / "data"), "--port", str(port)], timeout=120)
    assert result.returncode == 3
    assert "Running on" not in result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
