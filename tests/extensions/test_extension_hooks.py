"""Hooks on the real generation path (isolated per call), generate() through the queue, and the HTTP routes."""

import dataclasses
import random

import pytest
from fastapi.testclient import TestClient

from tests.support import copy_checkpoint
from tests.support.extensions import install_fixtures
from webui.api.server import create_http_app, secure
from webui.app_context import build_app
from webui.config.flags import CommandLineOptions
from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.request import GenerationRequest
from webui.engine.samplers import default_sampler_table
from webui.extensions.context import KestrelExtensionContext
from webui.extensions.registry import Contributions, ExtensionRecord, Extensions, Status
from webui.infotext.format import add_parameters
from webui.infotext.png import read_infotext
from webui.jobs.generation import GenerationService, JobOptions
from webui.jobs.job import Job
from webui.security.setup import LoginFlags, build_accounts
from webui.storage.outputs import ImageSaver, SaveOptions

SMALL = {"sampler_name": "Euler", "steps": 2, "width": 64, "height": 64, "seed": 5}


def registry_with(tmp_path, **hooks):
    """A registry of one loaded extension per keyword: name=(before_hooks, image_hooks)."""
    extensions = Extensions()
    for name, (before, image) in hooks.items():
        extensions.add(ExtensionRecord(name, tmp_path / name, "kestrel", Status.LOADED),
                       Contributions(before_hooks=tuple(before), image_hooks=tuple(image)))
    return extensions


def service(loaded_manager, root, hooks):
    options = JobOptions(infotext=InfotextOptions(version="kestrel-test"), save=SaveOptions(root / "txt2img-images"))
    engine = GenerationEngine(loaded_manager, default_sampler_table(), rng=random.Random(1))
    return GenerationService(engine, ImageSaver(), lambda: options, hooks=hooks)


def test_a_raising_hook_is_skipped_for_that_call_and_recorded(tmp_path):
    def explode(event):
        raise ValueError("boom on purpose")

    def shout(event):
        return dataclasses.replace(event.request, prompt=event.request.prompt.upper())

    extensions = registry_with(tmp_path, bad=([explode, lambda event: "not a request"], []), fine=([shout], []))
    changed = extensions.before_generation(GenerationRequest(prompt="a cat", **SMALL), owner="ui")
    assert changed.prompt == "A CAT"
    bad = extensions.record("bad")
    assert bad.hook_failures == 2 and bad.status is Status.LOADED
    assert "boom on purpose" in bad.failures[0].traceback
    assert "must return a GenerationRequest" in bad.failures[1].traceback
    assert extensions.record("fine").failures == []


def test_before_hook_prompt_reaches_the_saved_png_and_image_hook_adds_a_field(loaded_manager, tmp_path):
    seen = []

    def rewrite(event):
        return dataclasses.replace(event.request, prompt=event.request.prompt.replace("cat", "fox"))

    def note(event):
        seen.append((event.index, event.seed, event.owner, event.request.prompt))
        return {"Watermark": "none", "Steps seen": event.request.steps}

    def bad_fields(event):
        return {"Bad: key": "x"}

    hooks = registry_with(tmp_path, one=([rewrite], [note]), two=([], [bad_fields]))
    job = Job(GenerationRequest(prompt="a cat", batch_size=2, **SMALL), "tester")
    output = service(loaded_manager, tmp_path, hooks).run(job)
    saved = read_infotext(output.images[0].path)
    assert saved == output.images[0].infotext
    assert saved.startswith("a fox\nSteps: 2, Sampler: Euler")
    assert saved.endswith(", Watermark: none, Steps seen: 2, Version: kestrel-test")
    assert seen == [(0, 5, "tester", "a fox"), (1, 6, "tester", "a fox")]
    assert hooks.record("two").hook_failures == 2 and "Bad: key" in hooks.record("two").failures[0].traceback


def test_add_parameters_keeps_version_last_and_never_overwrites():
    text = "a cat\nSteps: 2, Seed: 1, Version: v1"
    added = add_parameters(text, (("Mine", "a, b"), ("Seed", "9")))
    assert added == 'a cat\nSteps: 2, Seed: 1, Mine: "a, b", Version: v1'
    assert add_parameters("a cat\nSteps: 2, Seed: 1", (("Mine", "x"),)) == "a cat\nSteps: 2, Seed: 1, Mine: x"


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("hooks-data")
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")
    install_fixtures(data)
    app = build_app(CommandLineOptions(data_dir=data, device="cpu"), default_data_dir=data)
    app.start()
    yield app
    app.stop()


