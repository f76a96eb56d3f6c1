"""ControlNet model files: found where sd-webui-controlnet looks, named as it names them, read safely, cached in RAM.

Folders: `models/ControlNet/` and the extension's own `extensions/sd-webui-controlnet/models/` (users keep files
there). Titles are the extension's `name [hash]`, where the hash is A1111's legacy 8-digit `model_hash` (sha256 of
the 64 KiB at 1 MiB into the file), so an infotext or API script written for A1111 names the same file. Layouts read:
lllyasviel's original single files (`input_blocks.*`, `zero_convs.*`, `input_hint_block.*`, `middle_block_out.*`,
optionally under `control_model.`, as in the full `control_sd15_*.pth`), their fp16 pruned `.safetensors`
conversions, and diffusers-layout single files. Pickles go through the same weights-only reader as checkpoints.
The kind is probed from the header before anything loads: an SDXL or SD 2.x ControlNet, a T2I-Adapter or a
Control-LoRA is refused with a message saying what it is.

A built ControlNet is kept in a small LRU of modules (the extension's `control_net_model_cache_size`), so a second
job with the same unit costs no file read; the config comes from the checkpoint's UNet (a ControlNet is a copy of
its encoder) and the strict load checks that the file really fits it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from webui.errors import CheckpointRefused, ModelMissing
from webui.model_manager.checkpoint_files import CheckpointReaders, StateDict
from webui.model_manager.safetensors_header import CheckpointFormatError, TensorIndex

CONTROLNET_EXTENSIONS = (".pt", ".pth", ".ckpt", ".safetensors")
LDM_PREFIX = "control_model."
NO_MODEL = "None"
DEFAULT_CACHE_SIZE = 2
SD1_CONTEXT_WIDTH = 768
CONTEXT_FAMILIES = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}


class ControlNetNotFound(ModelMissing):
    """No ControlNet file matches the name; the message lists what is installed."""

    http_status = 422

    def __init__(self, query: str, available: Iterable[str]) -> None:
        super().__init__("ControlNet model", query, list(available), "models/ControlNet/")


class ControlNetRefused(CheckpointRefused):
    """The file is not an SD 1.x ControlNet this checkpoint can use (another architecture, an adapter, corrupt)."""


def legacy_model_hash(path: Path) -> str:
    """A1111's `sd_models.model_hash`: the first 8 hex digits of sha256 over 64 KiB at offset 1 MiB."""
    with path.open("rb") as stream:
        stream.seek(0x100000)
        return hashlib.sha256(stream.read(0x10000)).hexdigest()[:8]


@dataclass(frozen=True)
class ControlNetRecord:
    path: Path
    short_hash: str

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def title(self) -> str:
        return f"{self.name} [{self.short_hash}]"


def scan_controlnets(folders: Iterable[Path]) -> list[ControlNetRecord]:
    """Every model file under the folders (recursively), sorted by file name as the extension's default; a title
    found twice keeps the first folder's file."""
    found: dict[str, ControlNetRecord] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() not in CONTROLNET_EXTENSIONS or not path.is_file() or path.stem == NO_MODEL:
                continue
            if any(part == "annotator" for part in path.relative_to(folder).parts):
                continue  # preprocessor weights live beside the models
            record = ControlNetRecord(path, legacy_model_hash(path))
            found.setdefault(record.title, record)
    return sorted(found.values(), key=lambda record: record.path.name)


@dataclass(frozen=True)
class ControlNetKind:
    layout: str          # "ldm" (lllyasviel's keys) or "diffusers"
    context_width: int   # the cross-attention width: 768 for SD 1.x


def _first_shape(index: TensorIndex, suffix: str) -> tuple[int, ...] | None:
    for key, info in index.tensors.items():
        if key.endswith(suffix):
            return tuple(info.shape)
    return None


def probe_controlnet(index: TensorIndex, file_name: str) -> ControlNetKind:
    """What the header says the file is; ControlNetRefused naming the kind when it is not a ControlNet we run."""
    keys = index.tensors.keys()
    if any("lora_controlnet" in key for key in keys) or index.metadata.get("lora_controlnet"):
        raise ControlNetRefused(file_name, "a Control-LoRA; only full ControlNet models are supported")
    if any(key.startswith(("adapter.", "body.")) for key in keys) and not any("input_blocks." in key for key in keys):
        raise ControlNetRefused(file_name, "a T2I-Adapter; T2I-Adapters are not supported yet (ControlNet models "
                                           "only)")
    if any(key.startswith("controlnet_cond_embedding.") for key in keys):
        layout, attention_key = "diffusers", "attn2.to_k.weight"
    elif any(key.startswith(("input_hint_block.", LDM_PREFIX + "input_hint_block.")) for key in keys):
        layout, attention_key = "ldm", "attn2.to_k.weight"
    else:
        raise ControlNetRefused(file_name, "not a ControlNet model (no input_hint_block or "
                                           "controlnet_cond_embedding tensors)")
    if any("label_emb." in key or key.startswith("add_embedding.") for key in keys):
        raise ControlNetRefused(file_name, "an SDXL ControlNet; the checkpoints here are SD 1.x")
    shape = _first_shape(index, attention_key)
    width = int(shape[1]) if shape and len(shape) == 2 else SD1_CONTEXT_WIDTH
    return ControlNetKind(layout, width)


