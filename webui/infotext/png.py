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


EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
_COMMENT_CODECS = {b"UNICODE\x00": "utf_16_be", b"ASCII\x00\x00\x00": "ascii", b"JIS\x00\x00\x00\x00\x00": "shift_jis"}


def _user_comment(image: Image.Image) -> str | None:
    """JPEG/WebP: A1111 stores the infotext as the EXIF UserComment (8-byte charset prefix, then the text)."""
    raw = image.getexif().get_ifd(EXIF_IFD).get(USER_COMMENT)
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes) or len(raw) < 8:
        return None
    codec = _COMMENT_CODECS.get(raw[:8])
    body = raw[8:]
    if codec == "utf_16_be" and body[:2] == b"\xff\xfe":
        codec = "utf_16"  # some writers put a byte-order mark and little-endian text
    try:
        return body.decode(codec or "utf-8", errors="strict").rstrip("\x00")
    except (UnicodeDecodeError, LookupError):
        return None


def image_text_items(image: Image.Image) -> dict[str, str]:
    """Every text item of an image, "parameters" first: PNG chunks, or the EXIF UserComment of a JPEG/WebP."""
    items = {key: value for key, value in getattr(image, "text", {}).items() if isinstance(value, str)}
    if PARAMETERS_KEY not in items:
        comment = _user_comment(image)
        if comment:
            items[PARAMETERS_KEY] = comment
    ordered = {PARAMETERS_KEY: items.pop(PARAMETERS_KEY)} if PARAMETERS_KEY in items else {}
    return {**ordered, **items}


POSTPROCESSING_KEY = "postprocessing"   # A1111's Extras write their infotext under both keys
EXTRAS_KEY = "extras"


def png_bytes_with_text_chunks(image: Image.Image, chunks: dict[str, str]) -> bytes:
    """Encode `image` as PNG with these text chunks, in order (A1111's Extras keep the source's chunks)."""
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
