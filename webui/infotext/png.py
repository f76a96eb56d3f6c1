"""The infotext inside image files: PNG "parameters" text chunk (as A1111 writes and reads it)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, PngImagePlugin

PARAMETERS_KEY = "parameters"


def png_bytes_with_infotext(image: Image.Image, infotext: str | None) -> bytes:
    """Encode `image` as PNG carrying `infotext` in the "parameters" chunk (none when infotext is None)."""
    info = PngImagePlugin.PngInfo()
    if infotext is not None:
        info.add_text(PARAMETERS_KEY, infotext)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_png_text_chunks(path: Path) -> dict[str, str]:
    """All text chunks of a PNG (tEXt, zTXt, iTXt), e.g. {"parameters": "..."}."""
    with Image.open(path) as image:
        image.load()
        return {key: value for key, value in getattr(image, "text", {}).items() if isinstance(value, str)}


def read_infotext(path: Path) -> str | None:
    return read_png_text_chunks(path).get(PARAMETERS_KEY)
