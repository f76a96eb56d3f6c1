"""DeepBooru's network (A1111's `models/torch_deepdanbooru/model-resnet_custom_v3.pt`), built from its state dict.

The file is a plain torch state dict: `n_Conv_0.weight` … `n_Conv_178.weight` with biases (all but the last), plus
a `tags` list of strings. The network is KichangKim's "resnet_custom_v3" as AUTOMATIC1111/TorchDeepDanbooru
converted it (TensorFlow → torch, hence the explicit asymmetric paddings):

- stem: 7×7 stride-2 convolution on input padded 2 left/top and 3 right/bottom, ReLU, then a 3×3 stride-2 max
  pool over a map padded one column/row on the right/bottom with −∞;
- 57 bottleneck blocks in six runs (3, 8, 20, 20, 3, 3 blocks): 1×1 → ReLU → 3×3 → ReLU → 1×1, added to the
  block's input (or to a 1×1 projection of it in each run's first block), then ReLU. A run's first block carries
  its stride on the 3×3 (input padded one right/bottom, TensorFlow's "same") and on the projection; a stride-1
  3×3 is padded one on every side. The projection's index comes *before* the block's other three convolutions,
  except in the fourth run, whose projection (`n_Conv_100`) comes after them;
- head: a 1×1 convolution without bias to one logit per tag, averaged over the map, then a sigmoid.

That topology is fixed here; the channel widths are read from the file (the stem's, and each run's bottleneck
and output widths), so the 644 MB release file (160,956,544 parameters, 9,176 tags) and a tiny test file with
the same keys build the same code. Every key and shape is then checked strictly. Reading is weights-only;
anything else (a pickle that asks for code, a file without these keys, shapes that do not chain) is a
`DeepBooruRefused` naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from webui.errors import CheckpointRefused
from webui.model_manager.checkpoint_files import UnsafeCheckpointError, load_pickle_object
from webui.model_manager.loaders import ANY_ARCHITECTURE, Loader, LoaderKey, LoaderNotFoundError, LoaderRegistry
from webui.model_manager.safetensors_header import CheckpointFormatError

DEEPBOORU_KIND = "deepbooru"
DEEPBOORU_FOLDER = "torch_deepdanbooru"   # under models/, A1111 v1.10's folder
DEEPBOORU_FILE = "model-resnet_custom_v3.pt"
TAGS_KEY = "tags"
INPUT_SIZE = 512                          # A1111 feeds 512×512 RGB scaled to 0..1
RUN_LENGTHS = (3, 8, 20, 20, 3, 3)        # bottleneck blocks per run
RUN_STRIDES = (1, 2, 2, 2, 2, 2)          # the stride of each run's first block
PROJECTION_LAST_RUN = 3                   # the run whose projection follows its first block's convolutions
CONV_COUNT = 1 + sum(3 * length + 1 for length in RUN_LENGTHS) + 1   # 179: stem, blocks, head
HEAD = CONV_COUNT - 1


class DeepBooruRefused(CheckpointRefused):
    """The DeepBooru file is there but is not one (unsafe pickle, corrupt, other keys or shapes)."""


def conv_name(index: int) -> str:
    return f"n_Conv_{index}"


@dataclass(frozen=True)
class Bottleneck:
    """One residual block: the indices of its convolutions (`projection` None = identity shortcut)."""

    run: int
    reduce: int
    spatial: int
    expand: int
    projection: int | None
    stride: int


def bottlenecks() -> tuple[Bottleneck, ...]:
    """The 57 blocks with A1111's convolution numbering."""
    blocks: list[Bottleneck] = []
    index = 1
    for run, (length, stride) in enumerate(zip(RUN_LENGTHS, RUN_STRIDES, strict=True)):
        if run == PROJECTION_LAST_RUN:
            blocks.append(Bottleneck(run, index, index + 1, index + 2, index + 3, stride))
        else:
            blocks.append(Bottleneck(run, index + 1, index + 2, index + 3, index, stride))
        index += 4
        for _ in range(length - 1):
            blocks.append(Bottleneck(run, index, index + 1, index + 2, None, 1))
            index += 3
    return tuple(blocks)


def first_blocks() -> list[Bottleneck]:
    return [block for block in bottlenecks() if block.projection is not None]


