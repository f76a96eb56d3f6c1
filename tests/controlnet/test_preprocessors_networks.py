"""HED and lineart run from the user's weight files (weights-only reads), with the extension's post-processing:
checked on weights built here whose output is known in closed form, and on seeded random weights."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from webui.engine.controlnet.preprocessors import default_registry
from webui.engine.controlnet.preprocessors.networks import HedNetwork, LineartGenerator, safe_step, thin_to_scribble
from webui.engine.controlnet.preprocessors.pidinet import PiDiNet, PixelDifferenceConv
from webui.errors import CheckpointRefused


def white_square(size: int = 64) -> np.ndarray:
    image = np.zeros((size, size, 3), np.uint8)
    image[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 255
    return image


def weights_like(factory, value) -> dict[str, torch.Tensor]:
    """A state dict of the network's exact keys and shapes, each tensor made by `value(name, shape)`."""
    with torch.device("meta"):
        shapes = {name: tensor.shape for name, tensor in factory().state_dict().items()}
    return {name: value(name, shape) for name, shape in shapes.items()}


def constant_hed(folder: Path, projection_bias: float) -> None:
    """HED weights whose every projection is `projection_bias` everywhere (all convolutions zero)."""
    state = weights_like(HedNetwork, lambda name, shape: torch.full(
        shape, projection_bias if name.endswith("projection.bias") else 0.0))
    (folder / "hed").mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "hed" / "ControlNetHED.pth")


def test_hed_averages_the_projections_through_a_sigmoid_and_safe_quantises(tmp_path):
    constant_hed(tmp_path, 2.0)
    registry = default_registry([tmp_path])
    assert registry.available("softedge_hed")
    image = np.full((48, 64, 3), 90, np.uint8)
    soft_map = registry.run("softedge_hed", image, 32, None, None)
    assert soft_map.shape == (32, 43, 3) and np.all(soft_map == 224)  # sigmoid(2) = 0.881 -> 224
    constant_hed(tmp_path, -3.0)  # the user replaces the file: the kept network is not reused
    weights = tmp_path / "hed" / "ControlNetHED.pth"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert np.all(registry.run("softedge_hedsafe", image, 32, None, None) == 0)  # int(0.047 * 3) / 2 = 0
    registry.unload_networks()


def test_safe_step_and_scribble_thinning_as_the_extension():
    assert np.array_equal(safe_step(np.array([0.2, 0.34, 0.5, 0.66, 0.9, 1.0])), [0, 0.5, 0.5, 0.5, 1.0, 1.5])
    soft = np.zeros((64, 64), np.uint8)
    soft[:, 28:36] = 255  # a wide soft line
    scribble = thin_to_scribble(soft)
    assert set(np.unique(scribble)) == {0, 255} and scribble[:, :16].max() == 0 and scribble[:, 48:].max() == 0
    assert scribble[32, 30:34].min() == 255


def test_hed_with_real_shaped_random_weights_finds_structure(tmp_path):
    generator = torch.Generator().manual_seed(0)
    (tmp_path / "hed").mkdir()
    torch.save(weights_like(HedNetwork, lambda name, shape: torch.randn(shape, generator=generator) * 0.02),
               tmp_path / "hed" / "ControlNetHED.pth")
    registry = default_registry([tmp_path])
    soft = registry.run("softedge_hed", white_square(), 64, None, None)
    assert soft.shape == (64, 64, 3) and soft[:, :, 0].std() > 0  # the map depends on the image


def constant_lineart(path: Path, output_bias: float) -> None:
    state = weights_like(LineartGenerator, lambda name, shape: torch.full(
        shape, output_bias if name == "model4.1.bias" else 0.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def test_lineart_inverts_the_generators_drawing_to_white_lines_on_black(tmp_path):
    constant_lineart(tmp_path / "lineart" / "sk_model.pth", 3.0)  # drawing = sigmoid(3) = 0.953 (paper)
    constant_lineart(tmp_path / "lineart" / "sk_model2.pth", 0.0)
    registry = default_registry([tmp_path])
    realistic = registry.run("lineart_realistic", white_square(), 64, None, None)
    assert realistic.shape == (64, 64, 3) and np.all(realistic == 255 - 242)
    assert np.all(registry.run("lineart_coarse", white_square(), 64, None, None) == 255 - 127)


class NotATensor:
    pass


def test_weights_of_another_layout_or_with_code_are_refused_naming_the_file(tmp_path):
    (tmp_path / "hed").mkdir()
    torch.save(collections.OrderedDict(weight=torch.zeros(3)), tmp_path / "hed" / "ControlNetHED.pth")
    registry = default_registry([tmp_path])
    with pytest.raises(CheckpointRefused, match="ControlNetHED.pth") as caught:
        registry.run("softedge_hed", white_square(), 64, None, None)
    assert caught.value.http_status == 422
    torch.save({"payload": NotATensor()}, tmp_path / "hed" / "ControlNetHED.pth")
    with pytest.raises(CheckpointRefused, match="ControlNetHED.pth"):
        registry.run("softedge_hed", white_square(), 64, None, None)


@pytest.mark.parametrize("kind", ["cd", "ad", "rd"])
def test_pixel_difference_convolutions_see_differences_not_intensities(kind):
    convolution = PixelDifferenceConv(kind, 2, 3)
    torch.nn.init.normal_(convolution.weight, generator=torch.Generator().manual_seed(1))
    flat = torch.full((1, 2, 12, 12), 0.7)
    with torch.no_grad():
        assert torch.allclose(convolution(flat)[:, :, 3:-3, 3:-3], torch.zeros(1, 3, 6, 6), atol=1e-5)
        vanilla = PixelDifferenceConv("cv", 2, 3)
        vanilla.weight.copy_(convolution.weight)
        assert vanilla(flat)[:, :, 3:-3, 3:-3].abs().max() > 0.01
        step = torch.zeros(1, 2, 12, 12)
        step[:, :, :, 6:] = 1.0
        assert convolution(step).abs().max() > 0.01


def save_pidinet(folder: Path, value) -> None:
    """In the file's real layout: nested under "state_dict", keys prefixed "module." (saved with DataParallel)."""
    state = {f"module.{name}": tensor for name, tensor in weights_like(PiDiNet, value).items()}
    (folder / "pidinet").mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "epoch": 14}, folder / "pidinet" / "table5_pidinet.pth")


def test_pidinet_fuses_through_a_sigmoid_and_scribbles_thin_the_result(tmp_path):
    save_pidinet(tmp_path, lambda name, shape: torch.full(shape, 2.0 if name == "classifier.bias" else 0.0))
    registry = default_registry([tmp_path])
    image = np.full((48, 64, 3), 90, np.uint8)
    soft = registry.run("softedge_pidinet", image, 32, None, None)
    assert soft.shape == (32, 43, 3) and np.all(soft == 224)  # sigmoid(2) = 0.881
    assert np.all(registry.run("scribble_pidinet", image, 32, None, None) == 255)  # 224 > 127 everywhere


def test_pidinet_sketch_with_real_shaped_random_weights_is_binary_and_follows_the_image(tmp_path):
    generator = torch.Generator().manual_seed(0)
    save_pidinet(tmp_path, lambda name, shape: torch.randn(shape, generator=generator) * 0.3)
    registry = default_registry([tmp_path])
    sketch = registry.run("t2ia_sketch_pidi", white_square(), 64, None, None)
    assert sketch.shape == (64, 64, 3) and set(np.unique(sketch)) <= {0, 255}
    assert not np.array_equal(sketch, registry.run("t2ia_sketch_pidi", 255 - white_square(), 64, None, None))
