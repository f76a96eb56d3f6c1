"""75-token chunking as A1111 does it, on the real SD 1.x CLIP tokenizer (rebuilt offline)."""

import pytest

from webui.engine.prompt_chunks import CHUNK_LENGTH, EmbeddingMatch, SpecialTokens, chunk_prompt
from webui.engine.prompt_syntax import parse_attention


@pytest.fixture(scope="module")
def tokenizer():
    from webui.model_manager.tokenizer import build_clip_tokenizer

    return build_clip_tokenizer()


@pytest.fixture(scope="module")
def special(tokenizer):
    return SpecialTokens(tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.get_vocab()[",</w>"])


def chunks_of(prompt, tokenizer, special, **kwargs):
    def tokenize(text):
        return tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]

    return chunk_prompt(parse_attention(prompt), tokenize, special, **kwargs)


def test_short_prompt_is_one_padded_chunk_with_weights(tokenizer, special):
    result = chunks_of("a (cat:1.5)", tokenizer, special)
    (chunk,) = result.chunks
    assert len(chunk.tokens) == 77 and chunk.tokens[0] == special.start and chunk.tokens[-1] == special.end
    assert chunk.tokens[1:3] == tokenizer("a cat", add_special_tokens=False)["input_ids"]
    assert chunk.tokens[3:] == [special.end] * 74
    assert chunk.multipliers[:4] == [1.0, 1.0, 1.5, 1.0]
    assert result.token_count == 2


def test_exactly_75_tokens_stay_in_one_chunk_and_76_make_two(tokenizer, special):
    assert len(chunks_of("cat " * 75, tokenizer, special).chunks) == 1
    result = chunks_of("cat " * 76, tokenizer, special)
    assert len(result.chunks) == 2 and result.token_count == CHUNK_LENGTH + 1


def test_break_starts_a_new_chunk(tokenizer, special):
    result = chunks_of("red hair BREAK blue eyes", tokenizer, special)
    assert len(result.chunks) == 2
    assert result.chunks[1].tokens[1:3] == tokenizer("blue eyes", add_special_tokens=False)["input_ids"]


def test_text_after_a_recent_comma_moves_to_the_next_chunk(tokenizer, special):
    prompt = "cat " * 70 + ", " + "dog " * 10
    result = chunks_of(prompt, tokenizer, special)
    first, second = result.chunks
    comma = special.comma
    assert first.tokens[71] == comma and first.tokens[72:76] == [special.end] * 4  # cut after the comma
    assert second.tokens[1:11] == [tokenizer("dog", add_special_tokens=False)["input_ids"][0]] * 10
    no_backtrack = chunks_of(prompt, tokenizer, special, comma_backtrack=0)
    assert no_backtrack.chunks[0].tokens[72:76] != [special.end] * 4


def test_embedding_is_spliced_as_a_unit_and_never_split(tokenizer, special):
    trigger = tokenizer("easynegative", add_special_tokens=False)["input_ids"]

    def find(tokens, position):
        if list(tokens[position:position + len(trigger)]) == trigger:
            return EmbeddingMatch("easynegative", len(trigger), 8)
        return None

    result = chunks_of("cat " * 70 + "easynegative", tokenizer, special, find_embedding=find)
    assert result.embeddings_used == ("easynegative",)
    assert len(result.chunks) == 2  # 70 + 8 > 75: the embedding opens the next chunk
    (slot,) = result.chunks[1].embeddings
    assert slot.offset == 0 and slot.name == "easynegative"
    assert result.chunks[1].tokens[1:9] == [0] * 8


def test_empty_prompt_is_one_chunk(tokenizer, special):
    (chunk,) = chunks_of("", tokenizer, special).chunks
    assert chunk.tokens == [special.start] + [special.end] * 76