@dataclass(frozen=True)
class DeepBooruWidths:
    """Channel widths: the stem's output, each run's (bottleneck, output) pair, and the number of tags."""

    stem: int
    runs: tuple[tuple[int, int], ...]
    tags: int


A1111_WIDTHS = DeepBooruWidths(64, ((64, 256), (128, 512), (256, 1024), (256, 1024), (512, 2048), (1024, 4096)),
                               9176)


def _pad_same(x: torch.Tensor, stride: int) -> torch.Tensor:
    """TensorFlow "same" padding of a 3×3: one on each side at stride 1, one right/bottom at stride 2."""
    return F.pad(x, [1, 1, 1, 1] if stride == 1 else [0, 1, 0, 1], value=0.0)


class DeepBooruNetwork(nn.Module):
    """Input: (N, 3, 512, 512) RGB in 0..1; output: (N, tags) probabilities. `tags` names the outputs."""

    def __init__(self, widths: DeepBooruWidths, tags: tuple[str, ...] = ()) -> None:
        super().__init__()
        if len(widths.runs) != len(RUN_LENGTHS):
            raise ValueError(f"expected {len(RUN_LENGTHS)} runs of blocks, got {len(widths.runs)}")
        self.tags = tags
        self.blocks = bottlenecks()
        self.add_module(conv_name(0), nn.Conv2d(3, widths.stem, 7, stride=2))
        channels = widths.stem
        for block in self.blocks:
            middle, out = widths.runs[block.run]
            self.add_module(conv_name(block.reduce), nn.Conv2d(channels, middle, 1))
            self.add_module(conv_name(block.spatial), nn.Conv2d(middle, middle, 3, stride=block.stride))
            self.add_module(conv_name(block.expand), nn.Conv2d(middle, out, 1))
            if block.projection is not None:
                self.add_module(conv_name(block.projection), nn.Conv2d(channels, out, 1, stride=block.stride))
            channels = out
        self.add_module(conv_name(HEAD), nn.Conv2d(channels, widths.tags, 1, bias=False))
        self.max_pool = nn.MaxPool2d(3, stride=2)

    def conv(self, index: int) -> nn.Conv2d:
        module = self.get_submodule(conv_name(index))
        assert isinstance(module, nn.Conv2d)
        return module

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(0)(F.pad(pixels, [2, 3, 2, 3], value=0.0)))
        x = self.max_pool(F.pad(x, [0, 1, 0, 1], value=float("-inf")))
        for block in self.blocks:
            shortcut = x if block.projection is None else self.conv(block.projection)(x)
            inner = F.relu(self.conv(block.reduce)(x))
            inner = F.relu(self.conv(block.spatial)(_pad_same(inner, block.stride)))
            x = F.relu(self.conv(block.expand)(inner) + shortcut)
        logits = self.conv(HEAD)(x)
        return torch.sigmoid(F.avg_pool2d(logits, kernel_size=logits.shape[-2:]).flatten(1))


def expected_keys() -> list[str]:
    return [f"{conv_name(index)}.{part}" for index in range(CONV_COUNT)
            for part in (("weight",) if index == HEAD else ("weight", "bias"))]


def widths_of(state_dict: Mapping[str, object]) -> DeepBooruWidths:
    """The widths the file's convolutions have (their output channels); the rest is checked on loading."""
    def out_channels(index: int) -> int:
        return int(_weight(state_dict, index).shape[0])

    runs = tuple((out_channels(block.reduce), out_channels(block.expand)) for block in first_blocks())
    return DeepBooruWidths(out_channels(0), runs, out_channels(HEAD))


def _weight(state_dict: Mapping[str, object], index: int) -> torch.Tensor:
    weight = state_dict[f"{conv_name(index)}.weight"]
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        raise ValueError(f"{conv_name(index)}.weight is not a convolution's 4-D weight")
    return weight


def _shape_mismatches(network: nn.Module, state_dict: Mapping[str, object]) -> list[str]:
    wanted = {key: tuple(tensor.shape) for key, tensor in network.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in state_dict.items() if isinstance(value, torch.Tensor)}
    return [f"{key} is {found.get(key)}, expected {shape}" for key, shape in wanted.items() if found.get(key) != shape]


