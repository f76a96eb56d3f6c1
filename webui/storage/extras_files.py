"""Where the Extras tab's images go, named as A1111 names them (`modules/postprocessing.py`).

`outputs/extras-images/NNNNN.png` — no date folder and no seed (A1111 saves Extras with `no_prompt`), the 5-digit
number one past the highest in the folder. A batch keeps each source's file name when `use_original_name_batch` is
on, as in A1111; where A1111 would overwrite a file of that name, we add `-1`, `-2`, ... instead. Writes are atomic.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from webui.config.atomic import disk_full_as_typed_error, write_atomically
from webui.storage.outputs import next_sequence_number

UNSAFE_NAME_CHARACTERS = re.compile(r"[\\/:*?\"<>|\x00-\x1f]")


class ExtrasSaver:
    def __init__(self) -> None:
        self._lock = threading.Lock()

    def save(self, payload: bytes, folder: Path, original_name: str | None = None) -> Path:
        with self._lock, disk_full_as_typed_error(folder):  # a full disk: DiskFull(folder), no temp file left
            folder.mkdir(parents=True, exist_ok=True)
            path = self._free_path(folder, original_name)
            write_atomically(path, lambda stream: stream.write(payload))
        return path

    @staticmethod
    def _free_path(folder: Path, original_name: str | None) -> Path:
        stem = UNSAFE_NAME_CHARACTERS.sub("_", Path(original_name).stem).strip(" .") if original_name else ""
        if not stem:
            return folder / f"{next_sequence_number(folder):05d}.png"
        path = folder / f"{stem}.png"
        counter = 1
        while path.exists():
            path = folder / f"{stem}-{counter}.png"
            counter += 1
        return path
