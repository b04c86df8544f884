"""Textual-inversion embeddings: A1111's .pt and .safetensors, diffusers' format and SDXL's clip_l/clip_g pairs,
triggered by name in the prompt or negative prompt, loaded once and taken out when a call does not ask for them.

Formats: A1111 saves ``{"string_to_param": {"*": vectors}, "name": ...}`` (.pt) and ``{"emb_params": vectors}``
(.safetensors) in ``modules/textual_inversion/textual_inversion.py``; SDXL embeddings carry ``clip_l`` and
``clip_g`` (read the same way by diffusers' ``loaders/textual_inversion.py`` docs and A1111's loader).
"""

from __future__ import annotations

import numpy as np
import pytest
from imagegen_diffusers import DiffusersProvider
from imagegen_diffusers.embeddings import resolve_embeddings, vectors

import imagegen
from imagegen import InvalidRequest


def px(tiny, result):
    return tiny.pixels(result.images[0].data)


def make(tiny, prompt, name="sd1", **kw):
    kw.setdefault("steps", 3)
    kw.setdefault("seed", 3)
    kw.setdefault("guidance", 30)
    return imagegen.generate(prompt, provider=f"diffusers:{getattr(tiny, name)}", **kw)


def test_each_format_reads_as_its_vectors(tiny_embeddings):
    assert vectors(str(tiny_embeddings.style_pt))[""].shape == (3, 32)
    assert vectors(str(tiny_embeddings.neg_safetensors))[""].shape == (1, 32)
    assert vectors(str(tiny_embeddings.diffusers_bin))[""].shape == (1, 32)
    xl = vectors(str(tiny_embeddings.sdxl))
    assert xl["clip_l"].shape == (2, 32) and xl["clip_g"].shape == (2, 64)


def test_a_folder_gives_every_embedding_in_it_named_by_its_file(tiny_embeddings):
    specs = resolve_embeddings((str(tiny_embeddings.folder),))
    assert sorted(s.name for s in specs) == ["tinyneg", "tinystyle"]


def test_the_trigger_word_changes_the_image_only_with_the_embedding_loaded(tiny, tiny_embeddings):
    files = [str(tiny_embeddings.style_pt)]
    base = make(tiny, "a castle", embeddings=files)
    triggered = make(tiny, "a castle tinystyle", embeddings=files)
    as_text = make(tiny, "a castle tinystyle")
    assert not np.array_equal(px(tiny, base), px(tiny, triggered))
    assert not np.array_equal(px(tiny, triggered), px(tiny, as_text))
    assert triggered.images[0].info["local"]["embeddings"] == {"tinystyle": files[0]}


def test_a_call_without_the_embedding_reads_its_name_as_text_again(tiny, tiny_embeddings):
    before = make(tiny, "a castle tinyneg")
    make(tiny, "a castle tinyneg", embeddings=[str(tiny_embeddings.neg_safetensors)])
    after = make(tiny, "a castle tinyneg")
    assert np.array_equal(px(tiny, before), px(tiny, after))


def test_an_embedding_in_the_negative_prompt_changes_the_image(tiny, tiny_embeddings):
    files = [str(tiny_embeddings.folder)]
    plain = make(tiny, "a castle", negative_prompt="blurry", embeddings=files)
    negative = make(tiny, "a castle", negative_prompt="blurry tinyneg", embeddings=files)
    assert not np.array_equal(px(tiny, plain), px(tiny, negative))


def test_an_embedding_is_loaded_once_across_calls(tiny, tiny_embeddings, monkeypatch):
    import diffusers

    files = [str(tiny_embeddings.diffusers_bin)]
    first = make(tiny, "a tinydiff castle", embeddings=files)

    def refuse(*args, **kwargs):
        raise AssertionError("the embedding was loaded again")

    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "load_textual_inversion", refuse)
    again = make(tiny, "a tinydiff castle", embeddings=files)
    assert np.array_equal(px(tiny, first), px(tiny, again))


def test_an_sdxl_embedding_loads_into_both_text_encoders(tiny, tiny_embeddings):
    files = [str(tiny_embeddings.sdxl)]
    plain = make(tiny, "a castle", "sdxl", embeddings=files)
    triggered = make(tiny, "a castle tinyxl", "sdxl", embeddings=files)
    assert not np.array_equal(px(tiny, plain), px(tiny, triggered))


@pytest.mark.parametrize("syntax", ["a1111", "plain"])
def test_embeddings_work_with_either_prompt_syntax(tiny, tiny_embeddings, syntax):
    files = [str(tiny_embeddings.style_pt)]
    plain = make(tiny, "a castle", embeddings=files, prompt_syntax=syntax)
    triggered = make(tiny, "a castle tinystyle", embeddings=files, prompt_syntax=syntax)
    assert not np.array_equal(px(tiny, plain), px(tiny, triggered))


def test_an_sd1_embedding_on_sdxl_is_an_invalid_request(tiny, tiny_embeddings):
    with pytest.raises(InvalidRequest) as err:
        make(tiny, "a castle", "sdxl", embeddings=[str(tiny_embeddings.style_pt)])
    assert err.value.field == "embeddings" and "SD 1.x/2.x" in err.value.message


def test_an_sdxl_embedding_on_sd1_is_an_invalid_request(tiny, tiny_embeddings):
    with pytest.raises(InvalidRequest) as err:
        make(tiny, "a castle", embeddings=[str(tiny_embeddings.sdxl)])
    assert err.value.field == "embeddings" and "SDXL" in err.value.message


def test_a_missing_embedding_file_is_refused_before_loading_the_model(tiny, tmp_path):
    provider = DiffusersProvider(str(tiny.sd2))
    with pytest.raises(InvalidRequest) as err:
        imagegen.generate("a castle", provider=provider, steps=2, embeddings=[str(tmp_path / "nope.pt")])
    assert err.value.field == "embeddings" and provider._last_key is None
