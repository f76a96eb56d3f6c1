"""A real https server for the shared-instance tests: a self-signed certificate made with the openssl CLI, and
`Server` (tests/support/server.py) told to speak https."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.support.server import Server


def make_self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway key and certificate for 127.0.0.1 (one day), made here, never checked in."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, cert


class TlsServer(Server):
    """`app.py` over https; the tests trust exactly its own certificate (verification stays on)."""

    def __init__(self, data_dir: Path, log_path: Path, cert: Path, extra_flags: tuple[str, ...]) -> None:
        super().__init__(data_dir, log_path, extra_flags)
        self.url = f"https://127.0.0.1:{self.port}"
        self.trust = ssl.create_default_context(cafile=str(cert))

    def ping(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/internal/ping", timeout=5, context=self.trust) as response:
            return json.loads(response.read())
