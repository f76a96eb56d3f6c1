"""The Extras service: runs on the device thread, saves as A1111 names Extras files (with the source's chunks and
the post-processing infotext), reports progress per tile and stops between tiles on Interrupt."""

import pytest
from PIL import Image

from tests.support.upscaler_files import rrdb_old_layout, write_pth
from webui.engine.extras_request import ExtrasRequest
from webui.engine.upscale import UpscalerRegistry
from webui.infotext.png import png_bytes_with_infotext, read_png_text_chunks
from webui.jobs.device import DeviceThread
from webui.jobs.extras import ExtrasInput, ExtrasOptions, ExtrasRun, ExtrasService, images_in_folder
from webui.model_manager.upscalers import UpscalerLibrary


@pytest.fixture
def service(tmp_path):
    write_pth(tmp_path / "ESRGAN" / "4x-Tiny.pth", rrdb_old_layout())
    library = UpscalerLibrary({"ESRGAN": tmp_path / "ESRGAN"})
    library.refresh()
    device = DeviceThread("test-device")
    options = {"value": ExtrasOptions(tmp_path / "outputs" / "extras-images")}
    yield ExtrasService(UpscalerRegistry(library, lambda: (16, 4)), device, lambda: options["value"]), options
    device.shutdown()


def with_chunk(image: Image.Image, infotext: str | None) -> Image.Image:
    import io

    opened = Image.open(io.BytesIO(png_bytes_with_infotext(image, infotext)))
    opened.load()
    return opened


def test_a_run_saves_numbered_and_named_files_with_chunks(service, tmp_path):
    extras, _options = service
    request = ExtrasRequest(upscaling_resize=2, upscaler_1="4x-Tiny")
    source = with_chunk(Image.new("RGB", (24, 16), (90, 10, 10)), "a cat\nSteps: 2")
    run = extras.run(ExtrasRun(request, [ExtrasInput(source)], owner="me"))
    (single,) = run.outputs
    assert run.error is None and single.path.name == "00000.png" and single.image.size == (48, 32)
    infotext = "Postprocess upscale by: 2, Postprocess upscaler: 4x-Tiny"
    assert read_png_text_chunks(single.path) == {"parameters": "a cat\nSteps: 2", "postprocessing": infotext,
                                                 "extras": infotext}
    batch = extras.run(ExtrasRun(request, [ExtrasInput(source, "cat.png"), ExtrasInput(source, "cat.png")], "me"))
    assert [output.path.name for output in batch.outputs] == ["cat.png", "cat-1.png"]  # never overwritten
    assert batch.progress.fraction == 1.0


def test_settings_decide_chunks_and_names(service):
    extras, options = service
    options["value"] = ExtrasOptions(options["value"].folder, embed_infotext=False, use_original_name=False)
    run = extras.run(ExtrasRun(ExtrasRequest(upscaler_1="Lanczos"), [ExtrasInput(Image.new("RGB", (8, 8)), "x.png")],
                               "me"))
    (output,) = run.outputs
    assert output.path.name == "00000.png" and read_png_text_chunks(output.path) == {}
    unsaved = extras.run(ExtrasRun(ExtrasRequest(upscaler_1="Lanczos"), [ExtrasInput(Image.new("RGB", (8, 8)))],
                                   "api", save=False))
    assert unsaved.outputs[0].path is None and len(list(output.path.parent.iterdir())) == 1


def test_interrupt_stops_between_tiles_and_keeps_finished_images(service):
    extras, _options = service
    request = ExtrasRequest(upscaling_resize=2, upscaler_1="4x-Tiny")
    small, large = Image.new("RGB", (8, 8), "white"), Image.new("RGB", (64, 64), "gray")  # 1 tile, then 5 × 5
    answers = []

    class PressInterruptAtTileTwo(ExtrasRun):
        """Presses Interrupt (as another thread would) the moment the second image's second tile is reported."""

        def update(self, **changes):
            super().update(**changes)
            progress = changes.get("progress")
            if progress is not None and progress.image_index == 1 and progress.tile == 2 and not answers:
                answers.append((extras.interrupt(owner="someone-else"), extras.interrupt(owner="browser-1")))

    run = extras.run(PressInterruptAtTileTwo(request, [ExtrasInput(small), ExtrasInput(large)], owner="browser-1"))
    assert answers == [(0, 1)]  # only the owner's runs are interrupted
    assert run.interrupted and run.error is None
    assert len(run.outputs) == 1 and run.outputs[0].image.size == (16, 16)
    assert (run.progress.image_index, run.progress.tile, run.progress.tiles) == (1, 2, 25)  # no tile after it
    assert extras.active() == []


def test_unknown_upscaler_fails_before_anything_runs(service):
    extras, _options = service
    with pytest.raises(LookupError, match="upscaler 'Missing' is not one of: None, Lanczos, Nearest, 4x-Tiny"):
        extras.start(ExtrasRun(ExtrasRequest(upscaler_1="Missing"), [ExtrasInput(Image.new("RGB", (8, 8)))], "me"))
    assert extras.active() == []


def test_folder_source_reads_images_only(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "b.png")
    Image.new("RGB", (8, 8)).save(folder / "a.jpg")
    (folder / "notes.txt").write_text("x")
    (folder / "broken.png").write_bytes(b"not a png")
    assert [item.name for item in images_in_folder(folder)] == ["a.jpg", "b.png"]
    with pytest.raises(ValueError, match="does not exist"):
        images_in_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        images_in_folder(tmp_path / "empty")
