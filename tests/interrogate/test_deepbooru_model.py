"""DeepDanbooru's network: the release file's full-size layout (checked on the meta device: the 644 MB file is not
available offline), the tiny test file in the same layout, and the refusals, each naming the file.

The full-size facts are A1111 v1.10's `modules/deepbooru_model.py`: 179 convolutions `n_Conv_0` … `n_Conv_178`, the
last without bias, its widths and strides, 9,176 tags."""

from __future__ import annotations

import pytest
import torch

from tests.interrogate.deepbooru_fixtures import tiny_deepbooru_state_dict, write_tiny_deepbooru
from webui.errors import CheckpointRefused
from webui.model_manager.deepbooru_model import (
    A1111_WIDTHS,
    CONV_COUNT,
    DEEPBOORU_FILE,
    DEEPBOORU_FOLDER,
    DeepBooruNetwork,
    DeepBooruRefused,
    expected_keys,
    find_deepbooru_file,
    load_deepbooru,
    network_from_state_dict,
    widths_of,
)

RELEASE_PARAMETERS = 160_956_544  # 644 MB in float32
RELEASE_TAGS = 9176
# (out, in, kernel) of a few of A1111's convolutions, as its DeepDanbooruModel declares them
RELEASE_SHAPES = {0: (64, 3, 7), 1: (256, 64, 1), 2: (64, 64, 1), 3: (64, 64, 3), 4: (256, 64, 1),
                  11: (512, 256, 1), 13: (128, 128, 3), 35: (512, 128, 1), 36: (1024, 512, 1), 97: (256, 1024, 1),
                  98: (256, 256, 3), 100: (1024, 1024, 1), 158: (2048, 1024, 1), 163: (512, 512, 3),
                  168: (4096, 2048, 1), 170: (1024, 1024, 3), 177: (4096, 1024, 1), 178: (RELEASE_TAGS, 4096, 1)}
RELEASE_STRIDE_2 = {0, 11, 13, 36, 38, 98, 100, 158, 160, 168, 170}
TAGS = ["1girl", "long_hair", "smile", "rating:safe"]


def release_network() -> DeepBooruNetwork:
    with torch.device("meta"):
        return DeepBooruNetwork(A1111_WIDTHS)


def convs(network: DeepBooruNetwork) -> dict[int, torch.nn.Conv2d]:
    return {int(name.removeprefix("n_Conv_")): module for name, module in network.named_children()
            if isinstance(module, torch.nn.Conv2d)}


def test_the_release_layout_has_a1111s_179_convolutions_widths_strides_and_parameter_count():
    network = release_network()
    layers = convs(network)
    assert CONV_COUNT == 179 and sorted(layers) == list(range(179))
    assert sum(parameter.numel() for parameter in network.parameters()) == RELEASE_PARAMETERS
    for index, (out, inputs, kernel) in RELEASE_SHAPES.items():
        assert tuple(layers[index].weight.shape) == (out, inputs, kernel, kernel), index
    assert {index for index, conv in layers.items() if conv.stride == (2, 2)} == RELEASE_STRIDE_2
    assert [index for index, conv in layers.items() if conv.bias is None] == [178]
    assert sum(conv.kernel_size == (3, 3) for conv in layers.values()) == 57
    assert all(conv.padding == (0, 0) for conv in layers.values())  # the paddings are explicit, TensorFlow's
    assert len(expected_keys()) == 2 * 179 - 1


def test_the_release_state_dict_loads_strictly_every_key_and_shape():
    state: dict[str, object] = {key: torch.empty(tensor.shape, device="meta")
                                for key, tensor in release_network().state_dict().items()}
    state["tags"] = [f"tag_{index}" for index in range(RELEASE_TAGS)]
    assert widths_of(state) == A1111_WIDTHS
    network = network_from_state_dict(state, "torch_deepdanbooru/model-resnet_custom_v3.pt")
    assert sorted(network.state_dict()) == sorted(expected_keys())
    assert len(network.tags) == RELEASE_TAGS


def test_the_tiny_file_loads_weights_only_with_its_tags(tmp_path):
    path = write_tiny_deepbooru(tmp_path / DEEPBOORU_FOLDER / DEEPBOORU_FILE, TAGS, ["smile"])
    network = load_deepbooru(path)
    assert network.tags == tuple(TAGS)
    assert not network.training
    probabilities = network(torch.rand(1, 3, 128, 128))  # A1111 feeds 512²; any size from 128 runs
    assert probabilities.shape == (1, len(TAGS))
    assert probabilities[0].tolist() == pytest.approx([0.1, 0.1, 0.95, 0.1], abs=1e-6)


