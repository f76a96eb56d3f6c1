"""The interrogator registry's own rules, with fake interrogators: files checked before anything runs, the model
kept or released by A1111's setting, and a device out of memory answered on the CPU instead."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
from PIL import Image

from webui.engine.interrogate import InterrogateFiles, InterrogateModelMissing, UnknownInterrogator
from webui.engine.interrogators import InterrogateSpec, InterrogatorKind, Interrogators


@dataclass
class Recorder:
    built: list[str] = field(default_factory=list)
    unloaded: list[str] = field(default_factory=list)
    missing: list = field(default_factory=list)


def fake_kind(recorder: Recorder, fail_on_device: bool = False) -> InterrogatorKind:
    class Fake:
        def __init__(self, device: torch.device) -> None:
            self.device = device

        def interrogate(self, image: Image.Image, options) -> str:
            if fail_on_device and self.device.type != "cpu":
                raise torch.OutOfMemoryError("CUDA out of memory")
            return f"{image.mode} {image.size[0]} on {self.device.type} with {options}"

        def unload(self) -> None:
            recorder.unloaded.append(self.device.type)

    def build(files, device, dtype):
        recorder.built.append(f"{device.type}/{dtype}")
        return Fake(device)

    return InterrogatorKind(lambda files: list(recorder.missing), build, lambda setting: setting("opt"), ("opt",))


def interrogators(tmp_path, recorder, settings, device="cpu", fail_on_device=False) -> Interrogators:
    return Interrogators(InterrogateFiles(tmp_path), device, True, settings.get,
                         kinds={"fake": fake_kind(recorder, fail_on_device)})


def test_released_after_each_call_unless_kept(tmp_path):
    recorder, settings = Recorder(), {"opt": "x", "interrogate_keep_models_in_memory": False}
    service = interrogators(tmp_path, recorder, settings)
    spec = InterrogateSpec(Image.new("L", (9, 9)), "fake")
    assert service.run(spec) == "RGB 9 on cpu with x"  # made RGB, options read from the settings
    assert (recorder.built, recorder.unloaded, service.loaded()) == (["cpu/torch.float32"], ["cpu"], [])
    settings["interrogate_keep_models_in_memory"] = True
    service.run(spec)
    service.run(spec)
    assert len(recorder.built) == 2 and service.loaded() == ["fake"]
    service.release()
    assert service.loaded() == [] and recorder.unloaded == ["cpu", "cpu"]


def test_unknown_and_missing_are_refused_before_building(tmp_path):
    recorder = Recorder(missing=[tmp_path / "models" / "x.pt"])
    service = interrogators(tmp_path, recorder, {"opt": 1, "interrogate_keep_models_in_memory": False})
    with pytest.raises(UnknownInterrogator, match="'blip2' not found"):
        service.check("blip2")
    with pytest.raises(InterrogateModelMissing, match=r"x\.pt in .*models"):
        service.run(InterrogateSpec(Image.new("RGB", (4, 4)), "fake"))
    assert recorder.built == []


def test_out_of_device_memory_is_answered_on_the_cpu(tmp_path):
    recorder = Recorder()
    service = interrogators(tmp_path, recorder, {"opt": 2, "interrogate_keep_models_in_memory": True},
                            device="cuda", fail_on_device=True)
    assert service.run(InterrogateSpec(Image.new("RGB", (4, 4)), "fake")) == "RGB 4 on cpu with 2"
    assert recorder.built == ["cuda/torch.float16", "cpu/torch.float32"]
    assert recorder.unloaded == ["cuda", "cpu"] and service.loaded() == []  # nothing of the failed one stays
