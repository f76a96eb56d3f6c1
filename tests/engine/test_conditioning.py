"""A1111's conditioning maths on the tiny text encoder: emphasis, chunks, CLIP skip, embeddings, schedules."""

import pytest
import torch

from webui.engine.conditioning import PromptEncoder, build_conditioning


@pytest.fixture(scope="module")
def pipeline(loaded_manager):
    return loaded_manager.loaded.pipeline


def plain_encoding(pipeline, text, clip_skip=1):
    ids = pipeline.tokenizer(text, padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.inference_mode():
        if clip_skip == 1:
            return pipeline.text_encoder(ids).last_hidden_state[0]
        hidden = pipeline.text_encoder(ids, output_hidden_states=True).hidden_states[-clip_skip]
        return pipeline.text_encoder.final_layer_norm(hidden)[0]


def test_unweighted_prompt_equals_the_text_encoder_output(pipeline):
    encoder = PromptEncoder(pipeline.tokenizer, pipeline.text_encoder)
    with torch.inference_mode():
        ours = encoder.encode("a girl with red hair").vectors
    assert ours.shape[0] == 77
    assert torch.allclose(ours, plain_encoding(pipeline, "a girl with red hair"), atol=1e-5)


def test_emphasis_multiplies_the_token_vectors_then_restores_the_mean(pipeline):
    encoder = PromptEncoder(pipeline.tokenizer, pipeline.text_encoder)
    with torch.inference_mode():
        weighted = encoder.encode("a (girl:1.5)").vectors
    base = plain_encoding(pipeline, "a girl")
    expected = base.clone()
    expected[2] *= 1.5  # [start, a, girl, ...]
    # The tiny encoder's final layer norm leaves every token's vector with a mean of ~0, so the chunk's mean can be
    # exactly 0.0 depending on summation order: then, as in the engine, there is no meaningful ratio to apply.
    if expected.mean().abs() > 1e-12:
        expected *= base.mean() / expected.mean()
    assert not torch.isnan(weighted).any()
    assert torch.allclose(weighted, expected, atol=1e-5)
    assert torch.isclose(weighted.mean(), base.mean(), atol=1e-6)
    assert not torch.allclose(weighted, base, atol=1e-4)


def test_clip_skip_takes_an_earlier_layer_through_the_final_norm(pipeline):
    layers = pipeline.text_encoder.config.num_hidden_layers
    assert layers >= 2
    with torch.inference_mode():
        skipped = PromptEncoder(pipeline.tokenizer, pipeline.text_encoder, clip_skip=2).encode("a cat").vectors
    assert torch.allclose(skipped, plain_encoding(pipeline, "a cat", clip_skip=2), atol=1e-5)
    assert not torch.allclose(skipped, plain_encoding(pipeline, "a cat"), atol=1e-4)
    with pytest.raises(ValueError, match="CLIP skip 13 is out of range: use 1 to 12"):
        PromptEncoder(pipeline.tokenizer, pipeline.text_encoder, clip_skip=13)


def test_long_prompts_are_encoded_in_77_token_chunks(pipeline):
    encoder = PromptEncoder(pipeline.tokenizer, pipeline.text_encoder)
    with torch.inference_mode():
        long = encoder.encode("cat " * 100).vectors
    assert long.shape[0] == 154


def test_embedding_vectors_replace_the_trigger_tokens(pipeline):
    width = pipeline.text_encoder.config.hidden_size
    vectors = torch.randn(3, width, generator=torch.Generator().manual_seed(1))
    encoder = PromptEncoder(pipeline.tokenizer, pipeline.text_encoder, embeddings={"easynegative": vectors})
    with torch.inference_mode():
        with_embedding = encoder.encode("easynegative, bad hands")
        without = PromptEncoder(pipeline.tokenizer, pipeline.text_encoder).encode("easynegative, bad hands")
    assert with_embedding.embeddings_used == ("easynegative",)
    assert not torch.allclose(with_embedding.vectors, without.vectors, atol=1e-4)
    # the hook is gone afterwards: a plain encode is unaffected
    with torch.inference_mode():
        again = PromptEncoder(pipeline.tokenizer, pipeline.text_encoder).encode("easynegative, bad hands")
    assert torch.equal(again.vectors, without.vectors)


def test_prompt_editing_changes_the_conditioning_at_its_step_and_is_not_padded_to_the_negative(pipeline):
    """A1111's default ("Pad prompt/negative prompt" off): a one-chunk prompt stays one chunk beside a two-chunk
    negative prompt; the denoiser runs them apart."""
    encoder = PromptEncoder(pipeline.tokenizer, pipeline.text_encoder)
    with torch.inference_mode():
        job = build_conditioning(encoder, "a [cat:dog:3]", "cat " * 100, steps=10)
    assert job.changes_during_sampling
    cond_early, uncond = job.embeds_at(0, batch_size=2)
    cond_late, _ = job.embeds_at(4, batch_size=2)
    width = pipeline.text_encoder.config.hidden_size
    assert cond_early.shape == (2, 77, width) and uncond.shape == (2, 154, width)
    assert torch.equal(job.embeds_at(3, 1)[0][0], cond_early[0])
    assert not torch.allclose(cond_early, cond_late)
    with torch.inference_mode():
        cat = encoder.encode("a cat").vectors
    assert torch.allclose(cond_early[0, :77], cat, atol=1e-6)
