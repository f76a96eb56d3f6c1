"""A tiny DeepDanbooru file in the release's layout (`n_Conv_0` … `n_Conv_178` + `tags`) whose answer is known.

Every convolution is random (seeded) except the last run of blocks: its weights are zero, so its output no longer
depends on the image, and the bias of its last 1×1 is one, so every channel reaching the head is exactly 1 (the
residual path carries zeros). The head's row for a tag then sums to that tag's logit, which is set from the score
wanted. So the scores are exact and the same for every image, while the image still runs through all 179
convolutions of the real topology.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch

from webui.model_manager.deepbooru_model import HEAD, DeepBooruNetwork, DeepBooruWidths, bottlenecks, conv_name

TINY_WIDTHS = DeepBooruWidths(4, ((2, 4), (2, 4), (2, 4), (2, 4), (2, 4), (3, 6)), 0)
LOW_SCORE = 0.1


def high_scores(high: list[str]) -> dict[str, float]:
    """The default scores of the `high` tags, in the order given: 0.95 down to 0.55 in even steps, two decimals
    (so a rank prints exactly: 0.950, 0.820, ...; distinct for up to 41 tags)."""
    step = 0.4 / max(len(high) - 1, 1)
    return {tag: round(0.95 - step * rank, 2) for rank, tag in enumerate(high)}


def tiny_deepbooru_state_dict(tags: list[str], high: list[str], scores: Mapping[str, float] | None = None,
                              seed: int = 0) -> OrderedDict[str, object]:
    wanted = {tag: LOW_SCORE for tag in tags} | high_scores(high) | dict(scores or {})
    generator = torch.Generator().manual_seed(seed)
    with torch.device("meta"):  # only its shapes are used
        network = DeepBooruNetwork(DeepBooruWidths(TINY_WIDTHS.stem, TINY_WIDTHS.runs, len(tags)))
    state: OrderedDict[str, object] = OrderedDict()
    for key, tensor in network.state_dict().items():
        fan_in = max(1, tensor[0].numel()) if tensor.dim() > 1 else 1
        state[key] = torch.randn(tensor.shape, generator=generator) * (0.5 / math.sqrt(fan_in))
    last_run = [block for block in bottlenecks() if block.run == len(TINY_WIDTHS.runs) - 1]
    for block in last_run:
        for index in (block.reduce, block.spatial, block.expand, block.projection):
            if index is not None:
                state[f"{conv_name(index)}.weight"] = torch.zeros_like(state[f"{conv_name(index)}.weight"])
                state[f"{conv_name(index)}.bias"] = torch.zeros_like(state[f"{conv_name(index)}.bias"])
    state[f"{conv_name(last_run[-1].expand)}.bias"] = torch.ones(TINY_WIDTHS.runs[-1][1])
    channels = TINY_WIDTHS.runs[-1][1]
    logits = torch.tensor([math.log(wanted[tag] / (1 - wanted[tag])) for tag in tags])
    state[f"{conv_name(HEAD)}.weight"] = (logits / channels)[:, None, None, None].expand(-1, channels, 1, 1).clone()
    state["tags"] = list(tags)
    return state


def write_tiny_deepbooru(path: Path, tags: list[str], high: list[str], *,
                         scores: Mapping[str, float] | None = None) -> Path:
    """Write the file; `high` tags score above 0.5 (see `high_scores`), the others 0.1, unless `scores` names a
    tag's exact score. Returns `path` (its folder is created)."""
    unknown = sorted((set(high) | set(scores or {})) - set(tags))
    if unknown:
        raise ValueError(f"scores for tags the file does not have: {unknown}")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_deepbooru_state_dict(tags, high, scores), path)
    return path
