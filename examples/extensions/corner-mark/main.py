"""corner-mark: an example Kestrel extension (API version 2). Copy this folder into your data dir's `extensions/`
and restart. It imports nothing of Kestrel but `webui.extensions.api`.

- a setting (Settings → Corner mark): the mark's size in pixels, 0 to turn it off;
- a post-processor that paints that square in the top-left corner of every generated image and writes
  "Corner mark: <size>" into the image's infotext (so into the saved PNG). In Extras it does nothing.
"""

from __future__ import annotations

from webui.extensions import api

SIZE = "corner_mark_size"
COLOUR = (255, 0, 255)


def mark_corner(ctx: api.ExtensionContext) -> api.PostprocessStep:
    def step(target: api.PostprocessInput) -> api.PostprocessResult | None:
        size = int(ctx.setting(SIZE))
        if target.generation is None or size <= 0:
            return None  # Extras, or turned off: leave the image as it is
        image = target.image.copy()  # never modify the image you were given
        image.paste(COLOUR, (0, 0, min(size, image.width), min(size, image.height)))
        return api.PostprocessResult(image, (("Corner mark", size),))
    return step


def setup(ctx: api.ExtensionContext) -> None:
    ctx.add_setting(SIZE, 8, "Size of the corner mark in pixels (0 = off)", section="Corner mark",
                    component="slider", minimum=0, maximum=64, step=1)
    ctx.add_postprocessor("mark", mark_corner(ctx))
