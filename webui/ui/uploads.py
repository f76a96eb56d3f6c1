"""Image inputs that say plainly when an upload is not a picture.

Gradio opens an uploaded file while preparing an event's inputs; a text file named `.png` then failed inside Gradio
with its own wording (component indexes, data types, the server's temporary path), at every later event that read
the image. `reject_non_images` checks each upload as it arrives instead (the raw upload, `preprocess=False`): a file
that is no picture is removed from the component and named in one warning — the user's own file name, nothing of
the server. The component then holds no image, so a later Generate says "upload an image first" and PNG Info
clears the previous image's parameters.
"""

from __future__ import annotations

from pathlib import Path, PurePath

import gradio as gr
from PIL import Image, UnidentifiedImageError

UNREADABLE = (UnidentifiedImageError, OSError, ValueError, SyntaxError)  # what PIL raises for a non-image
FORMATS = "PNG, JPEG, WebP, BMP, GIF or TIFF"


def not_an_image_message(label: str | None, name: str | None) -> str:
    shown = f"'{PurePath(name).name}'" if name else "the uploaded file"
    return f"{label or 'Image'}: {shown} is not an image that can be opened (use a {FORMATS} file)"


def uploaded_file(component: gr.Image | gr.ImageEditor, payload) -> tuple[str | None, str | None]:
    """(server path, the user's file name) of a raw gr.Image upload, or of a gr.ImageEditor's background. A raw
    payload comes from the browser unchecked (`preprocess=False` skips Gradio's check), so only a file inside
    Gradio's upload cache is accepted: never a path a client made up."""
    if not isinstance(payload, dict):
        return None, None
    if isinstance(payload.get("background"), dict):
        payload = payload["background"]
    path, name = payload.get("path"), payload.get("orig_name")
    if not isinstance(path, str) or not path:
        return None, None
    cache = Path(component.GRADIO_CACHE).resolve()
    return (path, name) if Path(path).resolve().is_relative_to(cache) else (None, None)


def is_readable_image(path: str) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except UNREADABLE:
        return False


def reject_non_images(component: gr.Image | gr.ImageEditor) -> None:
    """On upload: a file that PIL cannot open is taken out again, with one warning naming it."""
    label = component.label

    def check(payload):
        path, name = uploaded_file(component, payload)
        if path is None or is_readable_image(path):
            return gr.skip()
        gr.Warning(not_an_image_message(label, name))
        return None

    component.upload(check, inputs=[component], outputs=[component], preprocess=False, show_progress="hidden")
