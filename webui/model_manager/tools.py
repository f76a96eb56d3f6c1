"""Checkpoint tools behind the UI tab and (later) the API: merge, convert, download, by checkpoint name.

Each resolves names through the model manager, writes into the checkpoint folder under a new file name (never
over a file that may be memory-mapped), and refreshes the checkpoint list so the result shows up at once.
"""

from __future__ import annotations

from pathlib import Path

from webui.model_manager.convert import ConversionReport, convert_checkpoint
from webui.model_manager.download import DownloadProgress, DownloadRequest, download_checkpoint
from webui.model_manager.manager import ModelManager
from webui.model_manager.merge import MERGE_METHODS, MergeProgress, MergeRequest, merge_checkpoints


def default_merge_name(primary: str, secondary: str, tertiary: str | None, method: str, multiplier: float) -> str:
    """A1111's naming: <A>_<1-M>-<B>_<M>-<Method>-merged (with C added when it is used)."""
    parts = f"{primary}_{round(1 - multiplier, 2)}-{secondary}_{round(multiplier, 2)}"
    if tertiary:
        parts += f"-{tertiary}"
    return f"{parts}-{method.replace(' ', '_')}-merged"


class CheckpointTools:
    def __init__(self, models: ModelManager, folder: Path) -> None:
        self._models = models
        self._folder = folder

    def merge(self, primary: str, secondary: str, tertiary: str | None, method: str,
              multiplier: float, custom_name: str = "", vae: Path | None = None,
              progress: MergeProgress | None = None) -> Path:
        """Merge checkpoints named by any alias into models/Stable-diffusion; the list is refreshed after."""
        a, b = self._models.find(primary), self._models.find(secondary)
        method_spec = MERGE_METHODS.get(method)
        c = self._models.find(tertiary) if tertiary and method_spec and method_spec.needs_tertiary else None
        name = default_merge_name(a.model_name, b.model_name, c.model_name if c else None, method, multiplier)
        destination = self._new_checkpoint_path(custom_name or name)
        merge_checkpoints(MergeRequest(a.path, b.path, c.path if c else None, method, multiplier, destination, vae),
                          progress=progress)
        self._models.refresh()
        return destination

    def download(self, url_or_known: str, sha256: str | None = None,
                 progress: DownloadProgress | None = None) -> Path:
        """Fetch a checkpoint into models/Stable-diffusion on the user's request (a URL or a built-in key)."""
        path = download_checkpoint(DownloadRequest.for_source(url_or_known, self._folder, sha256=sha256), progress)
        self._models.refresh()
        return path

    def convert(self, query: str) -> ConversionReport:
        report = convert_checkpoint(self._models.find(query).path)
        self._models.refresh()
        return report

    def _new_checkpoint_path(self, name: str) -> Path:
        name = name.strip()
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"checkpoint name {name!r} must be a plain file name (no folders, not starting with '.')")
        return self._folder / f"{name.removesuffix('.safetensors')}.safetensors"