def check_fits(kind: ControlNetKind, file_name: str, unet_context_width: int) -> None:
    """The ControlNet's cross-attention width must be the UNet's (768 for SD 1.x; tiny test models differ)."""
    if kind.context_width != unet_context_width:
        family = CONTEXT_FAMILIES.get(kind.context_width, f"{kind.context_width}-wide")
        model = CONTEXT_FAMILIES.get(unet_context_width, f"{unet_context_width}-wide")
        raise ControlNetRefused(file_name, f"a {family} ControlNet; the loaded checkpoint is {model}")


def to_diffusers_layout(state: Mapping[str, torch.Tensor], layers_per_block: int) -> StateDict:
    """lllyasviel's keys (with or without `control_model.`) → diffusers' ControlNetModel keys; diffusers-layout
    files pass through."""
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    if "controlnet_cond_embedding.conv_in.weight" in state:
        return dict(state)
    if any(key.startswith(LDM_PREFIX) for key in state):
        state = {key[len(LDM_PREFIX):]: value for key, value in state.items() if key.startswith(LDM_PREFIX)}
    return dict(convert_controlnet_checkpoint(dict(state), {"layers_per_block": layers_per_block}))


def _embedding_channels(state: Mapping[str, torch.Tensor]) -> tuple[tuple[int, ...], int]:
    """(conditioning_embedding_out_channels, conditioning_channels) read from the hint encoder's shapes."""
    conv_in = state["controlnet_cond_embedding.conv_in.weight"]
    channels = [int(conv_in.shape[0])]
    index = 1
    while f"controlnet_cond_embedding.blocks.{index}.weight" in state:
        channels.append(int(state[f"controlnet_cond_embedding.blocks.{index}.weight"].shape[0]))
        index += 2
    return tuple(channels), int(conv_in.shape[1])


def build_controlnet(state: StateDict, unet: Any, file_name: str) -> torch.nn.Module:
    """A diffusers ControlNetModel shaped like the UNet's encoder, holding the file's weights (strict: a file for
    another architecture is refused, never half-loaded)."""
    from accelerate import init_empty_weights
    from diffusers import ControlNetModel

    embedding, hint_channels = _embedding_channels(state)
    with init_empty_weights():
        model = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=embedding,
                                          load_weights_from_unet=False, conditioning_channels=hint_channels)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        first_line = str(error).splitlines()[0]
        raise ControlNetRefused(file_name, f"does not fit the loaded checkpoint's UNet ({first_line}); is it a "
                                           "ControlNet for another model family?") from error
    return model.eval().requires_grad_(False)


class ControlNetModels:
    """The installed ControlNets (refreshable) and an LRU of built models, safe to call from any thread."""

    def __init__(self, folders: Iterable[Path], readers: CheckpointReaders | None = None,
                 cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._folders = tuple(folders)
        self._readers = readers or CheckpointReaders()
        self._cache_size = max(1, cache_size)
        self._lock = threading.Lock()
        self._records: list[ControlNetRecord] | None = None
        self._built: OrderedDict[tuple, torch.nn.Module] = OrderedDict()

    @property
    def folders(self) -> tuple[Path, ...]:
        return self._folders

    def refresh(self) -> list[ControlNetRecord]:
        records = scan_controlnets(self._folders)
        with self._lock:
            self._records = records
        return records

    def records(self) -> list[ControlNetRecord]:
        with self._lock:
            records = self._records
        return records if records is not None else self.refresh()

    def titles(self) -> list[str]:
        """The extension's model_list: "None" first, then every title."""
        return [NO_MODEL, *(record.title for record in self.records())]

    def find(self, query: str) -> ControlNetRecord:
        """By title, by file name without the hash (case-insensitive, as the extension's `cn_models_names`), or by
        a title whose hash changed since the client saw it."""
        records = self.records()
        wanted = query.strip()
        base = wanted.split(" [")[0].strip().lower()
        for matches in (lambda record: record.title == wanted, lambda record: record.name.lower() == base):
            for record in records:
                if matches(record):
                    return record
        raise ControlNetNotFound(query, self.titles())

    def kind(self, record: ControlNetRecord) -> ControlNetKind:
        try:
            index = self._readers.read_index(record.path)
        except CheckpointFormatError as error:
            raise ControlNetRefused(record.path.name, str(error)) from error
        return probe_controlnet(index, record.path.name)

    def load(self, record: ControlNetRecord, unet: Any, dtype: torch.dtype) -> torch.nn.Module:
        """The built model on the CPU in `dtype` (the caller moves it to the device for the job)."""
        config = unet.config
        key = (str(record.path), record.path.stat().st_mtime_ns, record.short_hash, int(config.cross_attention_dim),
               tuple(config.block_out_channels), str(dtype))
        with self._lock:
            model = self._built.get(key)
            if model is not None:
                self._built.move_to_end(key)
                return model
        check_fits(self.kind(record), record.path.name, int(config.cross_attention_dim))
        try:
            raw = self._readers.read_state_dict(record.path)
        except CheckpointFormatError as error:
            raise ControlNetRefused(record.path.name, str(error)) from error
        state = {key: value.to(dtype) for key, value in
                 to_diffusers_layout(raw, int(config.layers_per_block)).items()}
        model = build_controlnet(state, unet, record.path.name)
        with self._lock:
            self._built[key] = model
            while len(self._built) > self._cache_size:
                self._built.popitem(last=False)
        return model

    def cached_bytes(self) -> int:
        with self._lock:
            models = list(self._built.values())
        return sum(parameter.numel() * parameter.element_size() for model in models for parameter in
                   model.parameters())
