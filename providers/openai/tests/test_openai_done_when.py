"""The issue's done-when, end to end: a spec string, settings from the environment, the default client,
the real SDK and a scripted server."""

from __future__ import annotations

import pytest

import imagegen
import imagegen.testing


@pytest.fixture
def fresh_default_client():
    """``imagegen.generate`` builds its default client anew here and closes it afterwards."""
    with imagegen.testing.fresh_default_client():
        yield


@pytest.fixture
def openai_env(api, kit, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", kit.API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", api.url)


def test_dall_e_3_16_9_n2_is_two_1792x1024_requests_two_revised_images_twice_the_price_and_a_size_warning(
        api, openai_env, fresh_default_client):
    result = imagegen.generate("a red fox in fresh snow", provider="openai:dall-e-3", size="16:9", n=2)

    calls = api.calls("/v1/images/generations")
    assert [c.json for c in calls] == [{"model": "dall-e-3", "prompt": "a red fox in fresh snow", "n": 1,
                                        "size": "1792x1024", "response_format": "b64_json"}] * 2
    assert [(im.width, im.height) for im in result.images] == [(1792, 1024)] * 2
    assert [im.revised_prompt for im in result.images] == ["revised: a red fox in fresh snow #0"] * 2
    assert result.cost.usd == pytest.approx(2 * 0.08) and result.cost.source == "price-table"
    assert [w for w in result.warnings if w.startswith("size: 16:9 resolved to 1792x1024")]
    assert (result.provider, result.model, [im.seed for im in result.images]) == ("openai", "dall-e-3", [None, None])


def test_with_only_a_key_set_the_default_provider_is_gpt_image_1(api, openai_env, fresh_default_client):
    result = imagegen.generate("a lighthouse")
    assert result.model == "gpt-image-1" and api.requests[0].json["model"] == "gpt-image-1"
