"""`--listen` without credentials: an admin password is generated, printed once, and required everywhere."""

from starlette.testclient import TestClient

from tests.support import copy_checkpoint
from webui.api.server import create_http_app, secure
from webui.app_context import build_app
from webui.config.flags import parse_flags


def test_listen_generates_an_admin_password_and_the_api_requires_it(tmp_path, tiny_checkpoint, capsys):
    folder = tmp_path / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, folder / "tiny.safetensors")
    options = parse_flags(["--listen", "--api", "--data-dir", str(tmp_path)])
    app = build_app(options, default_data_dir=tmp_path)
    try:
        printed = capsys.readouterr().out
        password = printed.split("Password: ")[1].split()[0]
        assert password not in (tmp_path / "auth.json").read_text()
        with TestClient(secure(create_http_app(app), app, file_roots=(tmp_path / "cache",))) as http:
            assert http.get("/sdapi/v1/sd-models").status_code == 401
            assert http.get("/sdapi/v1/sd-models", auth=("admin", "wrong")).status_code == 401
            assert http.get("/sdapi/v1/sd-models", auth=("admin", password)).status_code == 200
            assert http.get("/internal/ping").json() == {"status": "ok", "checkpoint": None}
    finally:
        app.stop()

def test_insecure_no_auth_is_open_and_says_so(tmp_path, tiny_checkpoint, caplog):
    folder = tmp_path / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, folder / "tiny.safetensors")
    app = build_app(parse_flags(["--listen", "--api", "--insecure-no-auth", "--data-dir", str(tmp_path)]),
                    default_data_dir=tmp_path)
    try:
        assert "--insecure-no-auth" in caplog.text
        with TestClient(secure(create_http_app(app), app, file_roots=(tmp_path / "cache",))) as http:
            assert http.get("/sdapi/v1/sd-models").status_code == 200
    finally:
        app.stop()
