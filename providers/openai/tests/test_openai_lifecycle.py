"""Lifecycle on OpenAI's own endpoint: shut-down models are refused before a request, deprecated ones warn
with the days left, compatible servers keep serving old names, and OpenAI's own "this model is gone" answer
moves a chain on. "OpenAI's endpoint" is the scripted server here (``_VENDOR_HOST`` points at it)."""

from __future__ import annotations

import datetime as dt

import pytest

import imagegen
from imagegen.testing import FakeProvider


@pytest.fixture
def as_openai(monkeypatch):
    """The scripted server on 127.0.0.1 counts as OpenAI's own host."""
    monkeypatch.setattr("imagegen_openai.provider._VENDOR_HOST", "127.0.0.1")


def on(monkeypatch, day: str) -> None:
    monkeypatch.setattr("imagegen.lifecycle.today", lambda: dt.date.fromisoformat(day))


def test_a_deprecated_model_generates_with_a_lifecycle_warning_naming_the_date_days_left_and_replacement(
        make, api, as_openai, monkeypatch):
    on(monkeypatch, "2026-11-21")
    result = imagegen.Client(make("gpt-image-1.5"), retry=False).generate("a fox")
    (note,) = [w for w in result.warnings if w.kind == "lifecycle"]
    assert note == ("model: openai:gpt-image-1.5 is deprecated: OpenAI shuts it down on 2026-12-01 (10 days left); "
                    "use openai:gpt-image-2.6-sunburst") and note.field == "model"
    assert len(api.requests) == 1


def test_on_its_shutdown_day_the_model_is_refused_and_nothing_is_sent(make, api, as_openai, monkeypatch):
    on(monkeypatch, "2026-12-01")
    with pytest.raises(imagegen.ProviderUnavailable, match="shut down by OpenAI on 2026-12-01"):
        imagegen.Client(make("gpt-image-1-mini"), retry=False).generate("a fox")
    assert api.requests == []


def test_a_replacement_that_is_itself_shut_down_is_followed_to_one_in_service(make, as_openai):
    # gpt-image-1's named replacement is in service; dall-e's is too: neither message names a dead model
    with pytest.raises(imagegen.ProviderUnavailable) as info:
        imagegen.Client(make("gpt-image-1"), retry=False).generate("a fox")
    assert "use openai:gpt-image-2.5-sunburst" in str(info.value)


def test_allow_retired_sends_a_shut_down_model_with_a_lifecycle_warning(make, api, as_openai):
    result = imagegen.Client(make("dall-e-3", allow_retired=True), retry=False).generate("a fox")
    assert api.requests[0].json["model"] == "dall-e-3"
    assert [w for w in result.warnings if w.kind == "lifecycle" and "allow_retired=True" in w]


def test_in_a_chain_a_shut_down_model_falls_back_with_the_reason_in_the_warning(make, api, as_openai):
    local = FakeProvider("imagegen-mini", name="diffusers")
    result = imagegen.Client([make("dall-e-3"), local], retry=False).generate("a fox")
    assert result.provider == "diffusers" and api.requests == []
    (note,) = [w for w in result.warnings if w.kind == "fallback"]
    assert "shut down by OpenAI on 2026-05-12" in note
    assert result.attempts[0].status == "skipped"


def test_a_compatible_server_keeps_serving_old_names_without_lifecycle_warnings(make, api):
    result = imagegen.Client(make("gpt-image-1"), retry=False).generate("a fox")
    assert api.requests[0].json["model"] == "gpt-image-1"
    assert not [w for w in result.warnings if w.kind == "lifecycle"]


@pytest.mark.parametrize(("status", "code", "message"), [
    (404, "model_not_found", "The model `gpt-image-2` does not exist or you do not have access to it."),
    (400, "model_not_found", "The model `gpt-image-2` has been deprecated. Learn more: "
                             "https://platform.openai.com/docs/deprecations"),
])
def test_openai_saying_the_model_is_gone_is_provider_unavailable_and_a_chain_falls_back(make, api, kit, status,
                                                                                        code, message):
    api.script("/images/generations", kit.error(status, message, code=code, param="model"))
    local = FakeProvider("imagegen-mini", name="diffusers")
    result = imagegen.Client([make("gpt-image-2"), local], retry=False).generate("a fox")
    assert result.provider == "diffusers" and len(api.requests) == 1
    (note,) = [w for w in result.warnings if w.kind == "fallback"]
    assert "ProviderUnavailable" in note and "'gpt-image-2'" in note and "imagegen models --live" in note


def test_a_model_not_found_without_a_fallback_is_provider_unavailable_naming_the_model(make, api, kit):
    api.script("/images/generations", kit.error(404, "The model `gpt-image-9` does not exist", code="model_not_found"))
    with pytest.raises(imagegen.ProviderUnavailable) as info:
        imagegen.Client(make("gpt-image-9"), retry=False).generate("a fox")
    assert "OpenAI no longer serves 'gpt-image-9'" in str(info.value) and info.value.status == 404
