"""A1111's gallery 💾 Save: a copy of the chosen image in `log/images/` and a row in `log/log.csv` (prompt, seed,
size, sampler, CFG, steps, file name, negative prompt, model), written atomically."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from webui.config.atomic import write_atomically
from webui.infotext.paste import generation_parameters

LOG_FIELDS = ("prompt", "seed", "width", "height", "sampler", "cfgs", "steps", "filename", "negative_prompt",
              "sd_model_name", "sd_model_hash")


def save_to_log(image_path: Path, infotext: str, log_folder: Path) -> Path:
    """Copy the image into log/images (keeping its name, numbered if taken) and append its row to log.csv."""
    images = log_folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    target = images / image_path.name
    counter = 1
    while target.exists():
        target = images / f"{image_path.stem}-{counter}{image_path.suffix}"
        counter += 1
    shutil.copyfile(image_path, target)
    params = generation_parameters(infotext)
    row = [params.get("Prompt", ""), params.get("Seed", ""), params.get("Size-1", ""), params.get("Size-2", ""),
           params.get("Sampler", ""), params.get("CFG scale", ""), params.get("Steps", ""),
           f"images/{target.name}", params.get("Negative prompt", ""), params.get("Model", ""),
           params.get("Model hash", "")]
    log_file = log_folder / "log.csv"
    existing = log_file.read_text(encoding="utf-8") if log_file.exists() else ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not existing:
        writer.writerow(LOG_FIELDS)
    writer.writerow(row)
    data = (existing + buffer.getvalue()).encode("utf-8")
    write_atomically(log_file, lambda handle: handle.write(data))
    return target
