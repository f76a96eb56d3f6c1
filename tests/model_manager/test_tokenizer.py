"""The CLIP tokenizer rebuilt offline from the BPE file gives OpenAI's ids."""

import pytest


@pytest.fixture(scope="module")
def tokenizer():
    from webui.model_manager.tokenizer import build_clip_tokenizer

    return build_clip_tokenizer()


def test_golden_ids(tokenizer):
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_vocabulary_and_special_tokens(tokenizer):
    assert len(tokenizer) == 49408
    assert tokenizer.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"]) == [49406, 49407]
    assert tokenizer.model_max_length == 77


def test_padding_and_truncation_to_77(tokenizer):
    padded = tokenizer("a cat", padding="max_length", max_length=77, truncation=True).input_ids
    assert len(padded) == 77 and padded[:4] == [49406, 320, 2368, 49407] and set(padded[4:]) == {49407}
    long = tokenizer("cat " * 200, padding="max_length", max_length=77, truncation=True).input_ids
    assert len(long) == 77 and long[-1] == 49407
