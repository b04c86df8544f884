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


def test_with_only_a_key_set_the_default_provider_is_the_recommended_active_model(api, openai_env,
                                                                                 fresh_default_client):
    from imagegen_openai.models import RECOMMENDED

    result = imagegen.generate("a lighthouse")
    assert RECOMMENDED == "gpt-image-2.6-sunburst"  # the deprecations page's named replacement, 2026-12-02
    assert result.model == RECOMMENDED and api.requests[0].json["model"] == RECOMMENDED
    assert not [w for w in result.warnings if w.kind == "lifecycle"]


def test_with_a_key_and_no_base_url_a_shut_down_model_is_refused_before_anything_is_sent(
        api, kit, monkeypatch, fresh_default_client):
    monkeypatch.setenv("OPENAI_API_KEY", kit.API_KEY)
    with pytest.raises(imagegen.ProviderUnavailable) as info:
        imagegen.generate("x", provider="openai:dall-e-3")
    message = str(info.value)
    assert "openai:dall-e-3 was shut down by OpenAI on 2026-05-12; use openai:gpt-image-2.5-sunburst" in message
    assert api.requests == [] and info.value.attempts[0].status == "skipped"


def test_on_openai_s_own_host_the_scripted_server_receives_nothing_for_a_shut_down_model(
        api, kit, monkeypatch, fresh_default_client):
    monkeypatch.setattr("imagegen_openai.provider._VENDOR_HOST", "127.0.0.1")  # the scripted server is "OpenAI"
    monkeypatch.setenv("OPENAI_API_KEY", kit.API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", api.url)
    with pytest.raises(imagegen.ProviderUnavailable, match="2026-05-12"):
        imagegen.generate("x", provider="openai:dall-e-3")
    assert api.requests == []


def test_with_openai_base_url_pointing_elsewhere_the_same_call_succeeds(api, openai_env, fresh_default_client):
    result = imagegen.generate("x", provider="openai:dall-e-3")
    assert len(result.images) == 1 and api.requests[0].json["model"] == "dall-e-3"
    assert not [w for w in result.warnings if w.kind == "lifecycle"]


def test_a_gpt_image_2_family_id_imagegen_does_not_know_is_sent_at_exactly_the_size_asked(
        api, openai_env, fresh_default_client):
    result = imagegen.generate("x", provider="openai:gpt-image-2.6-sunburst", size="1920x1088")
    assert api.requests[0].json["size"] == "1920x1088" and result.images[0].size == (1920, 1088)
    assert not [w for w in result.warnings if w.kind == "size"]
    unknown = imagegen.generate("x", provider="openai:gpt-image-2.7-nova", size="1920x1088")
    assert api.requests[1].json["size"] == "1920x1088" and unknown.images[0].size == (1920, 1088)
