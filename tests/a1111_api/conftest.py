"""A1111's own API tests (its test/ folder), ported: the same payloads and assertions, our own code, against a real
server (`app.py --api` with the UI mounted, one per module) on the tiny model. A1111's fixtures are rebuilt
here: `base_url`, and the init image and mask (synthetic, 64 px) as base64."""

import base64
import io

import pytest
from PIL import Image, ImageDraw

from tests.support import copy_checkpoint


def _base64_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture(scope="module")
def a1111_server(tmp_path_factory, tiny_checkpoint, start_module_server):
    data = tmp_path_factory.mktemp("a1111-api-data")
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anything-tiny.safetensors")
    return start_module_server(data, "--api")


@pytest.fixture(scope="module")
def base_url(a1111_server) -> str:
    return a1111_server.url


@pytest.fixture(scope="module")
def img2img_basic_image_base64() -> str:
    image = Image.new("RGB", (64, 64), (90, 140, 200))
    ImageDraw.Draw(image).ellipse((16, 16, 48, 48), fill=(240, 200, 80))
    return _base64_png(image)


@pytest.fixture(scope="module")
def mask_basic_image_base64() -> str:
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 31, 63), fill=255)
    return _base64_png(mask)
