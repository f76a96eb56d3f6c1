"""Upscaler model files: discovery with A1111's names, spandrel's detection of the architecture and scale from tiny
random-weight files in the real key layouts, safe reading (a hostile pickle runs nothing), clear refusals."""

import pytest
import torch

from tests.support.upscaler_files import (
    compact_layout,
    rrdb_new_layout,
    rrdb_old_layout,
    write_hostile_pth,
    write_pth,
    write_safetensors,
)
from webui.model_manager.upscalers import UpscalerLibrary, UpscalerLoadError, discover_upscalers


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("upscalers")
    esrgan, realesrgan, swinir = root / "ESRGAN", root / "RealESRGAN", root / "SwinIR"
    write_pth(esrgan / "4x-OldLayout.pth", rrdb_old_layout(scale=4))
    write_safetensors(esrgan / "2x-OldLayout.safetensors", rrdb_old_layout(scale=2))
    write_pth(esrgan / "sub" / "1x-Restore.pth", rrdb_old_layout(scale=1))
    write_pth(realesrgan / "RealESRGAN_x4plus_anime_6B.pth", rrdb_new_layout(scale=4), wrapper="params_ema")
    write_safetensors(realesrgan / "RealESRGAN_x2plus.safetensors", rrdb_new_layout(scale=2))
    write_pth(realesrgan / "realesr-general-x4v3.pth", compact_layout(scale=4), wrapper="params")
    write_safetensors(realesrgan / "my-compact-2x.safetensors", compact_layout(scale=2))
    write_pth(swinir / "4x-OldLayout.pth", rrdb_old_layout(scale=4, seed=3))  # same name as an ESRGAN file
    (esrgan / "notes.txt").write_text("not a model")
    return {"ESRGAN": esrgan, "RealESRGAN": realesrgan, "SwinIR": swinir, "DAT": root / "DAT"}


@pytest.fixture(scope="module")
def library(folders):
    library = UpscalerLibrary(folders)
    library.refresh()
    return library


def test_discovery_names_files_as_a1111_does(library, folders):
    names = {record.name: (record.folder, record.path.name) for record in library.records}
    assert names == {
        "1x-Restore": ("ESRGAN", "1x-Restore.pth"),
        "2x-OldLayout": ("ESRGAN", "2x-OldLayout.safetensors"),
        "4x-OldLayout": ("ESRGAN", "4x-OldLayout.pth"),
        "R-ESRGAN 2x+": ("RealESRGAN", "RealESRGAN_x2plus.safetensors"),
        "R-ESRGAN 4x+ Anime6B": ("RealESRGAN", "RealESRGAN_x4plus_anime_6B.pth"),
        "R-ESRGAN General 4xV3": ("RealESRGAN", "realesr-general-x4v3.pth"),
        "my-compact-2x": ("RealESRGAN", "my-compact-2x.safetensors"),
        "4x-OldLayout (SwinIR)": ("SwinIR", "4x-OldLayout.pth"),
    }
    assert [record.name for record in discover_upscalers({"DAT": folders["DAT"]})] == []


@pytest.mark.parametrize(("name", "architecture", "scale"), [
    ("4x-OldLayout", "ESRGAN", 4),                    # ESRGAN old keys, .pth
    ("2x-OldLayout", "ESRGAN", 2),                    # ESRGAN old keys, .safetensors
    ("1x-Restore", "ESRGAN", 1),
    ("R-ESRGAN 4x+ Anime6B", "ESRGAN", 4),            # Real-ESRGAN new keys wrapped in params_ema, .pth
    ("R-ESRGAN 2x+", "ESRGAN", 2),                    # new keys, .safetensors
    ("R-ESRGAN General 4xV3", "RealESRGAN Compact", 4),  # SRVGG compact wrapped in params, .pth
    ("my-compact-2x", "RealESRGAN Compact", 2),       # compact, .safetensors
])
def test_spandrel_detects_architecture_and_scale(library, name, architecture, scale):
    loaded = library.load(library.find(name))
    assert (loaded.details.architecture, loaded.details.scale) == (architecture, scale)
    assert loaded.details.features == 8 and loaded.details.input_channels == 3
    with torch.inference_mode():
        output = loaded.model(torch.rand(1, 3, 12, 20))
    assert tuple(output.shape) == (1, 3, 12 * scale, 20 * scale)
    assert library.details(library.find(name)) == loaded.details  # cached per file version


def test_the_last_model_stays_loaded(library):
    record = library.find("4x-OldLayout")
    assert library.load(record) is library.load(record)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_a_hostile_pth_is_refused_and_nothing_runs(tmp_path, legacy):
    marker = tmp_path / "marker"
    path = write_hostile_pth(tmp_path / "ESRGAN" / "4x-Trojan.pth", marker, legacy=legacy)
    # the trap is real: the same file unpickled in full (as torch.load(weights_only=False) would) runs its code
    proof = tmp_path / "proof"
    torch.load(write_hostile_pth(tmp_path / "proof.pth", proof, legacy=legacy), weights_only=False)
    assert proof.exists()
    library = UpscalerLibrary({"ESRGAN": path.parent})
    library.refresh()
    with pytest.raises(UpscalerLoadError, match="4x-Trojan.pth: refused: upscaler .pth files are only ever read "
                                                "weights-only.*nothing in it was run"):
        library.load(library.find("4x-Trojan"))
    assert not marker.exists()


def test_files_that_are_not_upscalers_are_refused_clearly(tmp_path):
    folder = tmp_path / "ESRGAN"
    write_pth(folder / "some-classifier.pth", {"fc.weight": torch.zeros(2, 2), "fc.bias": torch.zeros(2)})
    (folder / "truncated.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")
    write_pth(folder / "a-list.pth", [torch.zeros(1)])
    library = UpscalerLibrary({"ESRGAN": folder})
    library.refresh()
    with pytest.raises(UpscalerLoadError, match="some-classifier.pth: not an upscaler architecture that spandrel"):
        library.load(library.find("some-classifier"))
    with pytest.raises(UpscalerLoadError, match="truncated.safetensors"):
        library.load(library.find("truncated"))
    with pytest.raises(UpscalerLoadError, match="a-list.pth: holds a list, not a state dict"):
        library.load(library.find("a-list"))


def test_a_file_added_later_is_found_by_name(tmp_path):
    library = UpscalerLibrary({"ESRGAN": tmp_path / "ESRGAN"})
    assert library.refresh() == [] and library.find("4x-New") is None
    write_pth(tmp_path / "ESRGAN" / "4x-New.pth", rrdb_old_layout())
    assert library.find("4x-New").path.name == "4x-New.pth"
