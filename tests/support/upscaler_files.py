"""Tiny upscaler model files in the key layouts real releases use, built from spandrel's own architecture classes
with random weights (seeded) — nothing is downloaded.

- ESRGAN "old" layout (`model.0.weight`, `model.1.sub.0.RDB1.conv1.0.weight`, ...): the original ESRGAN releases
  and most community `4x-*.pth` files in `models/ESRGAN/`.
- Real-ESRGAN "new" layout (`conv_first`, `body.N.rdbK.convM`, `conv_body`, `conv_up1/2`, `conv_hr`, `conv_last`,
  wrapped in `params_ema`): `RealESRGAN_x4plus.pth`, `RealESRGAN_x4plus_anime_6B.pth`.
- SRVGG Compact (`body.N.weight`, wrapped in `params`): `realesr-general-x4v3.pth`, `realesr-animevideov3.pth`.
"""

from __future__ import annotations

import re
from pathlib import Path

import safetensors.torch
import torch
from spandrel.architectures.Compact import Compact
from spandrel.architectures.ESRGAN import ESRGAN


def _randomised(build, seed: int) -> dict[str, torch.Tensor]:
    """The architecture's own initialisation, seeded (its output spans a useful part of [0, 1])."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = build()
    return {key: value.detach().clone().contiguous() for key, value in module.state_dict().items()}


def rrdb_old_layout(scale: int = 4, features: int = 8, blocks: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    return _randomised(lambda: ESRGAN(in_nc=3, out_nc=3, num_filters=features, num_blocks=blocks, scale=scale), seed)


def rrdb_new_layout(scale: int = 4, features: int = 8, blocks: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    """The same network under Real-ESRGAN's (basicsr RRDBNet) key names."""
    old = rrdb_old_layout(scale, features, blocks, seed)
    last = max(int(key.split(".")[1]) for key in old)
    upconvs = {3 * index: f"conv_up{index}" for index in range(1, 4)}
    renamed = {}
    for key, value in old.items():
        part, index, rest = key.split(".", 2)
        number = int(index)
        if number == 0:
            new = f"conv_first.{rest}"
        elif number == 1:
            inner = re.match(r"sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", rest)
            new = (f"body.{inner.group(1)}.rdb{inner.group(2)}.conv{inner.group(3)}.{inner.group(4)}" if inner
                   else f"conv_body.{rest.split('.')[-1]}")
        elif number == last:
            new = f"conv_last.{rest}"
        elif number == last - 2:
            new = f"conv_hr.{rest}"
        else:
            new = f"{upconvs[number]}.{rest}"
        renamed[new] = value
    return renamed


def compact_layout(scale: int = 4, features: int = 8, convs: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    return _randomised(lambda: Compact(num_in_ch=3, num_out_ch=3, num_feat=features, num_conv=convs, upscale=scale),
                      seed)


def write_pth(path: Path, state_dict: dict[str, torch.Tensor], wrapper: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({wrapper: state_dict} if wrapper else state_dict, path)
    return path


def write_safetensors(path: Path, state_dict: dict[str, torch.Tensor]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(state_dict, str(path))
    return path


class MarkerOnUnpickle:
    """A pickle payload whose unpickling would create `marker` (what a malicious .pth does with os.system)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def write_hostile_pth(path: Path, marker: Path, legacy: bool = False) -> Path:
    """A .pth whose weights come with an object that would touch `marker` if anything unpickled it fully."""
    payload = {"params_ema": rrdb_new_layout(), "trap": MarkerOnUnpickle(marker)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path
