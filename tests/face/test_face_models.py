"""The weight files users have, in their real layouts and names, are found, read weights-only and recognised;
the detector network runs on facexlib's layout; a missing file is a 422 naming it and where to put it."""

from __future__ import annotations

import numpy
import pytest
import torch

from webui.engine.face_align import FACE_SIZE, paste_face
from webui.engine.face_parsing import build_parsenet, face_mask
from webui.engine.face_restore import FaceRestorers, spandrel_descriptor
from webui.engine.face_retinaface import build_retinaface, decode, detect, prior_boxes
from webui.model_manager.face_models import (
    DETECTION_FILE,
    PARSING_FILE,
    RESTORER_NAMES,
    FaceFolders,
    FaceModelMissing,
    FaceModelRefused,
    find_helper_file,
    flatten_state_dict,
    installed_restorers,
    probe_layout,
    read_expected,
    read_face_weights,
)


def test_the_release_files_are_found_and_probed_by_their_keys(face_weights):
    folders = FaceFolders(face_weights)
    layouts = {path.name: probe_layout(read_face_weights(path)) for path in sorted(face_weights.rglob("*.pth"))}
    assert layouts["GFPGANv1.4.pth"] == "GFPGAN"
    assert layouts["detection_Resnet50_Final.pth"] == "RetinaFace-ResNet50"
    assert layouts["parsing_parsenet.pth"] == "ParseNet"
    if "codeformer-v0.1.0.pth" in layouts:
        assert layouts["codeformer-v0.1.0.pth"] == "CodeFormer"
    assert find_helper_file(folders, DETECTION_FILE) == face_weights / "GFPGAN" / DETECTION_FILE
    assert "GFPGAN" in installed_restorers(folders)


def test_spandrel_builds_gfpgan_from_the_release_layout(face_weights):
    descriptor = spandrel_descriptor("GFPGAN", face_weights / "GFPGAN" / "GFPGANv1.4.pth")
    assert descriptor.architecture.id == "GFPGAN"
    assert (descriptor.input_channels, descriptor.output_channels, descriptor.scale) == (3, 3, 1)


def test_spandrel_extra_arches_builds_codeformer_from_the_release_layout(face_weights):
    pytest.importorskip("spandrel_extra_arches", reason="CodeFormer's architecture ships in spandrel-extra-arches")
    descriptor = spandrel_descriptor("CodeFormer", face_weights / "Codeformer" / "codeformer-v0.1.0.pth")
    assert descriptor.architecture.id == "CodeFormer"


def test_a_file_of_another_layout_in_the_restorers_place_is_refused(face_weights, tmp_path):
    misplaced = tmp_path / "GFPGANv1.4.pth"
    misplaced.write_bytes((face_weights / "GFPGAN" / "parsing_parsenet.pth").read_bytes())
    with pytest.raises(FaceModelRefused, match="expected GFPGAN weights, found ParseNet"):
        read_expected(misplaced, "GFPGAN")


def test_a_pickle_asking_for_code_is_refused_unrun(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "GFPGANv1.4.pth"
    torch.save({"params_ema": Payload()}, path)
    with pytest.raises(FaceModelRefused, match="weights-only"):
        read_face_weights(path)


def test_nesting_and_dataparallel_prefixes_are_unwrapped():
    tensor = torch.zeros(1)
    assert flatten_state_dict({"params_ema": {"module.a": tensor}}, "x") == {"a": tensor}
    assert flatten_state_dict({"b": tensor}, "x") == {"b": tensor}


def test_the_detector_network_runs_on_facexlibs_weight_layout(face_weights):
    network = build_retinaface(read_expected(face_weights / "GFPGAN" / DETECTION_FILE, "RetinaFace-ResNet50"))
    image = numpy.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=numpy.uint8)
    anchors = prior_boxes(64, 96).shape[0]
    assert anchors == 2 * (8 * 12 + 4 * 6 + 2 * 3)
    found = detect(network, image, threshold=0.0)
    assert 0 < len(found) <= anchors
    assert all(len(face.landmarks) == 5 and 0.0 <= face.score <= 1.0 for face in found)
    assert all(numpy.isfinite(face.box).all() for face in found)
    assert [face.score for face in found] == sorted((face.score for face in found), reverse=True)


def test_the_face_parser_runs_on_facexlibs_weight_layout_and_shapes_the_paste_back(face_weights):
    parser = build_parsenet(read_expected(face_weights / "GFPGAN" / PARSING_FILE, "ParseNet"))
    small = numpy.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=numpy.uint8)  # 512² costs ~10 s
    mask = face_mask(parser, small)                                # (the network is fully convolutional)
    assert mask.shape == (64, 64) and mask.min() >= 0.0 and mask.max() <= 1.0
    assert not mask[:10].any() and not mask[:, -10:].any()       # facexlib clears the outer 10 pixels
    face = numpy.full((FACE_SIZE, FACE_SIZE, 3), 200, dtype=numpy.uint8)
    image = numpy.full((256, 256, 3), 90, dtype=numpy.uint8)
    affine = numpy.array([[4.0, 0.0, -256.0], [0.0, 4.0, -256.0]])  # the crop is the image's centre 128²
    pasted = paste_face(image, face, affine, numpy.ones((FACE_SIZE, FACE_SIZE), numpy.float32))
    assert (pasted[64:192, 64:192] != 90).any() and (pasted[:60] == 90).all() and (pasted[:, 196:] == 90).all()


def test_zero_offsets_decode_to_the_anchors():
    priors = prior_boxes(32, 32)
    corners, points = decode(torch.zeros(len(priors), 4), torch.zeros(len(priors), 10), priors)
    first = priors[0]
    assert torch.allclose(corners[0], torch.cat([first[:2] - first[2:] / 2, first[:2] + first[2:] / 2]))
    assert torch.allclose(points[0], first[:2].repeat(5))


def test_requests_accept_exactly_the_restorers_there_are():
    from webui.engine.request import FACE_RESTORERS

    assert FACE_RESTORERS == RESTORER_NAMES


def test_missing_weights_name_the_file_and_the_folder(tmp_path):
    restorers = FaceRestorers(FaceFolders(tmp_path / "models"))
    with pytest.raises(FaceModelMissing) as missing:
        restorers.check("CodeFormer")
    assert missing.value.http_status == 422
    assert "codeformer-v0.1.0.pth" in str(missing.value) and str(tmp_path / "models" / "Codeformer") in str(
        missing.value)
    (tmp_path / "models" / "Codeformer").mkdir(parents=True)
    (tmp_path / "models" / "Codeformer" / "codeformer-v0.1.0.pth").write_bytes(b"x")
    with pytest.raises(FaceModelMissing, match=f"{DETECTION_FILE}.*{tmp_path / 'models' / 'GFPGAN'}"):
        restorers.check("CodeFormer")


def test_codeformer_without_its_architecture_package_is_refused_before_any_work(tmp_path, monkeypatch):
    import importlib.util

    from tests.face.face_fixtures import place_files

    models = tmp_path / "models"
    place_files(models, {"Codeformer": "codeformer-v0.1.0.pth", "GFPGAN": DETECTION_FILE})
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "spandrel_extra_arches" else real_find_spec(name, *rest))
    with pytest.raises(FaceModelRefused, match="CodeFormer needs the spandrel-extra-arches package"):
        FaceRestorers(FaceFolders(models)).check("CodeFormer")
