"""Read the CLIP interrogator's weight files without ever running code from them.

Two formats reach us from an A1111 install:
- `models/BLIP/model_base_caption_capfilt_large.pth`: Salesforce's `torch.save` pickle, `{"model": state dict}`;
  read with `torch.load(weights_only=True)` (through `checkpoint_files.load_pickle_object`).
- `ViT-L-14.pt`: OpenAI's TorchScript archive. `torch.jit.load` would run the archive's code, so we never call
  it: its `data.pkl` is unpickled here by an unpickler that knows only torch's tensor-rebuild functions and storage
  types, and records each scripted module (a `__torch__.*` class) as a plain attribute dict. Any other global is
  refused naming the file. The tensors are then flattened to OpenAI's state-dict keys.
A plain OpenAI-layout state dict (`.pt`/`.pth` pickle or `.safetensors`) is read through the project's readers.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from webui.errors import CheckpointRefused
from webui.model_manager.checkpoint_files import CheckpointReaders, StateDict, load_pickle_object
from webui.model_manager.safetensors_header import CheckpointFormatError

MAX_PROGRAM_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64

STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


class InterrogateWeightsRefused(CheckpointRefused):
    """An interrogator weight file cannot be used (unsafe, corrupt, or another architecture); 422 naming it."""


class _ScriptObject:
    """What a `__torch__.*` module becomes: its pickled attributes, nothing else (no method of it ever runs)."""

    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}

    def __setstate__(self, state: object) -> None:
        self.attributes = dict(state) if isinstance(state, Mapping) else {}


def _identity(value: object, *_rest: object) -> object:
    return value


def _rebuild_parameter(data: torch.Tensor, _requires_grad: bool, _hooks: object) -> torch.Tensor:
    return data


class _SafeArchiveUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript `data.pkl`: tensors come from the archive's `data/<key>` records."""

    def __init__(self, archive: zipfile.ZipFile, prefix: str, source: Path) -> None:
        super().__init__(io.BytesIO(archive.read(f"{prefix}data.pkl")))
        self._archive = archive
        self._prefix = prefix
        self._source = source
        self._storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "__torch__" or module.startswith("__torch__."):
            return _ScriptObject
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        allowed: dict[tuple[str, str], Callable[..., Any]] = {
            ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("collections", "OrderedDict"): OrderedDict,
            ("torch.jit._pickle", "restore_type_tag"): _identity,
            **{("torch.jit._pickle", f"build_{kind}list"): _identity
               for kind in ("int", "double", "bool", "tensor", "float")},
        }
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise InterrogateWeightsRefused(str(self._source), f"refused: the archive asks for {module}.{name}, which "
                                        "is not a tensor; only weights are ever read from this file")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise InterrogateWeightsRefused(str(self._source), f"refused: unknown persistent record {pid!r:.80}")
        _, dtype, key, _location, numel = pid
        if not isinstance(dtype, torch.dtype) or not isinstance(key, str) or not isinstance(numel, int):
            raise InterrogateWeightsRefused(str(self._source), "refused: malformed tensor storage record")
        if key not in self._storages:
            raw = bytearray(self._archive.read(f"{self._prefix}data/{key}"))
            flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            if flat.numel() != numel:
                raise InterrogateWeightsRefused(str(self._source), f"storage {key} holds {flat.numel()} values, "
                                                f"the archive says {numel}: the file is corrupt or truncated")
            self._storages[key] = flat
        return self._storages[key]

    def _rebuild_tensor(self, storage: torch.Tensor, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                        *_rest: object) -> torch.Tensor:
        extent = offset + sum((length - 1) * step for length, step in zip(size, stride, strict=True) if length)
        if any(length == 0 for length in size):
            return storage.new_empty(size)
        if offset < 0 or extent >= storage.numel():
            raise InterrogateWeightsRefused(str(self._source), "refused: a tensor reaches past its storage")
        return storage.as_strided(size, stride, offset)


