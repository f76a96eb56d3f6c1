"""Restoring faces changes the face and nothing else, in generation (restore_faces, with its infotext) and in the
Extras steps (visibility, CodeFormer weight, after the upscale)."""

from __future__ import annotations

import random

import numpy
import pytest
from PIL import Image

from tests.face.face_fixtures import BACKGROUND, seamed_restorers, synthetic_face
from webui.engine.extras_request import ExtrasRequest
from webui.engine.face_align import FACE_SIZE, align_face, soft_mask
from webui.engine.face_restore import FaceRestoreOptions
from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.postprocess import extras_postprocessors, postprocess_image
from webui.engine.postprocess_faces import register_face_steps
from webui.engine.postprocessors import postprocessor_registry
from webui.engine.request import GenerationRequest
from webui.engine.samplers import default_sampler_table
from webui.engine.seams import EngineSeams
from webui.engine.upscale import UpscalerRegistry
from webui.infotext.parse import parse_infotext

SMALL = {"prompt": "a face", "sampler_name": "Euler", "steps": 2, "width": 64, "height": 64, "seed": 5}


@pytest.fixture()
def seamed(tmp_path):
    return seamed_restorers(tmp_path / "models")


def test_the_face_changes_and_the_background_does_not(seamed):
    restorers, detector, networks = seamed
    source = synthetic_face()
    restored = restorers.restore(source, "GFPGAN")
    before, after = numpy.asarray(source).astype(int), numpy.asarray(restored).astype(int)
    changed = numpy.abs(after - before).sum(axis=2) > 0
    assert detector.calls == 1 and networks.loaded == ["GFPGAN"]
    assert after[100, 96, 2] > before[100, 96, 2] + 60       # the nose: painted blue
    assert changed[88:112, 84:108].all()                       # the middle of the face, all of it
    band = numpy.ones_like(changed)
    band[40:152, 40:152] = False
    assert not changed[band].any()                             # the background around it: bit for bit
    assert (after[band] == BACKGROUND).all()
    assert networks.inputs[0][0] >= -1.0 and networks.inputs[0][1] <= 1.0  # A1111's [-1, 1] normalisation


def test_the_changed_area_is_the_warped_face_square(seamed):
    restorers, _detector, _networks = seamed
    source = synthetic_face()
    from tests.face.face_fixtures import FACE_LANDMARKS

    aligned = align_face(numpy.asarray(source)[:, :, ::-1].copy(), FACE_LANDMARKS)
    assert aligned.crop.shape == (FACE_SIZE, FACE_SIZE, 3)
    outside = soft_mask(aligned.affine, 192, 192) == 0
    changed = (numpy.asarray(restorers.restore(source, "CodeFormer")) != numpy.asarray(source)).any(axis=2)
    assert outside.any() and not changed[outside].any()


def test_no_face_found_returns_the_same_pixels(tmp_path):
    restorers, detector, _networks = seamed_restorers(tmp_path / "models", faces=0)
    source = synthetic_face()
    assert numpy.array_equal(numpy.asarray(restorers.restore(source, "GFPGAN")), numpy.asarray(source))
    assert detector.calls == 1


def _face_registries(restorers, options):
    generation, extras = postprocessor_registry(), extras_postprocessors()
    register_face_steps(generation, extras, restorers, lambda: options)
    return generation, extras


def test_restore_faces_after_decode_writes_and_parses_back_its_infotext(loaded_manager, seamed):
    restorers, _detector, networks = seamed
    generation, extras = _face_registries(restorers, FaceRestoreOptions("GFPGAN", 0.9))  # the job's choice wins
    engine = GenerationEngine(loaded_manager, default_sampler_table(), rng=random.Random(1),
                              seams=EngineSeams(postprocessors=generation, extras=extras))
    options = InfotextOptions(version="kestrel-test")
    plain = engine.generate(GenerationRequest(**SMALL, restore_faces=False), options).images[0]
    restored = engine.generate(GenerationRequest(**SMALL, restore_faces=True, face_restoration_model="CodeFormer",
                                                 code_former_weight=0.3), options).images[0]
    assert "Face restoration" not in plain.infotext
    assert parse_infotext(restored.infotext)["Face restoration"] == "CodeFormer"
    assert "Seed: 5, Face restoration: CodeFormer, Size: 64x64" in restored.infotext  # A1111's place for it
    assert restored.infotext.count("Face restoration") == 1
    assert networks.loaded == ["CodeFormer"] and networks.weights == [0.3]
    before, after = numpy.asarray(plain.image).astype(int), numpy.asarray(restored.image).astype(int)
    assert (numpy.abs(after - before).sum(axis=2) > 0)[30:37, 28:36].all()  # the face, scaled to 64²
    assert numpy.array_equal(after[:10], before[:10]) and numpy.array_equal(after[-10:], before[-10:])


def test_extras_restores_after_the_upscale_at_its_visibility(seamed):
    restorers, _detector, networks = seamed
    _generation, extras = _face_registries(restorers, FaceRestoreOptions())
    source = synthetic_face()
    request = ExtrasRequest(upscaling_resize=2, upscaler_1="Lanczos", codeformer_visibility=0.5,
                            codeformer_weight=0.25)
    result = postprocess_image(source, request, UpscalerRegistry(), UpscalerRegistry().control(),
                               steps=extras.entries())
    assert result.image.size == (384, 384)
    assert result.infotext == ("Postprocess upscale by: 2, Postprocess upscaler: Lanczos, "
                               "CodeFormer visibility: 0.5, CodeFormer weight: 0.25")
    assert networks.loaded == ["CodeFormer"] and networks.weights == [0.25]
    upscaled = numpy.asarray(source.resize((384, 384), Image.Resampling.LANCZOS)).astype(int)
    after = numpy.asarray(result.image).astype(int)
    assert numpy.array_equal(after[:60], upscaled[:60])               # background: the upscale's pixels
    full_blue = numpy.array([51, 102, 230])                           # what the flat network paints
    nose = after[200, 192]
    assert numpy.allclose(nose, (upscaled[200, 192] + full_blue) / 2, atol=3)  # half-visible


def test_gfpgan_in_extras_writes_its_visibility(seamed):
    restorers, _detector, networks = seamed
    _generation, extras = _face_registries(restorers, FaceRestoreOptions())
    result = postprocess_image(synthetic_face(), ExtrasRequest(gfpgan_visibility=1.0), UpscalerRegistry(),
                               UpscalerRegistry().control(), steps=extras.entries())
    assert result.infotext == "GFPGAN visibility: 1"
    assert networks.loaded == ["GFPGAN"]


def test_extras_face_fields_are_range_checked():
    with pytest.raises(ValueError, match="codeformer_weight 1.5 is out of range"):
        ExtrasRequest(codeformer_weight=1.5)
    with pytest.raises(ValueError, match="restore_faces must be true or false"):
        GenerationRequest(restore_faces="yes")  # type: ignore[arg-type]