def test_generate_goes_through_the_queue_with_every_extensions_hooks(app):
    context = KestrelExtensionContext("tester", app)
    result = context.generate(GenerationRequest(prompt="a GOODTOKEN cat", save_images=True, **SMALL))
    assert app.jobs.get(result.job_id).owner == "extension:tester"
    (image,) = result.images
    assert image.infotext.startswith("a rewritten by good cat\nSteps: 2")
    assert ", Good extension: hello, Version: " in image.infotext
    assert read_infotext(image.path) == image.infotext
    assert (app.paths.root / "extensions-data" / "good" / f"seen-{image.seed}.txt").is_file()
    bad_hook = app.extensions.record("bad_hook")
    assert bad_hook.hook_failures >= 2 and bad_hook.status is Status.LOADED
    assert {failure.stage for failure in bad_hook.failures} == {"before-generation hook", "after-image hook"}


def test_generate_refuses_to_run_inside_a_job(app):
    context = KestrelExtensionContext("tester", app)
    with pytest.raises(RuntimeError, match="cannot be called from a hook"):
        app.backend.call(context.generate, GenerationRequest(prompt="x", **SMALL))


def test_model_lists(app):
    lists = KestrelExtensionContext("tester", app).models()
    assert lists.checkpoints == ("anime.safetensors [" + app.models.checkpoints()[0].short_hash + "]",)
    assert "Euler a" in lists.samplers and lists.vaes == () and lists.loras == ()


def test_routes_and_the_sdapi_listing(app):
    with TestClient(create_http_app(dataclasses.replace(app, options=CommandLineOptions(api=True)))) as client:
        assert client.get("/ext/good/hello").json() == {"greeting": "hello", "samplers": ["DPM++ 2M", "DPM++ SDE"]}
        assert client.get("/a1111-demo/word").json() == {"word": "bird", "has_demo": False}
        listed = client.get("/sdapi/v1/extensions").json()
    assert [entry["name"] for entry in listed] == ["a1111_style", "a1111_unsupported", "bad_hook", "broken_import",
                                                   "broken_setup", "good"]
    assert set(listed[0]) >= {"name", "remote", "branch", "commit_hash", "commit_date", "version", "enabled"}
    assert listed[-1]["version"] == "1.2.0" and listed[-1]["enabled"] is True
    states = {entry["name"]: (entry["status"], entry["kind"]) for entry in listed}
    assert states == {"a1111_style": ("loaded", "a1111"), "a1111_unsupported": ("unsupported", "a1111"),
                      "bad_hook": ("loaded", "kestrel"), "broken_import": ("failed", "kestrel"),
                      "broken_setup": ("failed", "kestrel"), "good": ("loaded", "kestrel")}
    unsupported = next(entry for entry in listed if entry["name"] == "a1111_unsupported")
    assert "modules.sd_hijack" in unsupported["message"] and unsupported["failures"] == ["import"]


def secured_client(app, **login_flags) -> TestClient:
    """The HTTP app behind the security gate, with the accounts these flags give."""
    accounts = build_accounts(LoginFlags(**login_flags), app.paths.root)
    secured = dataclasses.replace(app, options=CommandLineOptions(api=True), accounts=accounts)
    return TestClient(secure(create_http_app(secured), secured, file_roots=()))


def test_routes_ask_for_the_servers_logins(app):
    with secured_client(app, gradio_auth=(("user", "pass"),)) as client:
        for path in ("/ext/good/hello", "/a1111-demo/word"):
            assert client.get(path).status_code == 401
            assert client.get(path, auth=("user", "pass")).status_code == 200
            assert client.get(path, auth=("user", "wrong")).status_code == 401
    with secured_client(app, api_auth=(("bot", "key"),)) as client:  # --api-auth covers /ext like /sdapi
        refused = client.get("/ext/good/hello")
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
        assert client.get("/ext/good/hello", auth=("bot", "key")).status_code == 200


