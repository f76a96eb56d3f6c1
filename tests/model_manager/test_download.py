"""Downloads against a real HTTP server on 127.0.0.1: resume after a dropped connection, checksums, bad input."""

import hashlib
import http.server
import threading

import pytest

from webui.model_manager.download import DownloadError, DownloadRequest, download_checkpoint


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    drop_after: list[int] = []      # one-shot: send this many bytes, then close the connection
    ranges_seen: list[str] = []

    def log_message(self, *args):  # keep the test output quiet
        pass

    def do_GET(self):
        body = self.files.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if "Range" in self.headers:
            self.ranges_seen.append(self.headers["Range"])
            start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if self.drop_after:
            payload = payload[: self.drop_after.pop()]
            self.close_connection = True
        self.wfile.write(payload)


@pytest.fixture
def server(tiny_checkpoint):
    Handler.files = {"/models/tiny.safetensors": tiny_checkpoint.read_bytes(),
                     "/models/error-page.safetensors": b"<html>Rate limited</html>" * 10}
    Handler.drop_after, Handler.ranges_seen = [], []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_with_checksum_and_progress(server, tmp_path, tiny_checkpoint):
    seen = []
    path = download_checkpoint(DownloadRequest(f"{server}/models/tiny.safetensors?download=true", tmp_path,
                                               sha256=sha256(tiny_checkpoint.read_bytes())),
                               progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "tiny.safetensors" and path.read_bytes() == tiny_checkpoint.read_bytes()
    assert seen[-1] == (len(tiny_checkpoint.read_bytes()),) * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.safetensors"]


def test_a_dropped_connection_keeps_the_part_and_the_next_attempt_resumes(server, tmp_path, tiny_checkpoint):
    data = tiny_checkpoint.read_bytes()
    Handler.drop_after.append(1_000_000)
    request = DownloadRequest(f"{server}/models/tiny.safetensors", tmp_path, sha256=sha256(data))
    with pytest.raises(DownloadError, match="connection dropped.*tiny.safetensors.part is kept"):
        download_checkpoint(request)
    assert (tmp_path / "tiny.safetensors.part").stat().st_size == 1_000_000
    assert not (tmp_path / "tiny.safetensors").exists()
    path = download_checkpoint(request)
    assert Handler.ranges_seen == ["bytes=1000000-"]
    assert path.read_bytes() == data and not (tmp_path / "tiny.safetensors.part").exists()


def test_a_wrong_checksum_deletes_the_download(server, tmp_path):
    with pytest.raises(DownloadError, match="checksum mismatch for tiny.safetensors: expected 0000"):
        download_checkpoint(DownloadRequest(f"{server}/models/tiny.safetensors", tmp_path, sha256="0" * 64))
    assert list(tmp_path.iterdir()) == []


def test_an_error_page_is_not_a_checkpoint(server, tmp_path):
    with pytest.raises(DownloadError, match="error-page.safetensors is not a Stable Diffusion checkpoint"):
        download_checkpoint(DownloadRequest(f"{server}/models/error-page.safetensors", tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url, error, message", [
    ("ftp://example.org/a.safetensors", ValueError, "only http:// and https:// links"),
    ("not a url", ValueError, "only http:// and https://"),
    ("{server}/models/readme.txt", ValueError, "must be a plain name ending in .safetensors or .ckpt"),
    ("{server}/models/missing.safetensors", DownloadError, "answered 404"),
])
def test_bad_requests_get_clear_errors(server, tmp_path, url, error, message):
    with pytest.raises(error, match=message):
        download_checkpoint(DownloadRequest(url.format(server=server), tmp_path))


def test_an_existing_file_is_never_replaced(server, tmp_path):
    (tmp_path / "tiny.safetensors").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="already exists"):
        download_checkpoint(DownloadRequest(f"{server}/models/tiny.safetensors", tmp_path))
    assert (tmp_path / "tiny.safetensors").read_bytes() == b"mine"


def test_download_from_the_command_line(server, tmp_path, tiny_checkpoint):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, str(root / "app.py"), "download", f"{server}/models/tiny.safetensors",
               "--sha256", sha256(tiny_checkpoint.read_bytes()), "--data-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    saved = tmp_path / "models" / "Stable-diffusion" / "tiny.safetensors"
    assert saved.read_bytes() == tiny_checkpoint.read_bytes() and f"saved {saved}" in done.stdout
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "already exists" in again.stderr
