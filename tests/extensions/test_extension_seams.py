"""Extension API v2 on the real path: an extension written into the data dir adds a pipeline variant, a
conditioning step and a post-processor; each is seen to run (pixels, infotext, files), and one of each kind that
raises is skipped with its traceback on the extension while the job completes."""

import io
import textwrap

import numpy as np
import pytest
from PIL import Image

from tests.support import copy_checkpoint
from tests.support.extensions import write_extension
from webui.app_context import build_app
from webui.config.flags import CommandLineOptions
from webui.engine.request import GenerationRequest
from webui.extensions import api
from webui.extensions.context import KestrelExtensionContext
from webui.extensions.registry import Status
from webui.infotext.png import read_infotext

SMALL = {"sampler_name": "Euler", "steps": 2, "width": 64, "height": 64, "seed": 5, "save_images": True}

SEAMS = textwrap.dedent('''
    from PIL import Image

    from webui.extensions import api

    FLAT = (10, 200, 30)


    class FlatVariant:
        """Answers prompts starting with 'flat:' with one flat picture per seed (no diffusers call at all)."""

        needs = api.VariantNeeds("StableDiffusionPipeline")

        def applies(self, request):
            return request.prompt.startswith("flat:")

        def run(self, batch):
            return [Image.new("RGB", (batch.request.width, batch.request.height), FLAT) for _ in batch.seeds]


    class BrokenVariant:
        needs = api.VariantNeeds("StableDiffusionPipeline")

        def applies(self, request):
            return request.prompt.startswith("boom:")

        def run(self, batch):
            raise RuntimeError("variant exploded on purpose")


    def setup(ctx):
        def corner(target):
            if target.generation is None:
                return None
            image = target.image.copy()
            image.paste((255, 0, 255), (0, 0, 8, 8))
            return api.PostprocessResult(image, (("Corner mark", "magenta"),))

        def silence(event):
            (ctx.data_dir / "conditioning.txt").write_text(f"{len(event.positive)} {event.hires}")
            if "silence" not in event.request.prompt:
                return None
            return api.ConditioningChange(positive=tuple(vectors * 0 for vectors in event.positive))

        def broken_post(target):
            raise ValueError("post-processor exploded on purpose")

        def broken_step(event):
            return api.ConditioningChange(positive=(event.positive[0][:1],))  # wrong shape: skipped

        ctx.add_pipeline_variant("flat", FlatVariant())
        ctx.add_pipeline_variant("boom", BrokenVariant())
        ctx.add_conditioning_step("silence", silence)
        ctx.add_conditioning_step("broken", broken_step)
        ctx.add_postprocessor("corner", corner)
        ctx.add_postprocessor("broken", broken_post, order=10)
''')


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("seams-data")
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")
    write_extension(data / "extensions" / "seams", 'name = "seams"\nversion = "0.1.0"\napi_version = 2\n', SEAMS)
    app = build_app(CommandLineOptions(data_dir=data, device="cpu"), default_data_dir=data)
    app.start()
    yield app
    app.stop()


def generate(app, prompt: str):
    return KestrelExtensionContext("tester", app).generate(GenerationRequest(prompt=prompt, **SMALL))


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def test_the_v2_extension_loads(app):
    assert api.API_VERSION == 2 and 2 in api.CHANGELOG
    assert app.extensions.record("seams").status is Status.LOADED


def test_the_postprocessor_changes_the_saved_pixels_and_writes_its_infotext_field(app):
    (image,) = generate(app, "a cat").images
    saved = np.asarray(Image.open(image.path).convert("RGB"), dtype=np.int16)
    assert (saved[:8, :8] == (255, 0, 255)).all() and not (saved[8:, 8:] == (255, 0, 255)).all()
    assert read_infotext(image.path) == image.infotext
    assert ", Corner mark: magenta, Version: " in image.infotext


def test_the_conditioning_step_runs_and_changes_the_embeddings(app):
    """Zeroed prompt embeddings make two different prompts give the very same image; untouched, they differ."""
    one, two = (pixels(generate(app, f"silence {word}").images[0].png) for word in ("one", "two"))
    assert (app.paths.root / "extensions-data" / "seams" / "conditioning.txt").read_text() == "1 False"
    assert np.array_equal(one, two)
    other_one, other_two = (pixels(generate(app, f"quiet {word}").images[0].png) for word in ("one", "two"))
    assert not np.array_equal(other_one, other_two)


def test_the_pipeline_variant_runs_the_requests_it_accepts(app):
    (image,) = generate(app, "flat: anything").images
    got = pixels(image.png)
    assert (got[8:, 8:] == (10, 200, 30)).all()  # the variant's picture, then the post-processor's corner
    assert (got[:8, :8] == (255, 0, 255)).all()


def test_each_raising_seam_is_skipped_recorded_and_the_job_completes(app):
    (image,) = generate(app, "boom: a cat").images  # the broken variant fails; the built-in txt2img runs
    assert pixels(image.png)[8:, 8:].std() > 0
    record = app.extensions.record("seams")
    stages = {failure.stage for failure in record.failures}
    assert {"pipeline variant hook", "post-processor hook", "conditioning step hook"} <= stages
    traces = "\n".join(failure.traceback for failure in record.failures)
    assert "variant exploded on purpose" in traces and "post-processor exploded on purpose" in traces
    assert "changed a positive tensor's shape" in traces
    assert record.status is Status.LOADED and record.hook_failures >= 3


def test_registering_a_name_twice_raises(app):
    context = KestrelExtensionContext("tester", app)
    context.add_postprocessor("x", lambda target: None)
    with pytest.raises(ValueError, match="already registered"):
        context.add_postprocessor("x", lambda target: None)
    with pytest.raises(TypeError, match="VariantNeeds"):
        context.add_pipeline_variant("v", object())


def test_the_corner_mark_example_loads_and_marks_generated_images_only(app, tmp_path):
    import shutil
    from pathlib import Path

    from tests.support.extensions import app_for

    data = tmp_path / "data"
    example = Path(__file__).resolve().parents[2] / "examples" / "extensions" / "corner-mark"
    shutil.copytree(example, data / "extensions" / "corner-mark")
    try:
        loaded = app_for(app, data)
        assert loaded.extensions.record("corner-mark").status is Status.LOADED
        (entry,) = loaded.extensions.postprocessors()
        assert entry.name == "corner-mark:mark"
        picture = Image.new("RGB", (16, 16), (0, 0, 0))
        result = entry.item.step(api.PostprocessInput(picture, generation=GenerationRequest(prompt="x")))
        got = np.asarray(result.image)
        assert (got[:8, :8] == (255, 0, 255)).all() and (got[8:, 8:] == 0).all()
        assert result.fields == (("Corner mark", 8),) and np.asarray(picture).max() == 0
        from webui.engine.extras_request import ExtrasRequest

        assert entry.item.step(api.PostprocessInput(picture, extras=ExtrasRequest())) is None
    finally:
        app.engine.seams.attach(app.extensions)  # app_for shares this module's engine: give it back its extensions
