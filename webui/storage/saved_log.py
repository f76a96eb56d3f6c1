"""A1111's gallery 💾 Save: a copy of the chosen image in `log/images/` and a row in `log/log.csv` (prompt, seed,
size, sampler, CFG, steps, file name, negative prompt, model), written atomically. A full disk raises
`webui.errors.DiskFull` naming the log folder and leaves neither a partial copy nor a temporary file."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import IO

from webui.config.atomic import disk_full_as_typed_error, write_atomically
from webui.infotext.paste import generation_parameters

LOG_FIELDS = ("prompt", "seed", "width", "height", "sampler", "cfgs", "steps", "filename", "negative_prompt",
              "sd_model_name", "sd_model_hash")


def save_to_log(image_path: Path, infotext: str, log_folder: Path) -> Path:
    """Copy the image into log/images (keeping its name, numbered if taken) and append its row to log.csv."""
    with disk_full_as_typed_error(log_folder):
        target = _copy_into_log(image_path, log_folder / "images")
        try:
            _append_row(target, infotext, log_folder / "log.csv")
        except BaseException:
            target.unlink(missing_ok=True)  # no image without its row
            raise
    return target


def _copy_into_log(image_path: Path, images: Path) -> Path:
    images.mkdir(parents=True, exist_ok=True)
    target = images / image_path.name
    counter = 1
    while target.exists():
        target = images / f"{image_path.stem}-{counter}{image_path.suffix}"
        counter += 1

    def copy(handle: IO[bytes]) -> None:
        with image_path.open("rb") as source:
            shutil.copyfileobj(source, handle)

    write_atomically(target, copy)  # a full disk mid-copy leaves no partial image behind
    return target


def _append_row(target: Path, infotext: str, log_file: Path) -> None:
    params = generation_parameters(infotext)
    row = [params.get("Prompt", ""), params.get("Seed", ""), params.get("Size-1", ""), params.get("Size-2", ""),
           params.get("Sampler", ""), params.get("CFG scale", ""), params.get("Steps", ""),
           f"images/{target.name}", params.get("Negative prompt", ""), params.get("Model", ""),
           params.get("Model hash", "")]
    existing = log_file.read_text(encoding="utf-8") if log_file.exists() else ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not existing:
        writer.writerow(LOG_FIELDS)
    writer.writerow(row)
    data = (existing + buffer.getvalue()).encode("utf-8")
    write_atomically(log_file, lambda handle: handle.write(data))
