from __future__ import annotations

import asyncio

import pytest

import imagegen
from imagegen import Capabilities, GenerateParams, InvalidRequest, RateLimited, UnsupportedFeature
from imagegen.testing import FakeProvider, fake_color

DALLE3_LIKE = Capabilities(sizes=frozenset({(1024, 1024), (1792, 1024), (1024, 1792)}), default_size=(1024, 1024),
                           max_images_per_call=1)


def test_done_when_three_seeded_images_with_normalized_sizes():
    result = imagegen.generate("x", provider="fake:any", size="16:9", n=3, seed=5)
    assert result.seeds == [5, 6, 7]
    assert len({im.size for im in result.images}) == 1
    w, h = result.images[0].size
    assert abs(w / h - 16 / 9) < 0.02


def test_pixels_follow_prompt_and_seed():
    result = imagegen.generate("x", provider="fake:any", n=2, seed=5, size="64x64")
    assert [im.to_pil().getpixel((0, 0)) for im in result.images] == [fake_color("x", 5), fake_color("x", 6)]


def test_same_seed_gives_the_same_image_alone_or_in_a_batch():
    batch = imagegen.generate("x", provider="fake:any", n=3, seed=10, size="64x64")
    alone = imagegen.generate("x", provider="fake:any", n=1, seed=11, size="64x64")
    assert batch.images[1].data == alone.images[0].data


def test_size_change_is_reported_in_warnings():
    fake = FakeProvider(capabilities=DALLE3_LIKE)
    result = imagegen.generate("x", provider=fake, size="16:9")
    assert result.images[0].size == (1792, 1024)
    assert any(w.startswith("size: 16:9 resolved to 1792x1024") for w in result.warnings)


def test_split_calls_are_merged_back_in_order():
    fake = FakeProvider(capabilities=Capabilities(default_size=(64, 64), max_images_per_call=2,
                                                  supports=frozenset({"seed"})), latency=[0.05, 0.0, 0.0])
    result = imagegen.generate("x", provider=fake, n=5, seed=1)
    assert [r.index for r in fake.calls] == [0, 2, 4]
    assert result.seeds == [1, 2, 3, 4, 5]
    assert [a.index for a in result.attempts] == [0, 2, 4]


def test_exact_size_policy_delivers_the_requested_pixels():
    fake = FakeProvider(capabilities=DALLE3_LIKE)
    result = imagegen.generate("x", provider=fake, size="300x200", size_policy="exact")
    assert result.images[0].size == (300, 200) and result.images[0].to_pil().size == (300, 200)
    assert fake.calls[0].size == (1792, 1024)


def test_bad_input_fails_before_the_provider_is_called():
    fake = FakeProvider()
    with pytest.raises(InvalidRequest, match="n:"):
        imagegen.generate("x", provider=fake, n=0)
    assert fake.calls == []


def test_unsupported_under_error_policy_fails_before_the_provider_is_called():
    fake = FakeProvider(capabilities=DALLE3_LIKE)
    with pytest.raises(UnsupportedFeature):
        imagegen.generate("x", provider=fake, steps=10, unsupported="error")
    assert fake.calls == []


def test_params_object_and_keywords_give_the_same_request():
    a, b = FakeProvider(), FakeProvider()
    imagegen.generate("x", GenerateParams(size="64x64", seed=3, steps=4), provider=a)
    imagegen.generate("x", provider=b, size="64x64", seed=3, steps=4)
    assert a.calls[0].size == b.calls[0].size and a.calls[0].seeds == b.calls[0].seeds
    assert a.calls[0].steps == b.calls[0].steps == 4


def test_prompt_must_be_text():
    with pytest.raises(InvalidRequest, match="prompt"):
        imagegen.generate(None, provider="fake:any")  # type: ignore[arg-type]


def test_agenerate_works_inside_an_event_loop():
    async def main():
        return await imagegen.agenerate("x", provider="fake:any", seed=1, size="64x64")

    assert asyncio.run(main()).seeds == [1]


def test_sync_generate_works_while_an_event_loop_is_running():
    async def main():
        return imagegen.generate("x", provider="fake:any", seed=2, size="64x64")

    assert asyncio.run(main()).seeds == [2]


def test_provider_error_carries_the_provider_spec():
    fake = FakeProvider(script=[RateLimited(retry_after=3)])
    with pytest.raises(RateLimited) as info:
        imagegen.Client(retry=False).generate("x", provider=fake)
    assert info.value.provider == "fake:fake-1" and info.value.retry_after == 3


def test_result_records_cost_attempts_timings_and_image_metadata():
    fake = FakeProvider(price_per_image=0.04, capabilities=Capabilities(default_size=(64, 64), max_images_per_call=2))
    result = imagegen.generate("a fox", provider=fake, n=3)
    assert result.cost.usd == pytest.approx(0.12) and result.cost.source == "price-table"
    assert [a.status for a in result.attempts] == ["ok", "ok"]
    assert result.timings["total_s"] >= result.timings["normalize_s"] >= 0
    info = result.images[0].info
    assert (info["prompt"], info["provider"], info["model"]) == ("a fox", "fake", "fake-1")


def test_unknown_cost_is_none_with_a_warning_never_zero():
    result = imagegen.generate("x", provider=FakeProvider(price_per_image=None), size="64x64")
    assert result.cost.usd is None
    assert any(w.startswith("cost:") for w in result.warnings)
