"""Saving images the way A1111 does: folders, file names, atomic writes, infotext inside.

`outputs/txt2img-images/YYYY-MM-DD/NNNNN-SEED.png`: the date folder (`save_to_dirs`, pattern "[date]"), a 5-digit
sequence number one past the highest already in the folder, then the seed. Each file is written to a temporary
name and renamed, so a crash never leaves half an image under a real name; a full disk raises
`webui.errors.DiskFull` naming the folder, with no temporary file left (`stale_files` removes what a hard kill
leaves).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PIL import Image

from webui.config.atomic import disk_full_as_typed_error, write_atomically
from webui.infotext.png import png_bytes_with_infotext

LEADING_NUMBER = re.compile(r"^(\d+)")
GRID_PREFIXES = ("grid", "xyz_grid")
SUPPORTED_FORMATS = ("png",)


@dataclass(frozen=True)
class SaveOptions:
    folder: Path                 # e.g. <data>/outputs/txt2img-images
    save_to_dirs: bool = True    # add the YYYY-MM-DD subfolder
    embed_infotext: bool = True  # A1111's enable_pnginfo
    image_format: str = "png"

    def __post_init__(self) -> None:
        if self.image_format not in SUPPORTED_FORMATS:
            raise ValueError(f"image format {self.image_format!r} is not supported yet; allowed: "
                             f"{', '.join(SUPPORTED_FORMATS)}")


def encode_png(image: Image.Image, infotext: str, options: SaveOptions) -> bytes:
    """The PNG bytes we save and send (the API returns exactly what would be on disk)."""
    return png_bytes_with_infotext(image, infotext if options.embed_infotext else None)


def next_sequence_number(folder: Path, pattern: re.Pattern[str] = LEADING_NUMBER) -> int:
    """One past the largest leading number of any file in the folder (A1111's get_next_sequence_number)."""
    if not folder.is_dir():
        return 0
    numbers = [int(match.group(1)) for entry in folder.iterdir() if (match := pattern.match(entry.name))]
    return max(numbers, default=-1) + 1


def grid_rows(count: int, rows_setting: int = -1, batch_size: int = 1) -> int:
    """A1111's grid shape: `n_rows` > 0 as set, 0 = one row per batch, -1 = about square."""
    if rows_setting > 0:
        rows = rows_setting
    elif rows_setting == 0:
        rows = batch_size
    else:
        rows = max(1, round(count ** 0.5))
    return max(1, min(rows, count))


def image_grid(images: list[Image.Image], rows: int) -> Image.Image:
    """Images of equal size in `rows` rows, left to right then top to bottom (A1111's image_grid)."""
    columns = -(-len(images) // rows)
    width, height = images[0].size
    grid = Image.new("RGB", (columns * width, rows * height), "black")
    for index, image in enumerate(images):
        grid.paste(image.convert("RGB").resize((width, height)), (index % columns * width, index // columns * height))
    return grid


class ImageSaver:
    """Writes images; one lock keeps sequence numbers unique even if two jobs ever save at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def save(self, image: Image.Image, seed: int, infotext: str, options: SaveOptions,
             today: date | None = None) -> Path:
        return self.save_encoded(encode_png(image, infotext, options), seed, options, today)

    def save_encoded(self, payload: bytes, seed: int, options: SaveOptions, today: date | None = None) -> Path:
        """Write an already encoded image (see `encode_png`) under the next A1111 file name."""
        folder = options.folder / (today or date.today()).isoformat() if options.save_to_dirs else options.folder
        with self._lock, disk_full_as_typed_error(folder):
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{next_sequence_number(folder):05d}-{seed}.{options.image_format}"
            write_atomically(path, lambda stream: stream.write(payload))
        return path

    def save_grid(self, payload: bytes, options: SaveOptions, today: date | None = None, prefix: str = "grid") -> Path:
        """A grid as A1111 names it: grid-NNNN.png (xyz_grid-NNNN.png for a plot) in the grids folder."""
        if prefix not in GRID_PREFIXES:
            raise ValueError(f"grid prefix {prefix!r} is not one of {', '.join(GRID_PREFIXES)}")
        folder = options.folder / (today or date.today()).isoformat() if options.save_to_dirs else options.folder
        number = re.compile(rf"^{re.escape(prefix)}-(\d+)")
        with self._lock, disk_full_as_typed_error(folder):
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{prefix}-{next_sequence_number(folder, number):04d}.{options.image_format}"
            write_atomically(path, lambda stream: stream.write(payload))
        return path
