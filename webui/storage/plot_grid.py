"""The labelled grid of an X/Y/Z plot: column labels above, row labels on the left, one grid per Z value side by
side with its title, as A1111 draws them (black text on white margins, the font scaled to the image size)."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _wrapped(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def labelled_grid(cells: list[list[Image.Image]], column_labels: list[str], row_labels: list[str],
                  title: str = "") -> Image.Image:
    """`cells[row][column]` images of one size with their labels; empty labels leave no margin."""
    width, height = cells[0][0].size
    font = _font(max(12, width // 16))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_height = int(font.size * 1.3) if hasattr(font, "size") else 14
    has_columns, has_rows = any(column_labels), any(row_labels)
    top = (max(len(_wrapped(probe, label, font, width)) for label in column_labels) + 1) * line_height \
        if has_columns else 0
    widest = max((probe.textlength(label, font=font) for label in row_labels), default=0)
    left = int(min(max(width * 0.75, widest + 16), 2 * width)) if has_rows else 0
    title_height = 2 * line_height if title else 0
    columns, rows = len(cells[0]), len(cells)
    grid = Image.new("RGB", (left + columns * width, title_height + top + rows * height), "white")
    draw = ImageDraw.Draw(grid)
    if title:
        draw.text((grid.width // 2, line_height), title, fill="black", font=font, anchor="mm")
    for column, label in enumerate(column_labels if has_columns else []):
        for index, line in enumerate(_wrapped(draw, label, font, width)):
            draw.text((left + column * width + width // 2, title_height + (index + 1) * line_height), line,
                      fill="black", font=font, anchor="mm")
    for row, label in enumerate(row_labels if has_rows else []):
        lines = _wrapped(draw, label, font, left - 8)
        middle = title_height + top + row * height + height // 2 - (len(lines) - 1) * line_height // 2
        for index, line in enumerate(lines):
            draw.text((left // 2, middle + index * line_height), line, fill="black", font=font, anchor="mm")
    for row, images in enumerate(cells):
        for column, image in enumerate(images):
            grid.paste(image.convert("RGB").resize((width, height)),
                       (left + column * width, title_height + top + row * height))
    return grid


def side_by_side(grids: list[Image.Image], gap: int = 16) -> Image.Image:
    if len(grids) == 1:
        return grids[0]
    combined = Image.new("RGB", (sum(grid.width for grid in grids) + gap * (len(grids) - 1),
                                 max(grid.height for grid in grids)), "white")
    offset = 0
    for grid in grids:
        combined.paste(grid, (offset, 0))
        offset += grid.width + gap
    return combined
