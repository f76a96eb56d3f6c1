"""Face-restoration fixtures: weight files in the real layouts and under the real names (random weights)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.face.face_fixtures import save_weights


def random_like(build) -> dict[str, torch.Tensor]:
    """The architecture's state dict with small random values, built on the meta device (no 90M-parameter
    initialisation: only the key names and shapes matter to the file layout)."""
    with torch.device("meta"):
        shapes = {key: (value.shape, value.dtype) for key, value in build().state_dict().items()}
    return {key: (torch.randn(shape, dtype=torch.float16) * 0.02 if dtype.is_floating_point
                  else torch.zeros(shape, dtype=dtype)) for key, (shape, dtype) in shapes.items()}


@pytest.fixture(scope="session")
def face_weights(tmp_path_factory) -> Path:
    """`models/` with random weights in the real layouts, under the file names A1111 users have."""
    from spandrel.architectures.GFPGAN import GFPGAN

    from webui.engine.face_parsing import ParseNet
    from webui.engine.face_retinaface import RetinaFace

    models = tmp_path_factory.mktemp("face-data") / "models"
    torch.manual_seed(0)
    save_weights(models / "GFPGAN" / "GFPGANv1.4.pth", random_like(GFPGAN), nest="params_ema")
    save_weights(models / "GFPGAN" / "detection_Resnet50_Final.pth", RetinaFace().state_dict())
    save_weights(models / "GFPGAN" / "parsing_parsenet.pth", ParseNet().state_dict())
    try:
        from spandrel_extra_arches.architectures.CodeFormer import CodeFormer
    except ImportError:
        return models
    codeformer = random_like(lambda: CodeFormer(dim_embd=512, n_head=8, n_layers=9, codebook_size=1024,
                                                latent_size=256, connect_list=["32", "64", "128", "256"],
                                                fix_modules=["quantize", "generator"]))
    save_weights(models / "Codeformer" / "codeformer-v0.1.0.pth", codeformer, nest="params_ema")
    return models
