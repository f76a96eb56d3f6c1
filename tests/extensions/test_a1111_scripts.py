"""A1111 scripts and loading surfaces, with small extensions written for these tests (tests/extensions/
a1111_samples): an always-visible `process` script rewriting the prompt, a `postprocess_image` script replacing
the image, a selectable `run` script calling `process_images`, and a Gradio 3-style tab. Jobs run on the tiny
model through the real queue."""

from __future__ import annotations

import io
import json
import shutil
import threading
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from tests.support import copy_checkpoint
from webui.engine.request import GenerationRequest
from webui.extensions.a1111_processing import UnsupportedByKestrel
from webui.extensions.registry import Status
from webui.jobs.tasks import wait_result
from webui.ui.extension_tabs import build_extension_tabs, collect_a1111_tabs
from webui.ui.script_accordions import build_script_accordions

SAMPLES = Path(__file__).resolve().parent / "a1111_samples"
SMALL = {"sampler_name": "Euler", "steps": 2, "width": 64, "height": 64, "seed": 11, "save_images": True}


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_checkpoint):
    from webui.app_context import build_app
    from webui.config.flags import CommandLineOptions

    data = tmp_path_factory.mktemp("a1111-scripts")
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")
    for name in ("gradio3_tab", "painter", "promptlist", "rewriter"):
        shutil.copytree(SAMPLES / name, data / "extensions" / name)
    app = build_app(CommandLineOptions(data_dir=data, device="cpu"), default_data_dir=data)
    app.start()
    yield app
    app.stop()


def run(app, owner="tester", **fields):
    return wait_result(app.submit_generation(GenerationRequest(**{**SMALL, **fields}), owner=owner))


def shim_of(app, name):
    return dict(app.extensions.a1111_shims())[name]


def script_of(app, name, tab="txt2img"):
    return next(loaded for shim, loaded in app.extensions.a1111_scripts()
                if loaded.extension == name and loaded.is_img2img == (tab == "img2img"))


def test_all_samples_load(app):
    for record in app.extensions.records():
        assert (record.status, record.failures) == (Status.LOADED, []), record.failures


def test_the_loading_surfaces(app):
    seen = json.loads((app.paths.extensions / "gradio3_tab" / "seen.json").read_text())
    assert seen == {"basedir": str(app.paths.extensions / "gradio3_tab"), "sibling": "a sibling in scripts/",
                    "helper": "from the extension's own folder", "embeddings_dir": str(app.paths.embeddings),
                    "lora_dir": str(app.paths.lora), "gradio_auth": None, "models_path": str(app.paths.models),
                    "script_path": str(app.paths.root), "callbacks_alias": True, "read_info": True}
    import sys

    assert str(app.paths.extensions / "gradio3_tab") not in sys.path  # only while its code runs
    assert "scripts.sibling" not in sys.modules  # kept with its extension, not for everyone
    assert sys.modules["gradio"] is gr and not any(name.startswith("modules") for name in sys.modules)


def test_app_started_then_model_loaded(app):
    from fastapi import APIRouter

    router = APIRouter()
    shim_of(app, "gradio3_tab").call_app_started(None, router)
    assert "/gradio3-tab/seen" in {route.path for route in router.routes}
    record = app.models.checkpoints()[0]
    model = (app.paths.extensions / "gradio3_tab" / "model.txt").read_text()
    assert model == f"{record.title} {record.sha256[:10]}"


def test_opts_write_validates_persists_and_calls_onchange(app):
    shim = shim_of(app, "gradio3_tab")
    shim.opts.gradio3_word = "heron"
    assert app.settings.get("gradio3_word") == "heron"
    assert (app.paths.extensions / "gradio3_tab" / "changed.txt").read_text() == "heron"  # its onchange ran
    assert json.loads(app.paths.config_file.read_text())["gradio3_word"] == "heron"
    assert shim.opts.set("gradio3_tabs", ["two"]) is True and app.settings.get("gradio3_tabs") == ["two"]
    with pytest.raises(ValueError, match="'three' not among one, two"):
        shim.opts.set("gradio3_tabs", ["three"])
    assert shim.opts.set("no_such_option", 1) is False


def test_the_gradio3_tab_builds_through_the_adapter(app):
    tabs = collect_a1111_tabs(app.extensions)
    with gr.Blocks() as page, gr.Tabs():
        build_extension_tabs(app.extensions, tabs)
    assert "tab_gradio3_tab" in [block.elem_id for block in page.blocks.values() if isinstance(block, gr.Tab)]
    image = next(block for block in page.blocks.values() if getattr(block, "elem_id", None) == "gradio3_image")
    assert image.sources == ["upload"]
    assert {fn.js for fn in page.fns.values()} >= {"(x) => x"}
    notes = shim_of(app, "gradio3_tab").adapter_notes
    assert {"gr.Box → gr.Group", "_js= → js=", "Blocks(variant=...) dropped (not in Gradio 6)"} <= set(notes)
    assert app.extensions.record("gradio3_tab").failures == []


