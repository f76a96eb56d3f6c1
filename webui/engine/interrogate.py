"""Interrogate (A1111's "Interrogate CLIP" / "Interrogate DeepBooru" and `POST /sdapi/v1/interrogate`): which
model files each needs, where A1111 keeps them, and a clear refusal when they are not there.

A1111 v1.10's files:
- CLIP interrogation = a BLIP caption (`models/BLIP/model_base_caption_capfilt_large.pth`) plus CLIP ViT-L/14
  (`ViT-L-14.pt`, which A1111 keeps in `--clip-models-path`; here `models/CLIP/`) ranking the category lists in
  `interrogate/` (`artists.txt`, `flavors.txt`, `mediums.txt`, `movements.txt`).
- DeepBooru = `models/torch_deepdanbooru/model-resnet_custom_v3.pt` (its tag list is stored inside the file).

Kestrel never downloads them (A1111 does on first use): a missing file is a 422 naming it and its folder. This
module holds the names, the files and the errors; `interrogators.py` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from webui.errors import KestrelError
from webui.model_manager.deepbooru_model import DEEPBOORU_FILE, DEEPBOORU_FOLDER, find_deepbooru_file

CLIP, DEEPBOORU = "clip", "deepdanbooru"
MODELS = (CLIP, DEEPBOORU)
CATEGORY_FILES = ("artists.txt", "flavors.txt", "mediums.txt", "movements.txt")


class InterrogateModelMissing(KestrelError, LookupError):
    """The interrogator's files are not installed; the message lists each file and its folder."""

    http_status = 422

    def __init__(self, model: str, missing: list[Path]) -> None:
        listed = "; ".join(f"{path.name} in {path.parent}" for path in missing)
        super().__init__(f"interrogate with {model} needs files that are not installed: {listed} "
                         "(Kestrel never downloads them; copy them from an A1111 install)")
        self.model = model
        self.missing = tuple(missing)


class InterrogatorNotBuilt(KestrelError):
    """Every file is there but Kestrel cannot run this interrogator yet (501: the server lacks the feature)."""

    http_status = 501


class UnknownInterrogator(KestrelError, LookupError):
    http_status = 404  # A1111 answers 404 "Model not found"

    def __init__(self, model: str) -> None:
        super().__init__(f"model {model!r} not found; allowed: {', '.join(MODELS)}")


@dataclass(frozen=True)
class InterrogateFiles:
    """The data directory's layout for the interrogators."""

    root: Path

    def needed(self, model: str) -> list[Path]:
        models = self.root / "models"
        if model == CLIP:
            return [models / "BLIP" / "model_base_caption_capfilt_large.pth", models / "CLIP" / "ViT-L-14.pt",
                    *(self.root / "interrogate" / name for name in CATEGORY_FILES)]
        if model == DEEPBOORU:
            return [models / DEEPBOORU_FOLDER / DEEPBOORU_FILE]
        raise UnknownInterrogator(model)

    def missing(self, model: str) -> list[Path]:
        if model == DEEPBOORU:  # A1111 takes any .pt in its folder (find_deepbooru_file), the release's name first
            return [] if find_deepbooru_file(self.root / "models") is not None else self.needed(model)
        return [path for path in self.needed(model) if not path.is_file()]
