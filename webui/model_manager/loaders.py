"""The loader registry: how the weights of each kind of model file are read, keyed by (kind, architecture, format).

One registration per key, and a duplicate raises, so a new kind of model is one `register` call rather than a
branch in every library: ControlNet files will be `Loader(LoaderKey("controlnet", "sd1", "safetensors"), ...)`,
a face restorer `Loader(LoaderKey("face_restorer", ANY_ARCHITECTURE, "pickle"), ...)`. A loader only *reads*
(safely: safetensors after a header check, pickles weights-only); turning the weights into a module stays with
the kind's library (the model manager, the upscaler library, ...), which knows how to build and cache it.

`ANY_ARCHITECTURE` is for kinds whose file does not say (a VAE, a LoRA, an embedding, an upscaler: spandrel
recognises the architecture from the weights). A lookup tries the exact architecture, then `ANY_ARCHITECTURE`,
and a miss names every key registered for that kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from webui.model_manager.checkpoint_files import SAFETENSORS_READER, CheckpointReaders, StateDict, load_pickle_object
from webui.model_manager.safetensors_header import CheckpointFormatError

ANY_ARCHITECTURE = "any"
FILE_FORMATS = {".safetensors": "safetensors", ".ckpt": "pickle", ".pt": "pickle", ".pth": "pickle",
                ".bin": "pickle"}
SD1_ARCHITECTURES = ("sd1", "sd1-inpaint")


@dataclass(frozen=True)
class LoaderKey:
    kind: str           # "checkpoint", "vae", "lora", "embedding", "upscaler" (later "controlnet", ...)
    architecture: str   # a probe's architecture name ("sd1", ...), or ANY_ARCHITECTURE
    file_format: str    # "safetensors" or "pickle"

    def __str__(self) -> str:
        return f"{self.kind}/{self.architecture}/{self.file_format}"


@dataclass(frozen=True)
class Loader:
    key: LoaderKey
    read: Callable[[Path], object]  # the file's weights: a state dict, or for pickles the unpickled object
    description: str = ""


class LoaderNotFoundError(LookupError):
    """No loader for a (kind, architecture, format); the message lists what is registered."""


def file_format_of(path: Path) -> str:
    try:
        return FILE_FORMATS[path.suffix.lower()]
    except KeyError:
        allowed = ", ".join(sorted(FILE_FORMATS))
        raise CheckpointFormatError(f"{path.name}: unsupported file type; allowed: {allowed}") from None


class LoaderRegistry:
    """Thread-safe for lookups once built (registration happens at start, before any lookup)."""

    def __init__(self, loaders: Iterable[Loader] = ()) -> None:
        self._loaders: dict[LoaderKey, Loader] = {}
        for loader in loaders:
            self.register(loader)

    def register(self, loader: Loader) -> None:
        if loader.key in self._loaders:
            raise ValueError(f"a loader for {loader.key} is already registered "
                             f"({self._loaders[loader.key].description or 'no description'})")
        self._loaders[loader.key] = loader

    def registered(self) -> list[LoaderKey]:
        return list(self._loaders)

    def lookup(self, kind: str, architecture: str, file_format: str) -> Loader:
        for wanted in (LoaderKey(kind, architecture, file_format), LoaderKey(kind, ANY_ARCHITECTURE, file_format)):
            if wanted in self._loaders:
                return self._loaders[wanted]
        registered = ", ".join(sorted(str(key) for key in self._loaders if key.kind == kind)) or \
            f"none for {kind!r}; kinds: {', '.join(sorted({key.kind for key in self._loaders}))}"
        raise LoaderNotFoundError(f"no loader for {kind}/{architecture}/{file_format}; registered: {registered}")

    def read(self, kind: str, path: Path, architecture: str = ANY_ARCHITECTURE) -> object:
        """The weights of `path` as the loader for its kind, architecture and format reads them."""
        return self.lookup(kind, architecture, file_format_of(path)).read(path)

    def state_dict(self, kind: str, path: Path, architecture: str = ANY_ARCHITECTURE) -> StateDict:
        """`read` for the kinds whose loaders give a flat state dict (checkpoint, VAE, LoRA)."""
        loaded = self.read(kind, path, architecture)
        if not isinstance(loaded, Mapping):
            raise CheckpointFormatError(f"{path.name}: holds a {type(loaded).__name__}, not a state dict of tensors")
        return dict(loaded)


def default_loaders(readers: CheckpointReaders | None = None) -> LoaderRegistry:
    """Today's loaders: SD 1.x checkpoints, VAEs and LoRAs as state dicts (through `readers`), embeddings and
    upscalers as state dicts or, for pickles, the weights-only unpickled object (they nest their tensors)."""
    readers = readers or CheckpointReaders()
    state_dict = readers.read_state_dict
    registry = LoaderRegistry()
    for file_format in ("safetensors", "pickle"):
        for architecture in SD1_ARCHITECTURES:
            registry.register(Loader(LoaderKey("checkpoint", architecture, file_format), state_dict,
                                     "an A1111 SD 1.x single file, as a flat state dict"))
        for kind in ("vae", "lora"):
            registry.register(Loader(LoaderKey(kind, ANY_ARCHITECTURE, file_format), state_dict,
                                     f"a {kind} file, as a flat state dict"))
    registry.register(Loader(LoaderKey("embedding", ANY_ARCHITECTURE, "safetensors"), state_dict,
                             "a textual-inversion embedding's tensors"))
    registry.register(Loader(LoaderKey("embedding", ANY_ARCHITECTURE, "pickle"), load_pickle_object,
                             "an A1111 .pt embedding (string_to_param nests the vectors)"))
    registry.register(Loader(LoaderKey("upscaler", ANY_ARCHITECTURE, "safetensors"), SAFETENSORS_READER.read_state_dict,
                             "an upscaler's state dict; spandrel recognises the architecture"))
    registry.register(Loader(LoaderKey("upscaler", ANY_ARCHITECTURE, "pickle"), load_pickle_object,
                             "a .pth upscaler (often nested under params/params_ema), weights-only"))
    return registry
