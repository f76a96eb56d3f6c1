"""ControlNet fixtures: tiny random ControlNets in every file layout users have, and an engine that uses them."""

import random

import pytest
from PIL import Image, ImageDraw

from tests.support.controlnet_files import LAYOUTS, tiny_controlnet, write_controlnet
from webui.engine.controlnet.preprocessors import default_registry
from webui.engine.controlnet.service import ControlNetService
from webui.engine.generate import GenerationEngine
from webui.engine.samplers import default_sampler_table
from webui.model_manager.controlnet_models import ControlNetModels

# file name → layout; "control_v11p_sd15_canny.pth" is lllyasviel's original layout, as users have it
FILES = {"control_v11p_sd15_canny.pth": "ldm.pth", "control_sd15_scribble.pth": "ldm-prefixed.pth",
         "control_v11f1e_sd15_tile_fp16.safetensors": "ldm-fp16.safetensors",
         "diffusers_controlnet_depth.safetensors": "diffusers.safetensors"}
assert sorted(FILES.values()) == sorted(LAYOUTS)


@pytest.fixture(scope="session")
def controlnet_folder(tmp_path_factory, tiny_spec):
    folder = tmp_path_factory.mktemp("cn") / "models" / "ControlNet"
    model = tiny_controlnet(tiny_spec)
    for name, layout in FILES.items():
        write_controlnet(folder / name, model, layout)
    write_controlnet(folder / "second_sd15_lineart.pth", tiny_controlnet(tiny_spec, seed=8), "ldm.pth")
    write_controlnet(folder / "control_xl_canny.safetensors", tiny_controlnet(tiny_spec, cross_attention_dim=48),
                     "diffusers.safetensors")
    return folder


@pytest.fixture(scope="session")
def controlnet_service(controlnet_folder):
    return ControlNetService(ControlNetModels([controlnet_folder]), default_registry([]))


@pytest.fixture(scope="module")
def cn_engine(loaded_manager, controlnet_service):
    return GenerationEngine(loaded_manager, default_sampler_table(), rng=random.Random(7),
                            controlnet=controlnet_service)


@pytest.fixture(scope="session")
def control_image():
    image = Image.new("RGB", (64, 64), (0, 0, 0))
    ImageDraw.Draw(image).rectangle((16, 20, 44, 48), fill=(255, 255, 255))
    return image