def refused(path) -> DeepBooruRefused:
    with pytest.raises(DeepBooruRefused) as raised:
        load_deepbooru(path)
    assert isinstance(raised.value, CheckpointRefused) and raised.value.http_status == 422
    assert raised.value.file == f"{DEEPBOORU_FOLDER}/{path.name}"
    assert str(raised.value).startswith(f"{DEEPBOORU_FOLDER}/{path.name}: ")
    return raised.value


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / DEEPBOORU_FOLDER / DEEPBOORU_FILE
    path.parent.mkdir()
    torch.save({**tiny_deepbooru_state_dict(TAGS, []), "extra": RunsCode(marker)}, path)
    assert "weights-only" in refused(path).reason
    assert not marker.exists()


@pytest.mark.parametrize(("state", "reason"), [
    ({"conv.weight": torch.zeros(1, 1, 1, 1)}, "not a DeepDanbooru model (model-resnet_custom_v3): missing "
                                               "n_Conv_0.weight, n_Conv_0.bias, n_Conv_1.weight and 354 more"),
    ({"params_ema": {"a": torch.zeros(1)}}, "missing n_Conv_0.weight"),
])
def test_a_file_of_another_model_is_refused_naming_what_is_missing(tmp_path, state, reason):
    path = tmp_path / DEEPBOORU_FOLDER / "GFPGANv1.4.pt"
    path.parent.mkdir()
    torch.save(state, path)
    assert reason in refused(path).reason


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, object]:
    return dict(tiny_deepbooru_state_dict(TAGS, []))


def refused_state(state: dict[str, object]) -> str:
    with pytest.raises(DeepBooruRefused) as raised:
        network_from_state_dict(state, "torch_deepdanbooru/x.pt")
    assert raised.value.file == "torch_deepdanbooru/x.pt"
    return raised.value.reason


def test_a_state_dict_without_its_tag_list_or_with_the_wrong_count_is_refused(tiny_state):
    assert "its 'tags' entry is not a list of tag names" in refused_state(
        {key: value for key, value in tiny_state.items() if key != "tags"})
    assert "not a list of tag names" in refused_state(tiny_state | {"tags": ["1girl", 5, "smile", "x"]})
    assert refused_state(tiny_state | {"tags": TAGS[:3]}) == "3 tag names for 4 outputs"


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("n_Conv_3.weight", torch.zeros(2, 2, 1, 1), "n_Conv_3.weight is (2, 2, 1, 1), expected (2, 2, 3, 3)"),  # a 3×3
    # the input of n_Conv_5 is the previous block's 4 channels
    ("n_Conv_5.weight", torch.zeros(2, 5, 1, 1), "n_Conv_5.weight is (2, 5, 1, 1), expected (2, 4, 1, 1)"),
    ("n_Conv_178.bias", torch.zeros(len(TAGS)), "unexpected keys n_Conv_178.bias"),
    ("n_Conv_2.weight", torch.zeros(2, 4), "n_Conv_2.weight is not a convolution's 4-D weight"),
])
def test_shapes_that_do_not_fit_the_topology_or_extra_keys_are_refused(tiny_state, key, value, reason):
    assert reason in refused_state(tiny_state | {key: value})


def test_a_truncated_file_and_a_safetensors_file_are_refused(tmp_path):
    path = write_tiny_deepbooru(tmp_path / DEEPBOORU_FOLDER / DEEPBOORU_FILE, TAGS, [])
    path.write_bytes(path.read_bytes()[:2000])
    assert "corrupt or truncated" in refused(path).reason
    other = tmp_path / DEEPBOORU_FOLDER / "model.safetensors"
    other.write_bytes(b"{}")
    assert "DeepDanbooru files are .pt pickles" in refused(other).reason


def test_the_file_is_found_as_a1111_finds_it(tmp_path):
    folder = tmp_path / DEEPBOORU_FOLDER
    assert find_deepbooru_file(tmp_path) is None
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("not a model")
    assert find_deepbooru_file(tmp_path) is None
    (folder / "sub" / "b.pt").write_bytes(b"")
    (folder / "z.pt").write_bytes(b"")
    assert find_deepbooru_file(tmp_path) == folder / "sub" / "b.pt"  # any .pt under the folder, as A1111
    (folder / DEEPBOORU_FILE).write_bytes(b"")
    assert find_deepbooru_file(tmp_path) == folder / DEEPBOORU_FILE