def torchscript_prefix(path: Path) -> str | None:
    """The archive's top folder (`ViT-L-14/`) when the file is a TorchScript archive (it holds `code/` and
    `constants.pkl` beside `data.pkl`), else None."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    programs = [name for name in names if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(programs) != 1:
        return None
    prefix = programs[0][:-len("data.pkl")]
    scripted = any(name.startswith(f"{prefix}code/") for name in names) or f"{prefix}constants.pkl" in names
    return prefix if scripted else None


def read_torchscript_tensors(path: Path) -> StateDict:
    """Every tensor attribute of a TorchScript archive's module tree, keyed by its dotted path."""
    prefix = torchscript_prefix(path)
    if prefix is None:
        raise InterrogateWeightsRefused(str(path), "not a TorchScript archive")
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.getinfo(f"{prefix}data.pkl").file_size > MAX_PROGRAM_BYTES:
                raise InterrogateWeightsRefused(str(path), "refused: its pickle program is far larger than a "
                                                "model's, so the file carries something else")
            root = _SafeArchiveUnpickler(archive, prefix, path).load()
    except (pickle.UnpicklingError, zipfile.BadZipFile, KeyError, EOFError, ValueError, RuntimeError) as error:
        if isinstance(error, InterrogateWeightsRefused):
            raise
        raise InterrogateWeightsRefused(str(path), f"corrupt or truncated archive: {error}") from error
    tensors: StateDict = {}
    _collect(root, "", tensors, 0)
    if not tensors:
        raise InterrogateWeightsRefused(str(path), "the archive holds no tensors")
    return tensors


def _collect(value: object, name: str, into: StateDict, depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    if isinstance(value, torch.Tensor):
        into[name] = value
        return
    attributes = value.attributes if isinstance(value, _ScriptObject) else value if isinstance(value, dict) else None
    for key, inner in (attributes or {}).items():
        if isinstance(key, str):
            _collect(inner, f"{name}.{key}" if name else key, into, depth + 1)


def read_weights(path: Path, readers: CheckpointReaders | None = None) -> StateDict:
    """A state dict from a TorchScript archive or a plain `.pt`/`.pth`/`.safetensors` file, read weights-only;
    every failure is an `InterrogateWeightsRefused` naming the file."""
    if torchscript_prefix(path) is not None:
        return read_torchscript_tensors(path)
    try:
        return (readers or CheckpointReaders()).read_state_dict(path)
    except CheckpointFormatError as error:
        raise InterrogateWeightsRefused(str(path), str(error).removeprefix(f"{path.name}: ")) from error


def read_nested_weights(path: Path, key: str) -> StateDict:
    """A pickle holding `{key: state dict}` (Salesforce's BLIP release: `{"model": ...}`), read weights-only."""
    try:
        loaded = load_pickle_object(path)
    except CheckpointFormatError as error:
        raise InterrogateWeightsRefused(str(path), str(error).removeprefix(f"{path.name}: ")) from error
    inner = loaded.get(key) if isinstance(loaded, Mapping) else None
    found = inner if isinstance(inner, Mapping) else loaded
    if not isinstance(found, Mapping):
        raise InterrogateWeightsRefused(str(path), f"holds a {type(found).__name__}, not a state dict")
    tensors = {str(name): value for name, value in found.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise InterrogateWeightsRefused(str(path), "the file holds no tensors")
    return tensors


def load_strictly(make: Callable[[], torch.nn.Module], state: StateDict, source: Path,
                  what: str) -> torch.nn.Module:
    """Build the model on the meta device (no random init: the real models would spend seconds on it), then take
    the file's tensors as its parameters: every one the model has, at its shape, or refused naming the file."""
    with torch.device("meta"):
        model = make()
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        raise InterrogateWeightsRefused(str(source), f"does not fit {what}: {error}") from error
    for module in model.modules():
        for name, buffer in list(module.named_buffers(recurse=False)):
            if buffer is not None and buffer.is_meta:
                if name != "position_ids":
                    raise InterrogateWeightsRefused(str(source), f"{what} has a buffer {name} the file lacks")
                positions = torch.arange(buffer.shape[-1], dtype=buffer.dtype).expand(buffer.shape)
                module.register_buffer(name, positions, persistent=False)
    return model
