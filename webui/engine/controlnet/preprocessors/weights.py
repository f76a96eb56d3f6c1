"""Where annotator weights are looked for, so a user's existing files work unchanged.

A folder is searched in the extension's layout (`<folder>/<sub>/<file>`, its `annotator/downloads/hed/...`) and
flat (`<folder>/<file>`, as lllyasviel/Annotators ships them). Nothing is ever downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from webui.engine.controlnet.preprocessors.spec import Preprocessor


@dataclass(frozen=True)
class AnnotatorFolders:
    """The folders to search, first match wins (the caller passes models/ControlNet/annotator/ first, then
    extensions/sd-webui-controlnet/annotator/downloads/)."""

    folders: tuple[Path, ...]

    @classmethod
    def of(cls, folders: Sequence[Path]) -> AnnotatorFolders:
        return cls(tuple(Path(folder) for folder in folders))

    def find(self, sub: str, file: str) -> Path | None:
        for folder in self.folders:
            for candidate in ((folder / sub / file) if sub else None, folder / file):
                if candidate is not None and candidate.exists():
                    return candidate
        return None

    def resolve(self, preprocessor: Preprocessor) -> tuple[tuple[Path, ...], tuple[str, ...]]:
        """(found paths, missing file names) for the module's weights, in `needs_weights` order."""
        found: list[Path] = []
        missing: list[str] = []
        for file in preprocessor.needs_weights:
            path = self.find(preprocessor.weights_folder, file)
            if path is None:
                missing.append(file)
            else:
                found.append(path)
        return tuple(found), tuple(missing)

    def places_for(self, preprocessor: Preprocessor) -> tuple[str, ...]:
        """Human-readable folders a missing file may go in, most specific first."""
        sub = preprocessor.weights_folder
        return tuple(f"{folder / sub}/" if sub else f"{folder}/" for folder in self.folders)