def test_on_after_component_sees_the_pages_components(app):
    from webui.ui.extension_tabs import call_after_component

    with gr.Blocks() as page:
        gr.Textbox(elem_id="txt2img_prompt")
        gr.Textbox(elem_id="something_else")
        call_after_component(app.extensions, page)
    assert [fn.js for fn in page.fns.values()] == [
        "() => { document.documentElement.dataset.gradio3Prompt = 'changed'; }"]


def test_script_accordions_and_the_script_dropdown(app):
    with gr.Blocks():
        dropdown = gr.Dropdown(["None"], value="None", label="Script")
        mounted = build_script_accordions(app, "txt2img", dropdown)
    assert [item.title for item in mounted.always_on] == ["Painter", "Prompt rewriter"]
    assert [item.title for item in mounted.selectable] == ["Prompts from lines"]
    assert [choice[0] for choice in dropdown.choices] == ["None", "Prompts from lines"]
    assert script_of(app, "rewriter").defaults == ("in watercolour",)


def test_process_rewrites_the_prompt_and_postprocess_image_replaces_the_image(app):
    output = run(app, prompt="a lighthouse", batch_size=2)
    first = output.images[0]
    assert first.infotext.startswith("a lighthouse, in watercolour\nSteps: 2")
    assert "Rewriter: in watercolour" in first.infotext
    assert Image.open(io.BytesIO(first.png)).convert("RGB").getpixel((3, 3)) == (255, 0, 0)
    log = (app.paths.extensions / "painter" / "postprocessed.txt").read_text()
    assert log == "2 (255, 0, 0)\n"


def test_without_a_page_scripts_get_their_controls_defaults(app, tmp_path):
    from tests.support.extensions import app_for

    data = tmp_path / "data"
    shutil.copytree(SAMPLES / "rewriter", data / "extensions" / "rewriter")
    headless = app_for(app, data).extensions  # no page built its UI (as with --nowebui)
    changed = headless.before_generation(GenerationRequest(prompt="a hill", **SMALL), owner="api")
    assert changed.prompt == "a hill, in watercolour"
    assert headless.record("rewriter").failures == []


def test_each_owner_gets_the_values_they_pressed_generate_with(app):
    app.extensions.script_args.store("alice", {script_of(app, "rewriter").key: ("at night",),
                                               script_of(app, "painter").key: (False,)})
    mine = run(app, owner="alice", prompt="a boat").images[0]
    assert mine.infotext.startswith("a boat, at night\n")
    assert Image.open(io.BytesIO(mine.png)).convert("RGB").getpixel((3, 3)) != (255, 0, 0)
    theirs = run(app, owner="bob", prompt="a boat").images[0]
    assert theirs.infotext.startswith("a boat, in watercolour\n")


def test_what_kestrel_cannot_honour_is_named_and_the_job_runs_on(app):
    rewriter = script_of(app, "rewriter")
    for suffix, named in (("per image", "different prompts or seeds per image"),
                          ("reach inside", "unsupported by Kestrel: sd_model.first_stage_model")):
        app.extensions.script_args.store("carol", {rewriter.key: (suffix,)})
        image = run(app, owner="carol", prompt="a tree", batch_size=2).images[0]
        assert image.infotext.startswith("a tree")
        failure = app.extensions.record("rewriter").failures[-1]
        assert named in failure.traceback, failure.traceback
    p = shim_of(app, "rewriter").make_p(GenerationRequest(**SMALL))
    with pytest.raises(UnsupportedByKestrel, match="unsupported by Kestrel: p.sampler"):
        p.sampler  # noqa: B018


def test_a_selectable_script_runs_process_images_per_line(app):
    loaded = script_of(app, "promptlist")
    shim = shim_of(app, "promptlist")
    p = shim.make_p(GenerationRequest(prompt="ignored", **SMALL), owner="dave")
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("processed", loaded.script.run(p, "a cat\na dog")))
    worker.start()
    worker.join(timeout=300)
    processed = result["processed"]
    assert len(processed.images) == 2
    saved = [Path(image.info["kestrel_saved_path"]) for image in processed.images]  # what the page's gallery shows
    assert all(path.is_file() and path.is_relative_to(app.paths.outputs) for path in saved)
    assert [text.split("\n")[0] for text in processed.infotexts] == ["a cat, in watercolour", "a dog, in watercolour"]
    with pytest.raises(RuntimeError, match="cannot run inside a job"):
        app.backend.call(shim.process_images, p)
