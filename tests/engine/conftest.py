"""Engine test fixtures shared by several modules."""

import pytest
from PIL import Image, ImageDraw


@pytest.fixture(scope="module")
def init_image():
    image = Image.new("RGB", (64, 64), (30, 90, 200))
    ImageDraw.Draw(image).ellipse((16, 16, 48, 48), fill=(240, 200, 40))
    return image
