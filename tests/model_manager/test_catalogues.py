"""Catalogues for list routes: embedding shapes and upscaler scales without the device, cached per file version."""

import threading

import torch

from tests.security.test_hostile_files import Reduces
from tests.support.networks import write_a1111_embedding
from tests.support.upscaler_files import compact_layout, rrdb_old_layout, write_pth, write_safetensors
from webui.model_manager.networks import EmbeddingLibrary, EmbeddingShape
from webui.model_manager.upscalers import UpscalerLibrary, UpscalerLoadError

WIDTH = 32


def test_the_embedding_catalogue_agrees_with_what_generation_loads(tmp_path):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    write_a1111_embedding(folder / "easynegative.safetensors", WIDTH, vectors=3, seed=4)
    write_a1111_embedding(folder / "badhands.pt", WIDTH, vectors=2, seed=5)
    write_a1111_embedding(folder / "sd2-only.safetensors", WIDTH + 8, vectors=1, seed=6)
    torch.save({"<cat>": torch.ones(WIDTH)}, folder / "diffusers-style.bin")
    (folder / "broken.safetensors").write_bytes(b"\x10\0\0\0\0\0\0\0{not json")
    torch.save({"string_to_param": {"*": Reduces(print, "ran")}}, folder / "evil.pt")
    library = EmbeddingLibrary(folder)
    library.refresh()

    answers: list = []
    other_thread = threading.Thread(target=lambda: answers.append(library.catalogue(WIDTH)))
    other_thread.start()
    other_thread.join(30)
    catalogue = answers[0]
    assert catalogue.loaded == {"easynegative": EmbeddingShape(3, WIDTH), "badhands": EmbeddingShape(2, WIDTH),
                                "diffusers-style": EmbeddingShape(1, WIDTH)}
    assert catalogue.skipped["sd2-only"] == f"vectors are {WIDTH + 8} wide; this model needs {WIDTH}"
    assert "corrupt" in catalogue.skipped["broken"] and "refused" in catalogue.skipped["evil"]
    usable = library.vectors_for_width(WIDTH)
    assert {name: EmbeddingShape(*vectors.shape) for name, vectors in usable.items()} == dict(catalogue.loaded)
    assert set(library.skipped()) == set(catalogue.skipped)


def test_a_changed_embedding_file_is_read_again(tmp_path):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    path = write_a1111_embedding(folder / "style.safetensors", WIDTH, vectors=2)
    library = EmbeddingLibrary(folder)
    library.refresh()
    assert library.catalogue(WIDTH).loaded["style"] == EmbeddingShape(2, WIDTH)
    write_a1111_embedding(path, WIDTH, vectors=5)
    assert library.catalogue(WIDTH).loaded["style"] == EmbeddingShape(5, WIDTH)


def test_upscaler_details_need_no_device_and_are_read_once(tmp_path):
    esrgan = tmp_path / "ESRGAN"
    write_pth(esrgan / "4x-Old.pth", rrdb_old_layout(scale=4))
    write_safetensors(esrgan / "2x-Compact.safetensors", compact_layout(scale=2))
    torch.save({"classifier.weight": torch.zeros(3, 3)}, esrgan / "nonsense.pth")
    library = UpscalerLibrary({"ESRGAN": esrgan}, device="cuda:99")  # a device nothing can be moved to
    records = {record.name: record for record in library.refresh()}
    assert library.cached_details(records["4x-Old"]) is None
    assert library.details(records["4x-Old"]).scale == 4
    assert library.details(records["2x-Compact"]).scale == 2
    assert library.cached_details(records["4x-Old"]) == library.details(records["4x-Old"])
    try:
        library.details(records["nonsense"])
    except UpscalerLoadError as error:
        assert "not an upscaler architecture" in str(error)
    else:
        raise AssertionError("a classifier was described as an upscaler")
    write_pth(esrgan / "4x-Old.pth", rrdb_old_layout(scale=2))  # same name, new file version
    assert library.details(records["4x-Old"]).scale == 2


def test_the_loaded_model_says_which_embedding_width_fits(loaded_manager):
    loaded = loaded_manager.loaded
    assert loaded.text_encoder_width == loaded.pipeline.text_encoder.config.hidden_size
