"""The Extras service as the runner of EXTRAS jobs in the shared queue: saves as A1111 names Extras files (with the
source's chunks and the post-processing infotext), reports progress per tile and stops between tiles on Interrupt
(the job's cancel, by owner)."""

import pytest
from PIL import Image

from tests.support.upscaler_files import rrdb_old_layout, write_pth
from webui.engine.extras_request import ExtrasRequest
from webui.engine.upscale import UpscalerRegistry
from webui.infotext.png import png_bytes_with_infotext, read_png_text_chunks
from webui.jobs.backend import LocalBackend, RunnerRegistry
from webui.jobs.extras import ExtrasInput, ExtrasOptions, ExtrasService, ExtrasSpec, images_in_folder
from webui.jobs.job import JobKind, JobState
from webui.jobs.queue import JobQueue
from webui.jobs.tasks import wait_result
from webui.model_manager.upscalers import UpscalerLibrary


class Extras:
    """The service behind a real queue and device thread, as the App wires it."""

    def __init__(self, service: ExtrasService) -> None:
        self.service = service
        runners = RunnerRegistry()
        runners.register(JobKind.EXTRAS, service.run)
        self.backend = LocalBackend(runners)
        self.queue = JobQueue(self.backend)
        self.queue.start()

    def submit(self, spec: ExtrasSpec, owner: str = "me"):
        self.service.check(spec.request)
        return self.queue.submit(spec, owner, kind=JobKind.EXTRAS)

    def run(self, spec: ExtrasSpec, owner: str = "me"):
        return wait_result(self.submit(spec, owner), timeout=120)


@pytest.fixture
def service(tmp_path):
    write_pth(tmp_path / "ESRGAN" / "4x-Tiny.pth", rrdb_old_layout())
    library = UpscalerLibrary({"ESRGAN": tmp_path / "ESRGAN"})
    library.refresh()
    options = {"value": ExtrasOptions(tmp_path / "outputs" / "extras-images")}
    extras = Extras(ExtrasService(UpscalerRegistry(library, lambda: (16, 4)), lambda: options["value"]))
    yield extras, options
    extras.queue.stop()
    extras.backend.shutdown()


def with_chunk(image: Image.Image, infotext: str | None) -> Image.Image:
    import io

    opened = Image.open(io.BytesIO(png_bytes_with_infotext(image, infotext)))
    opened.load()
    return opened


def test_a_run_saves_numbered_and_named_files_with_chunks(service, tmp_path):
    extras, _options = service
    request = ExtrasRequest(upscaling_resize=2, upscaler_1="4x-Tiny")
    source = with_chunk(Image.new("RGB", (24, 16), (90, 10, 10)), "a cat\nSteps: 2")
    run = extras.run(ExtrasSpec(request, (ExtrasInput(source),)))
    (single,) = run.outputs
    assert single.path.name == "00000.png" and single.image.size == (48, 32)
    infotext = "Postprocess upscale by: 2, Postprocess upscaler: 4x-Tiny"
    assert read_png_text_chunks(single.path) == {"parameters": "a cat\nSteps: 2", "postprocessing": infotext,
                                                 "extras": infotext}
    job = extras.submit(ExtrasSpec(request, (ExtrasInput(source, "cat.png"), ExtrasInput(source, "cat.png"))))
    batch = wait_result(job, timeout=120)
    assert [output.path.name for output in batch.outputs] == ["cat.png", "cat-1.png"]  # never overwritten
    assert job.snapshot().progress.fraction == 1.0 and job.snapshot().kind is JobKind.EXTRAS


def test_settings_decide_chunks_and_names(service):
    extras, options = service
    options["value"] = ExtrasOptions(options["value"].folder, embed_infotext=False, use_original_name=False)
    run = extras.run(ExtrasSpec(ExtrasRequest(upscaler_1="Lanczos"), (ExtrasInput(Image.new("RGB", (8, 8)), "x.png"),)))
    (output,) = run.outputs
    assert output.path.name == "00000.png" and read_png_text_chunks(output.path) == {}
    unsaved = extras.run(ExtrasSpec(ExtrasRequest(upscaler_1="Lanczos"), (ExtrasInput(Image.new("RGB", (8, 8))),),
                                    save=False), owner="api")
    assert unsaved.outputs[0].path is None and len(list(output.path.parent.iterdir())) == 1


def test_interrupt_stops_between_tiles_and_keeps_finished_images(service):
    extras, _options = service
    request = ExtrasRequest(upscaling_resize=2, upscaler_1="4x-Tiny")
    small, large = Image.new("RGB", (8, 8), "white"), Image.new("RGB", (64, 64), "gray")  # 1 tile, then 5 × 5
    answers, pressed = [], []

    def press_interrupt_at_tile_two(run_job):
        """Presses Interrupt (as another client would) the moment the second image's second tile is reported."""
        progress = run_job.snapshot().progress
        if progress.batch_index == 1 and progress.step == 2 and not pressed:
            pressed.append(True)
            answers.append((extras.queue.cancel_owned_by("someone-else"), extras.queue.cancel_owned_by("browser-1")))

    job = extras.submit(ExtrasSpec(request, (ExtrasInput(small), ExtrasInput(large))), owner="browser-1")
    job.add_watcher(lambda: press_interrupt_at_tile_two(job))  # called after each change, on the worker
    run = wait_result(job, timeout=120)
    assert answers == [(0, 1)]  # only the owner's jobs are interrupted
    assert run.interrupted and job.snapshot().state is JobState.DONE
    assert len(run.outputs) == 1 and run.outputs[0].image.size == (16, 16)
    progress = job.snapshot().progress
    assert (progress.batch_index, progress.step, progress.total_steps) == (1, 2, 25)  # no tile after it
    assert extras.queue.snapshot_running() is None


def test_unknown_upscaler_fails_before_anything_runs(service):
    extras, _options = service
    with pytest.raises(LookupError, match="upscaler 'Missing' is not one of: None, Lanczos, Nearest, 4x-Tiny"):
        extras.submit(ExtrasSpec(ExtrasRequest(upscaler_1="Missing"), (ExtrasInput(Image.new("RGB", (8, 8))),)))
    assert extras.queue.queued_count() == 0


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
