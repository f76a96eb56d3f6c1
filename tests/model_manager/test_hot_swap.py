"""Hot swap: same-architecture checkpoints are swapped into the resident pipeline, cache hits are pointer flips,
and a checkpoint that leaves the cache leaves nothing behind."""

import gc
import random
import warnings
import weakref

import numpy as np
import pytest
import torch

from tests.support import copy_checkpoint
from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.request import GenerationRequest
from webui.engine.samplers import default_sampler_table
from webui.model_manager.demo import TinySD1Spec, write_tiny_checkpoint
from webui.model_manager.manager import ModelManager, ModelSources
from webui.model_manager.weight_cache import WeightCache

REQUEST = GenerationRequest(prompt="a cat", sampler_name="Euler a", steps=2, width=64, height=64, seed=9)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_checkpoint):
    folder = tmp_path_factory.mktemp("swap") / "Stable-diffusion"
    folder.mkdir()
    copy_checkpoint(tiny_checkpoint, folder / "a.safetensors")
    write_tiny_checkpoint(folder / "b.safetensors", TinySD1Spec(seed=11))
    write_tiny_checkpoint(folder / "wide.safetensors", TinySD1Spec(model_channels=64, seed=12))
    return folder


def make_manager(folder, plan, entries: int) -> ModelManager:
    manager = ModelManager(ModelSources((folder,)), plan, hash_cache=None,
                           cache=WeightCache(max_bytes=2**40, max_entries=entries))
    manager.refresh()
    return manager


def live_tensor_bytes() -> int:
    gc.collect()
    total = 0
    with warnings.catch_warnings():  # isinstance() on some torch module objects warns about deprecated aliases
        warnings.simplefilter("ignore", FutureWarning)
        for obj in gc.get_objects():
            if isinstance(obj, torch.Tensor) and not obj.is_meta:
                total += obj.untyped_storage().nbytes()
    return total


def image_from(manager: ModelManager) -> np.ndarray:
    engine = GenerationEngine(manager, default_sampler_table(), rng=random.Random(0))
    return np.asarray(engine.generate(REQUEST, InfotextOptions()).images[0].image)


def test_same_architecture_swaps_in_place_and_matches_a_fresh_load(folder, cpu_plan):
    manager = make_manager(folder, cpu_plan, entries=2)
    first = manager.load("a.safetensors")
    unet = first.pipeline.unet
    second = manager.load("b.safetensors")
    assert second.pipeline is first.pipeline and second.pipeline.unet is unet  # nothing rebuilt
    swapped_image = image_from(manager)

    fresh = make_manager(folder, cpu_plan, entries=1)
    fresh.load("b.safetensors")
    assert np.array_equal(swapped_image, image_from(fresh))


def test_cache_hit_is_immediate_and_gives_the_same_image(folder, cpu_plan):
    manager = make_manager(folder, cpu_plan, entries=2)
    manager.load("a.safetensors")
    image_a = image_from(manager)
    manager.load("b.safetensors")
    back = manager.load("a.safetensors")
    assert back.from_cache and back.load_seconds < 0.5
    assert np.array_equal(image_from(manager), image_a)
    assert manager.cache.keys() == [str(folder / "b.safetensors"), str(folder / "a.safetensors")]


def test_a_different_architecture_rebuilds_the_pipeline(folder, cpu_plan):
    manager = make_manager(folder, cpu_plan, entries=2)
    narrow = manager.load("a.safetensors")
    wide = manager.load("wide.safetensors")
    assert wide.pipeline is not narrow.pipeline
    assert wide.pipeline.unet.config.block_out_channels == [64, 128]
    assert image_from(manager).shape == (64, 64, 3)


def test_an_evicted_checkpoint_leaves_nothing_behind(folder, cpu_plan):
    manager = make_manager(folder, cpu_plan, entries=1)
    manager.load("a.safetensors")
    a_weight = weakref.ref(manager.loaded.pipeline.unet.conv_in.weight)
    a_cached = weakref.ref(manager.cache.get(str(folder / "a.safetensors")).weights["unet"]["conv_in.weight"])
    manager.load("b.safetensors")
    assert a_weight() is None and a_cached() is None  # freed by reference counting, no GC pass needed
    assert manager.cache.keys() == [str(folder / "b.safetensors")]


def test_a_hundred_switches_do_not_grow_memory(folder, cpu_plan):
    manager = make_manager(folder, cpu_plan, entries=1)  # every switch reads from disk and evicts the other
    for name in ("a.safetensors", "b.safetensors"):
        manager.load(name)
    baseline = live_tensor_bytes()
    for index in range(100):  # ~0.1 s each at this size
        manager.load("a.safetensors" if index % 2 == 0 else "b.safetensors")
    assert live_tensor_bytes() <= baseline * 1.01


def test_cache_respects_its_byte_budget(folder, cpu_plan):
    manager = make_manager(folder, cpu_plan, entries=5)
    manager.load("a.safetensors")
    one_model = manager.cache.total_bytes()
    manager.cache.configure(max_bytes=int(one_model * 1.5))
    manager.load("b.safetensors")
    assert manager.cache.keys() == [str(folder / "b.safetensors")]
    assert manager.cache.total_bytes() <= one_model * 1.5
