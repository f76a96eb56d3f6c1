"""k-diffusion's `sampling` and `external` modules, imported without running the package's `__init__`.

A1111 samples with k-diffusion (PyPI `k-diffusion==0.1.1.post1` holds the same `sampling.py` and `external.py` as
the commit A1111 1.6–1.10 pin). The package's `__init__` imports its training code (clean-fid, CLIP, kornia, wandb,
...), none of which sampling needs, so we load the two modules the way the import system would, under the package's
own name, with a package object whose `__init__` has not run. If something already imported the full package
(an extension that installed its deps, say), that one is used as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from types import ModuleType

PACKAGE = "k_diffusion"


@dataclass(frozen=True)
class KDiffusion:
    sampling: ModuleType
    external: ModuleType


def _package_without_init() -> ModuleType:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("k-diffusion is not installed: pip install --no-deps k-diffusion==0.1.1.post1 "
                          "(it is in requirements-nodeps.txt)")
    package = importlib.util.module_from_spec(spec)  # a package object with __path__; its __init__ is not run
    sys.modules[PACKAGE] = package
    return package


def load_kdiffusion() -> KDiffusion:
    """Import on first use (never at import time: it pulls scipy and torchsde)."""
    if PACKAGE not in sys.modules:
        _package_without_init()
    return KDiffusion(importlib.import_module(f"{PACKAGE}.sampling"), importlib.import_module(f"{PACKAGE}.external"))
