"""The worker's job: generate with the engine, save images and A1111 grids where the settings say."""

import random
from datetime import date

from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.request import GenerationRequest, Img2ImgInput
from webui.engine.samplers import default_sampler_table
from webui.infotext.png import read_infotext
from webui.jobs.generation import GenerationService, GridOptions, JobOptions
from webui.jobs.job import Job
from webui.storage.outputs import ImageSaver, SaveOptions


def service_for(loaded_manager, root, **grid_options):
    options = JobOptions(
        infotext=InfotextOptions(), save=SaveOptions(root / "txt2img-images"),
        save_img2img=SaveOptions(root / "img2img-images"), clip_skip=2,
        grids=GridOptions(txt2img=SaveOptions(root / "txt2img-grids"), img2img=SaveOptions(root / "img2img-grids"),
                          **grid_options))
    engine = GenerationEngine(loaded_manager, default_sampler_table(), rng=random.Random(2))
    return GenerationService(engine, ImageSaver(), lambda: options)


def run(service, **fields):
    values = {"prompt": "a cat", "sampler_name": "Euler", "steps": 2, "width": 64, "height": 64, "seed": 9}
    values.update(fields)
    return service.run(Job(GenerationRequest(**values), "tester"))


def test_a_batch_makes_a_grid_and_single_images_do_not(loaded_manager, tmp_path):
    service = service_for(loaded_manager, tmp_path)
    output = run(service, batch_size=2, batch_count=2)
    today = date.today().isoformat()
    assert output.grid is not None and output.grid.path == tmp_path / "txt2img-grids" / today / "grid-0000.png"
    assert read_infotext(output.grid.path) == output.images[0].infotext
    assert "Clip skip: 2" in output.images[0].infotext  # the setting applies when the request names none
    from PIL import Image

    with Image.open(output.grid.path) as grid:
        assert grid.size == (128, 128)  # 4 images, 2 rows
    assert run(service).grid is None  # grid_only_if_multiple


def test_img2img_goes_to_its_folders_and_grids_can_be_off(loaded_manager, tmp_path):
    from PIL import Image

    service = service_for(loaded_manager, tmp_path, save=False)
    output = run(service, batch_size=2, img2img=Img2ImgInput(Image.new("RGB", (64, 64)), denoising_strength=0.5))
    assert output.grid is None
    assert all(image.path.parent.parent == tmp_path / "img2img-images" for image in output.images)