def network_from_state_dict(state_dict: Mapping[str, object], source: str) -> DeepBooruNetwork:
    """The network holding `state_dict`'s tensors (assigned, not copied: a meta or memory-mapped state dict stays
    as it is). Refused, naming `source`: missing or extra keys, shapes that do not fit, a bad tag list."""
    missing = [key for key in expected_keys() if key not in state_dict]
    if missing:
        listed = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise DeepBooruRefused(source, f"not a DeepDanbooru model (model-resnet_custom_v3): missing {listed}")
    extra = sorted(set(state_dict) - set(expected_keys()) - {TAGS_KEY})
    if extra:
        raise DeepBooruRefused(source, f"not a DeepDanbooru model: unexpected keys {', '.join(extra[:3])}")
    try:
        widths = widths_of(state_dict)
    except ValueError as error:
        raise DeepBooruRefused(source, str(error)) from error
    tags = _tags_of(state_dict, widths.tags, source)
    with torch.device("meta"):
        network = DeepBooruNetwork(widths, tags)
    mismatches = _shape_mismatches(network, state_dict)
    if mismatches:
        raise DeepBooruRefused(source, f"shapes do not fit DeepDanbooru's network: {'; '.join(mismatches[:3])}")
    tensors = {key: value for key, value in state_dict.items() if key != TAGS_KEY}
    network.load_state_dict(tensors, strict=True, assign=True)
    return network.eval()


def _tags_of(state_dict: Mapping[str, object], count: int, source: str) -> tuple[str, ...]:
    tags = state_dict.get(TAGS_KEY)
    if not isinstance(tags, list | tuple) or not all(isinstance(tag, str) for tag in tags):
        raise DeepBooruRefused(source, f"not a DeepDanbooru model: its '{TAGS_KEY}' entry is not a list of tag names")
    if len(tags) != count:
        raise DeepBooruRefused(source, f"{len(tags)} tag names for {count} outputs")
    return tuple(tags)


def deepbooru_loaders() -> LoaderRegistry:
    """A1111 reads only `.pt` here (its `ext_filter`); a safetensors file cannot hold the tag list."""
    return LoaderRegistry([Loader(LoaderKey(DEEPBOORU_KIND, ANY_ARCHITECTURE, "pickle"), load_pickle_object,
                                  "DeepDanbooru's state dict with its tag list, weights-only")])


def find_deepbooru_file(models: Path) -> Path | None:
    """The file A1111 would use in `models/torch_deepdanbooru/`: it takes the first `.pt` anywhere under that
    folder (and downloads `model-resnet_custom_v3.pt` only when there is none); here the release's name wins,
    then the first `.pt` in sorted order, so the choice does not depend on the file system's listing order."""
    folder = models / DEEPBOORU_FOLDER
    if (folder / DEEPBOORU_FILE).is_file():
        return folder / DEEPBOORU_FILE
    found = sorted(path for path in folder.rglob("*.pt") if path.is_file()) if folder.is_dir() else []
    return found[0] if found else None


def display_name(path: Path) -> str:
    """The file as the user knows it: its folder under models/ and its name, never the server's full path."""
    return f"{path.parent.name}/{path.name}"


def load_deepbooru(path: Path, loaders: LoaderRegistry | None = None) -> DeepBooruNetwork:
    """The network in `path` on the CPU in the file's dtype (float32), weights-only."""
    source = display_name(path)
    try:
        loaded = (loaders or deepbooru_loaders()).read(DEEPBOORU_KIND, path)
    except UnsafeCheckpointError as error:
        raise DeepBooruRefused(source, "refused: .pt files are only read weights-only and this one needs more "
                                       "than tensors and tag names; nothing in it was run") from error
    except LoaderNotFoundError as error:
        raise DeepBooruRefused(source, f"DeepDanbooru files are .pt pickles (as A1111 reads them), not "
                                       f"{path.suffix or 'a file without a suffix'}") from error
    except CheckpointFormatError as error:
        raise DeepBooruRefused(source, str(error).removeprefix(f"{path.name}: ")) from error
    if not isinstance(loaded, Mapping):
        raise DeepBooruRefused(source, f"holds a {type(loaded).__name__}, not a state dict")
    return network_from_state_dict(loaded, source)
