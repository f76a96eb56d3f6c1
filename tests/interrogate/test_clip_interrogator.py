"""ClipInterrogator on tiny random BLIP/CLIP files in A1111's layouts: the answer's shape, A1111's settings, the
file check, and that CLIP ranks as OpenAI's own model code does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.interrogate.clip_fixtures import (
    CAPTION_WORDS,
    CATEGORIES,
    write_tiny_clip_interrogator,
    write_torchscript_clip,
)
from webui.engine.interrogate import InterrogateModelMissing
from webui.engine.interrogate_clip import ClipInterrogateFiles, ClipInterrogateOptions, ClipInterrogator
from webui.model_manager.tokenizer import build_clip_tokenizer

TOP3 = {"artists.txt": CATEGORIES["artists.txt"], "flavors.top3.txt": CATEGORIES["flavors.txt"],
        "mediums.txt": CATEGORIES["mediums.txt"], "movements.txt": CATEGORIES["movements.txt"]}
ORDER = ("artists.txt", "flavors.top3.txt", "flavors.top3.txt", "flavors.top3.txt", "mediums.txt", "movements.txt")
SHORT = {"min_length": 5, "max_length": 8}  # the caption is then 8 - 4 prompt tokens = 4 words
RANKED = re.compile(r"^\((?P<text>.+):(?P<p>[01]\.\d{3})\)$")


@pytest.fixture(scope="module")
def clip_tokenizer():
    return build_clip_tokenizer()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip-data")
    write_tiny_clip_interrogator(folder, TOP3)
    return folder


@pytest.fixture(scope="module")
def interrogator(root, clip_tokenizer):
    files = ClipInterrogateFiles.from_data_root(root, hf_cache=root / "no-hf-cache")
    made = ClipInterrogator(files, torch.device("cpu"), torch.float32, clip_tokenizer)
    yield made
    made.unload()


def picture() -> Image.Image:
    image = Image.new("RGB", (40, 28), (200, 40, 30))
    image.paste((20, 60, 220), (20, 0, 40, 28))
    return image


def split(answer: str) -> tuple[list[str], list[str]]:
    caption, *matches = answer.split(", ")
    return caption.split(" "), matches


def test_caption_then_one_match_per_top_count_in_category_order(interrogator):
    words, matches = split(interrogator.interrogate(picture(), ClipInterrogateOptions(**SHORT)))
    assert len(words) == 4 and set(words) <= set(CAPTION_WORDS)
    assert len(matches) == 6
    for match, file_name in zip(matches, ORDER, strict=True):
        assert match in TOP3[file_name]
    assert len(set(matches[1:4])) == 3  # three different flavors


def test_max_length_counts_the_prompt_and_beams_give_a_caption_too(interrogator):
    words, _ = split(interrogator.interrogate(picture(), ClipInterrogateOptions(num_beams=2, min_length=3,
                                                                                max_length=10)))
    assert len(words) == 6 and set(words) <= set(CAPTION_WORDS)


def test_dict_limit_keeps_the_first_lines(interrogator):
    _, matches = split(interrogator.interrogate(picture(), ClipInterrogateOptions(dict_limit=1, **SHORT)))
    assert matches == [lines[0] for lines in TOP3.values()]  # topN is capped by what is left


def test_skipped_categories_are_left_out(interrogator):
    options = ClipInterrogateOptions(skip_categories=("flavors.top3", "artists"), **SHORT)
    _, matches = split(interrogator.interrogate(picture(), options))
    assert len(matches) == 2 and matches[0] in TOP3["mediums.txt"] and matches[1] in TOP3["movements.txt"]


def test_return_ranks_gives_each_match_its_probability(interrogator):
    plain = split(interrogator.interrogate(picture(), ClipInterrogateOptions(**SHORT)))[1]
    _, ranked = split(interrogator.interrogate(picture(), ClipInterrogateOptions(return_ranks=True, **SHORT)))
    found = [RANKED.match(match) for match in ranked]
    assert all(found)
    assert [match["text"] for match in found if match] == plain
    flavors = [float(match["p"]) for match in found[1:4] if match]
    assert flavors == sorted(flavors, reverse=True) and sum(flavors) <= 1.001


def test_ranks_are_openai_clips(interrogator):
    """The artist chosen is the one OpenAI's own CLIP code (the clip package's model.py) ranks first."""
    reference = openai_reference_model(interrogator.files.clip_file())
    import torchvision.transforms as T  # OpenAI's preprocessing, as clip.load builds it

    preprocess = T.Compose([T.Resize(16, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(16),
                            T.ToTensor(), T.Normalize((0.48145466, 0.4578275, 0.40821073),
                                                      (0.26862954, 0.26130258, 0.27577711))])
    artists = list(TOP3["artists.txt"])
    tokens = interrogator._loaded.clip_tokenizer(artists, padding="max_length", max_length=77,
                                                 return_tensors="pt").input_ids
    with torch.no_grad():
        image = reference.encode_image(preprocess(picture()).unsqueeze(0)).float()
        text = reference.encode_text(tokens).float()
    image, text = image / image.norm(dim=-1, keepdim=True), text / text.norm(dim=-1, keepdim=True)
    expected = (100.0 * image @ text.T).softmax(dim=-1)[0]
    options = ClipInterrogateOptions(return_ranks=True, skip_categories=("flavors.top3", "mediums", "movements"),
                                     **SHORT)
    _, ranked = split(interrogator.interrogate(picture(), options))
    match = RANKED.match(ranked[0])
    assert match and match["text"] == artists[int(expected.argmax())]
    assert float(match["p"]) == pytest.approx(float(expected.max()), abs=2e-3)


def openai_reference_model(path: Path) -> torch.nn.Module:
    import importlib.util

    spec = importlib.util.find_spec("clip")
    assert spec and spec.submodule_search_locations
    model_file = Path(next(iter(spec.submodule_search_locations))) / "model.py"
    module_spec = importlib.util.spec_from_file_location("openai_clip_model", model_file)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    state = torch.load(path, weights_only=True)
    return module.build_model(dict(state)).float().eval()


def test_models_stay_until_unload(root, clip_tokenizer):
    files = ClipInterrogateFiles.from_data_root(root, hf_cache=root / "no-hf-cache")
    made = ClipInterrogator(files, torch.device("cpu"), torch.float32, clip_tokenizer)
    assert not made.loaded
    first = made.interrogate(picture(), ClipInterrogateOptions(**SHORT))
    assert made.loaded
    assert made.interrogate(picture(), ClipInterrogateOptions(**SHORT)) == first  # greedy: the same answer
    made.unload()
    assert not made.loaded


def test_each_missing_file_is_named_with_its_folder(tmp_path):
    files = ClipInterrogateFiles.from_data_root(tmp_path, hf_cache=tmp_path / "hf")
    models = tmp_path / "models"
    assert files.missing() == [models / "BLIP" / "model_base_caption_capfilt_large.pth",
                               models / "CLIP" / "ViT-L-14.pt", models / "BLIP" / "bert-base-uncased" / "vocab.txt",
                               *(tmp_path / "interrogate" / name for name in
                                 ("artists.txt", "flavors.txt", "mediums.txt", "movements.txt"))]
    with pytest.raises(InterrogateModelMissing) as raised:
        ClipInterrogator(files, torch.device("cpu"), torch.float32).interrogate(picture(), ClipInterrogateOptions())
    assert raised.value.http_status == 422
    assert f"ViT-L-14.pt in {models / 'CLIP'}" in str(raised.value)
    assert f"vocab.txt in {models / 'BLIP' / 'bert-base-uncased'}" in str(raised.value)


def test_files_use_the_clip_models_path_and_find_the_bert_vocab_in_the_hf_cache(tmp_path):
    snapshot = tmp_path / "hf" / "models--bert-base-uncased" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "vocab.txt").write_text("[PAD]\n", encoding="utf-8")
    (tmp_path / "hf" / "models--bert-base-uncased" / "refs").mkdir()
    (tmp_path / "hf" / "models--bert-base-uncased" / "refs" / "main").write_text("abc123", encoding="utf-8")
    files = ClipInterrogateFiles.from_data_root(tmp_path, clip_models_path=tmp_path / "clip",
                                                clip_cache=tmp_path / "cache-clip", hf_cache=tmp_path / "hf")
    assert files.bert_vocab_file() == snapshot / "vocab.txt"
    assert files.clip_file() == tmp_path / "clip" / "ViT-L-14.pt"
    assert files.bert_vocab not in files.missing() and tmp_path / "clip" / "ViT-L-14.pt" in files.missing()
    (tmp_path / "cache-clip").mkdir()
    (tmp_path / "cache-clip" / "ViT-L-14.pt").write_bytes(b"")
    assert files.clip_file() == tmp_path / "cache-clip" / "ViT-L-14.pt" and files.clip_file() not in files.missing()
    (tmp_path / "interrogate").mkdir()
    (tmp_path / "interrogate" / "flavors.top3.txt").write_text("vivid\n", encoding="utf-8")
    (tmp_path / "interrogate" / "notes.md").write_text("not a category\n", encoding="utf-8")
    assert files.category_names() == ["flavors.top3"]
    assert not any(path.parent == tmp_path / "interrogate" for path in files.missing())


def test_the_interrogator_runs_on_openais_torchscript_archive(tmp_path, clip_tokenizer):
    write_tiny_clip_interrogator(tmp_path)
    write_torchscript_clip(tmp_path / "models" / "CLIP" / "ViT-L-14.pt")
    files = ClipInterrogateFiles.from_data_root(tmp_path, hf_cache=tmp_path / "hf")
    answer = ClipInterrogator(files, torch.device("cpu"), torch.float32, clip_tokenizer).interrogate(
        Image.new("RGB", (20, 20), (9, 90, 200)), ClipInterrogateOptions(min_length=5, max_length=6))
    assert len(answer.split(", ")) == 5  # caption + artists, flavors, mediums, movements
