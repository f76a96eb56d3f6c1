"""Interrogate (A1111's "Interrogate CLIP" / "Interrogate DeepBooru" and `POST /sdapi/v1/interrogate`): which
model files each needs, where A1111 keeps them, and a clear refusal when they are not there.

A1111 v1.10's files:
- CLIP interrogation = a BLIP caption (`models/BLIP/model_base_caption_capfilt_large.pth`, with BERT's
  `bert-base-uncased` vocabulary) plus CLIP ViT-L/14 (`ViT-L-14.pt`, in `--clip-models-path`, else `models/CLIP/`
  or `~/.cache/clip`) ranking the category lists in `interrogate/` (`artists.txt`, `flavors.txt`, ...).
- DeepBooru = `models/torch_deepdanbooru/model-resnet_custom_v3.pt` (its tag list is stored inside the file).

Kestrel never downloads them (A1111 does on first use): a missing file is a 422 naming it and its folder. This
module holds the names, the folders and the errors; `interrogators.py` checks and runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from webui.errors import KestrelError

CLIP, DEEPBOORU = "clip", "deepdanbooru"
MODELS = (CLIP, DEEPBOORU)


class InterrogateModelMissing(KestrelError, LookupError):
    """The interrogator's files are not installed; the message lists each file and its folder."""

    http_status = 422

    def __init__(self, model: str, missing: list[Path]) -> None:
        listed = "; ".join(f"{path.name} in {path.parent}" for path in missing)
        super().__init__(f"interrogate with {model} needs files that are not installed: {listed} "
                         "(Kestrel never downloads them; copy them from an A1111 install)")
        self.model = model
        self.missing = tuple(missing)


class UnknownInterrogator(KestrelError, LookupError):
    http_status = 404  # A1111 answers 404 "Model not found"

    def __init__(self, model: str) -> None:
        super().__init__(f"model {model!r} not found; allowed: {', '.join(MODELS)}")


@dataclass(frozen=True)
class InterrogateFiles:
    """Where the interrogators' files are: the data directory, A1111's `--clip-models-path` (None: models/CLIP)
    and the folder A1111 downloads CLIP to without the flag (the clip package's `~/.cache/clip`), looked in after
    it. Each interrogator kind lists its own missing files from these (interrogators.py)."""

    root: Path
    clip_models: Path | None = None
    clip_cache: Path | None = None

    @property
    def models(self) -> Path:
        return self.root / "models"
