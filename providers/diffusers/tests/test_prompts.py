"""A1111 prompt syntax: the parse, weights in the embeddings, long prompts, BREAK, negatives and clip skip.

The expected parses are the doctests of AUTOMATIC1111's ``parse_prompt_attention``
(github.com/AUTOMATIC1111/stable-diffusion-webui, ``modules/prompt_parser.py``); the chunking rules (75 tokens
between BOS and EOS per chunk, ``BREAK`` closing a chunk, pooled from the first chunk) are its
``modules/sd_hijack_clip.py`` (``FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line`` and ``forward``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imagegen_diffusers.prompts import BREAK, PromptEncoder, parse_a1111, segments

import imagegen

LONG = ", ".join(["a red castle on a blue background"] * 25)  # 25 x 8 tokens: 200 tokens, three chunks


@pytest.mark.parametrize(("text", "expected"), [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [("a ", 1.0), ("house", 1.1 * 1.1 * 1.3), (" ", 1.1), ("on", 1.0), (" a ", 1.1), ("hill", 0.55),
      (", sun, ", 1.1), ("sky", 1.1 ** 4), (".", 1.1)]),
])
def test_parse_matches_a1111s_own_examples(text, expected):
    parsed = parse_a1111(text)
    assert [t for t, _ in parsed] == [t for t, _ in expected]
    assert [w for _, w in parsed] == pytest.approx([w for _, w in expected])


def test_square_brackets_divide_by_1_1_and_nest():
    assert parse_a1111("[[blurry]] photo") == [("blurry", pytest.approx(1 / 1.21)), (" photo", 1.0)]


def test_a_weight_without_an_open_bracket_is_text():
    assert parse_a1111("ratio 16:9) done") == [("ratio 16:9) done", 1.0)]


def test_break_splits_the_prompt_into_chunks_and_a_leading_one_leaves_an_empty_chunk():
    assert parse_a1111("a castle BREAK golden hour") == [("a castle", 1.0), ("BREAK", BREAK), ("golden hour", 1.0)]
    assert segments(parse_a1111("a castle BREAK golden hour")) == [[("a castle", 1.0)], [("golden hour", 1.0)]]
    assert segments(parse_a1111("BREAK a castle BREAK")) == [[], [("a castle", 1.0)]]
    assert parse_a1111("BREAKFAST") == [("BREAKFAST", 1.0)]  # only the whole word


# -- embeddings ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sd1(tiny):
    from diffusers import StableDiffusionPipeline

    return PromptEncoder(StableDiffusionPipeline.from_pretrained(str(tiny.sd1)), xl=False)


@pytest.fixture(scope="module")
def sdxl(tiny):
    from diffusers import StableDiffusionXLPipeline

    return PromptEncoder(StableDiffusionXLPipeline.from_pretrained(str(tiny.sdxl)), xl=True)


def embeds(encoder, prompt, **kw):
    with torch.no_grad():
        return encoder.encode(prompt, None, clip_skip=kw.pop("clip_skip", 1), guided=False, **kw)["prompt_embeds"]


@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_an_upweighted_word_moves_away_from_the_empty_prompt_at_its_own_token_only(request, name):
    encoder = request.getfixturevalue(name)
    plain, weighted = embeds(encoder, "a red castle"), embeds(encoder, "a (red:1.5) castle")
    empty = embeds(encoder, "")
    red = 2  # BOS, "a", "red"
    others = [i for i in range(plain.shape[1]) if i != red]
    assert torch.equal(plain[0, others], weighted[0, others])
    shift, away = weighted[0, red] - plain[0, red], plain[0, red] - empty[0, red]
    assert torch.nn.functional.cosine_similarity(shift, away, dim=0) > 0.999
    assert shift.norm() / away.norm() == pytest.approx(0.5, rel=1e-3)


def test_a_downweighted_word_moves_towards_the_prompt_without_it(sd1):
    plain, down, gone = (embeds(sd1, p) for p in ("a red castle", "a [red] castle", "a (red:0.01) castle"))
    assert not torch.equal(plain, down)
    assert (down - gone).norm() < (plain - gone).norm()


@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_a_200_token_prompt_is_three_chunks_and_its_last_words_count(request, name):
    encoder = request.getfixturevalue(name)
    full = embeds(encoder, LONG)
    assert full.shape[1] == 3 * 77
    changed = embeds(encoder, LONG.removesuffix("blue background") + "green square")
    assert torch.equal(full[0, :77], changed[0, :77]) and not torch.equal(full, changed)


def test_break_starts_a_new_chunk(sd1):
    assert embeds(sd1, "a red castle BREAK blue sky").shape[1] == 2 * 77
    assert embeds(sd1, "a red castle BREAK").shape[1] == 77


def test_plain_syntax_reads_brackets_as_text_but_keeps_long_prompts(sd1):
    assert not torch.equal(embeds(sd1, "a (red:1.5) castle", parse=False), embeds(sd1, "a (red:1.5) castle"))
    assert embeds(sd1, LONG, parse=False).shape[1] == 3 * 77


def test_sdxl_pools_the_first_chunk_of_both_prompts(sdxl):
    with torch.no_grad():
        out = sdxl.encode(LONG, "blurry", clip_skip=1, guided=True)
    assert out["pooled_prompt_embeds"].shape == out["negative_pooled_prompt_embeds"].shape == (1, 32)
    assert out["prompt_embeds"].shape == out["negative_prompt_embeds"].shape == (1, 3 * 77, 32 + 64)


def test_a_short_negative_prompt_is_padded_to_the_long_prompts_length(sd1):
    with torch.no_grad():
        out = sd1.encode(LONG, "blurry", clip_skip=1, guided=True)
    assert out["negative_prompt_embeds"].shape == out["prompt_embeds"].shape == (1, 3 * 77, 32)


def test_clip_skip_takes_an_earlier_layer(sd1):
    assert not torch.equal(embeds(sd1, "a red castle"), embeds(sd1, "a red castle", clip_skip=2))


# -- through generate --------------------------------------------------------------------------------------

def px(tiny, result):
    return tiny.pixels(result.images[0].data)


@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_a_prompt_without_syntax_gives_the_same_image_as_plain(tiny, name):
    spec = f"diffusers:{getattr(tiny, name)}"
    a1111 = imagegen.generate("a red castle", provider=spec, steps=3, seed=4, negative_prompt="blurry")
    plain = imagegen.generate("a red castle", provider=spec, steps=3, seed=4, negative_prompt="blurry",
                              prompt_syntax="plain")
    assert np.array_equal(px(tiny, a1111), px(tiny, plain))
    assert a1111.images[0].info["local"]["prompt_syntax"] == "a1111"
    assert plain.images[0].info["params"]["prompt_syntax"] == "plain"


def test_an_escaped_bracket_is_the_literal_bracket(tiny):
    spec = f"diffusers:{tiny.sd1}"
    escaped = imagegen.generate("a \\(red\\) castle", provider=spec, steps=2, seed=4)
    literal = imagegen.generate("a (red) castle", provider=spec, steps=2, seed=4, prompt_syntax="plain")
    assert np.array_equal(px(tiny, escaped), px(tiny, literal))


@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_the_last_words_of_a_200_token_prompt_change_the_image(tiny, name):
    spec = f"diffusers:{getattr(tiny, name)}"
    first = imagegen.generate(LONG, provider=spec, steps=3, seed=4, guidance=30)
    last = imagegen.generate(LONG.removesuffix("blue background") + "green square", provider=spec, steps=3, seed=4,
                             guidance=30)
    assert not np.array_equal(px(tiny, first), px(tiny, last))


def test_a_weight_changes_the_image(tiny):
    spec = f"diffusers:{tiny.sd1}"
    plain = imagegen.generate("a red castle", provider=spec, steps=3, seed=4, guidance=30)
    weighted = imagegen.generate("a (red:1.8) castle", provider=spec, steps=3, seed=4, guidance=30)
    assert not np.array_equal(px(tiny, plain), px(tiny, weighted))

