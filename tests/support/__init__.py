"""Helpers shared by the tests."""

import shutil
from pathlib import Path


def copy_checkpoint(source: Path, destination: Path) -> Path:
    """Copy an A1111 checkpoint and the `<name>.yaml` that describes its architecture."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, destination)
    shutil.copy(source.with_suffix(".yaml"), destination.with_suffix(".yaml"))
    return destination
