"""A1111's noise: the NV source's Philox stream, per-image generators, variation seeds, seed resize and ENSD."""

import numpy as np
import pytest
import torch

from webui.engine.ksampling.noise import ImageNoise, VariationSeeds, default_noise_sources, slerp
from webui.engine.ksampling.philox import PhiloxGenerator

# The known-answer vector in A1111's rng_philox.py: Generator(seed=0).randn((3, 4)), which is what
# torch.randn((3, 4), device="cuda") gives after torch.manual_seed(0). CUDA's fast sinf/logf round the last bits
# differently from numpy, hence the tolerance.
CUDA_SEED_0 = np.array([[-0.92466259, -0.42534415, -2.6438457, 0.14518388],
                        [-0.12086647, -0.57972564, -0.62285122, -0.32838709],
                        [-1.07454231, -0.36314407, -1.67105067, 2.26550497]], dtype=np.float32)


def test_philox_reproduces_cudas_randn():
    np.testing.assert_allclose(PhiloxGenerator(0).randn((3, 4)), CUDA_SEED_0, atol=1e-6)


def test_philox_calls_advance_the_offset_and_seeds_differ():
    generator = PhiloxGenerator(1234)
    first, second = generator.randn((2, 8)), generator.randn((2, 8))
    assert not np.array_equal(first, second)
    assert np.array_equal(first, PhiloxGenerator(1234).randn((2, 8)))
    assert not np.array_equal(first, PhiloxGenerator(1235).randn((2, 8)))
    values = PhiloxGenerator(7).randn((100_000,))
    assert abs(values.mean()) < 0.02 and abs(values.std() - 1) < 0.02


SHAPE = (4, 8, 8)


def _noise(seeds, source="CPU", **kwargs) -> ImageNoise:
    return ImageNoise(SHAPE, seeds, default_noise_sources().get(source), torch.device("cpu"), **kwargs)


def test_each_image_draws_from_its_own_seed_then_continues_its_generator():
    noise = _noise([5, 6])
    first, second = noise.first(), noise.next()
    generator = torch.Generator().manual_seed(6)
    assert torch.equal(first[1], torch.randn(SHAPE, generator=generator))
    assert torch.equal(second[1], torch.randn(SHAPE, generator=generator))
    assert torch.equal(_noise([6]).first()[0], first[1])  # image 2 of a batch is the image its seed makes alone


def test_gpu_source_is_the_cpu_generator_on_a_machine_without_cuda():
    assert torch.equal(_noise([9], "GPU").first(), _noise([9], "CPU").first())


def test_nv_source_draws_philox_numbers():
    assert np.array_equal(_noise([0], "NV").first()[0].numpy(), PhiloxGenerator(0).randn(SHAPE))


def test_ensd_reseeds_the_sampler_noise_but_not_the_initial_noise():
    plain, shifted = _noise([5]), _noise([5], seed_delta=31337)
    assert torch.equal(plain.first(), shifted.first())
    expected = torch.randn(SHAPE, generator=torch.Generator().manual_seed(5 + 31337))
    assert torch.equal(shifted.next()[0], expected)
    assert not torch.equal(plain.next(), shifted.next())


def test_variation_seed_slerps_towards_the_subseed():
    base = _noise([5]).first()[0]
    sub = _noise([77]).first()[0]
    mixed = _noise([5], variation=VariationSeeds((77,), 0.3)).first()[0]
    assert torch.allclose(mixed, slerp(0.3, base, sub))
    assert torch.allclose(_noise([5], variation=VariationSeeds((77,), 1.0)).first()[0], sub, atol=1e-5)
    assert not torch.allclose(mixed, base)


def test_seed_resize_pastes_the_smaller_noise_in_the_middle():
    noise = _noise([5], variation=VariationSeeds(resize_from=(32, 32))).first()[0]
    small = torch.randn((4, 4, 4), generator=torch.Generator().manual_seed(5))
    assert torch.equal(noise[:, 2:6, 2:6], small)
    around = torch.randn(SHAPE, generator=torch.Generator().manual_seed(5))
    assert torch.equal(noise[:, 0, :], around[:, 0, :])


@pytest.mark.parametrize("source", ["GPU", "CPU", "NV"])
def test_sources_are_registered_under_a1111s_names(source):
    assert default_noise_sources().get(source).name == source
