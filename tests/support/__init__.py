"""Helpers shared by the tests."""

import shutil
from pathlib import Path


def copy_checkpoint(source: Path, destination: Path) -> Path:
    """Copy an A1111 checkpoint and the `<name>.yaml` that describes its architecture."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, destination)
    shutil.copy(source.with_suffix(".yaml"), destination.with_suffix(".yaml"))
    return destination


def api_test_client(data: Path):
    """A started App on `data` (with --api) and a TestClient on its HTTP app, as a generator for module fixtures;
    the client carries the App as `app_context`."""
    from fastapi.testclient import TestClient

    from webui.api.server import create_http_app
    from webui.app_context import build_app
    from webui.config.flags import CommandLineOptions

    app = build_app(CommandLineOptions(data_dir=data, api=True, device="cpu"), default_data_dir=data)
    app.start()
    with TestClient(create_http_app(app)) as test_client:
        test_client.app_context = app
        yield test_client
    app.stop()


def a1111_post(url: str, payload: dict):
    """POST an A1111 txt2img/img2img payload to a real server: (the images, the parsed `info`); 200 asserted."""
    import base64
    import io
    import json

    import requests
    from PIL import Image

    response = requests.post(url, json=payload, timeout=120)
    assert response.status_code == 200, response.text
    body = response.json()
    return [Image.open(io.BytesIO(base64.b64decode(image))) for image in body["images"]], json.loads(body["info"])
