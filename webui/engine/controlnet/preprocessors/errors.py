"""The errors a preprocessor request can end in, each naming what the caller can fix (pure: no numpy, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

from webui.errors import KestrelError


class UnknownPreprocessor(KestrelError, LookupError):
    """A unit or /controlnet/detect named a module that is not in the extension's list (422, as the extension's
    'Module not available'); the message names the bad value and lists the modules there are."""

    http_status = 422
    field = "module"

    def __init__(self, name: str, available: Sequence[str]) -> None:
        super().__init__(f"module {name!r} not found; available modules: {', '.join(available)}")
        self.name = name
        self.available = tuple(available)


class AnnotatorWeightsMissing(KestrelError, FileNotFoundError):
    """The module is a real one but its annotator network's weights are not on this machine.

    409 Conflict rather than 422: the request is well formed and names a valid module; it conflicts with what is
    installed, and the same request succeeds unchanged once the user puts the file in place (Kestrel never downloads
    it, where the extension would have). The message names every missing file and every folder that is searched."""

    http_status = 409
    field = "module"

    def __init__(self, module: str, files: Sequence[str], folders: Sequence[str], note: str = "") -> None:
        where = " or ".join(folders) if folders else "models/ControlNet/annotator/"
        listed = ", ".join(files)
        super().__init__(f"module {module!r} needs the annotator weights {listed}, which are not installed "
                         f"(Kestrel downloads nothing); put {'it' if len(files) == 1 else 'them'} in {where}{note}")
        self.module = module
        self.files = tuple(files)
        self.folders = tuple(folders)


class PreprocessorUnsupported(KestrelError, NotImplementedError):
    """A module the extension lists (so its name is valid) that Kestrel cannot run: its network is not implemented
    here, it returns an embedding rather than an image (CLIP vision, InsightFace), or it needs a package Kestrel does
    not ship (mediapipe). 422 with the reason and the modules that do run."""

    http_status = 422
    field = "module"

    def __init__(self, module: str, reason: str, runnable: Sequence[str]) -> None:
        super().__init__(f"module {module!r} cannot run in Kestrel: {reason}; modules that run here: "
                         f"{', '.join(runnable)}")
        self.module = module
        self.reason = reason
