"""Lifecycle on Google's own endpoints: Imagen and the preview image models are shut down and refused before a
request; compatible servers keep serving them; Google's 404 moves a chain on; the default follows the data.
"Google's endpoint" is the scripted server here (``_VENDOR_DOMAIN`` points at it)."""

from __future__ import annotations

import pytest
from imagegen_google import GoogleProvider
from imagegen_google.models import MODELS, RECOMMENDED

import imagegen
from imagegen.testing import FakeProvider


@pytest.fixture
def as_google(monkeypatch):
    monkeypatch.setattr("imagegen_google.provider._VENDOR_DOMAIN", "127.0.0.1")


@pytest.mark.parametrize(("model", "day", "replacement"), [
    ("imagen-4.0-generate-001", "2026-08-17", "gemini-3.1-flash-image"),
    ("imagen-4.0-ultra-generate-001", "2026-08-17", "gemini-3-pro-image"),
    ("gemini-3-pro-image-preview", "2026-06-25", "gemini-3-pro-image"),
    ("gemini-3.1-flash-image-preview", "2026-06-25", "gemini-3.1-flash-image"),
    ("gemini-2.5-flash-image", "2026-10-02", "gemini-3.1-flash-image"),
])
def test_a_shut_down_model_on_googles_endpoint_is_refused_before_anything_is_sent(
        api, gemini_api, vertex, as_google, model, day, replacement):
    provider = vertex(model) if model.startswith("imagen") else gemini_api(model)
    with pytest.raises(imagegen.ProviderUnavailable) as info:
        imagegen.Client(provider, retry=False).generate("a fox")
    assert f"google:{model} was shut down by Google on {day}; use google:{replacement}" in str(info.value)
    assert api.requests == []


def test_a_compatible_server_keeps_serving_a_shut_down_name(api, gemini_api, kit):
    api.script(kit.gemini_path("gemini-2.5-flash-image"), kit.gemini_ok((1024, 1024)))
    result = imagegen.Client(gemini_api("gemini-2.5-flash-image"), retry=False).generate("a fox", size="1:1")
    assert len(result.images) == 1 and not [w for w in result.warnings if w.kind == "lifecycle"]


def test_googles_404_for_a_model_is_provider_unavailable_and_a_chain_falls_back(api, gemini_api, kit):
    api.script(kit.gemini_path("gemini-3.1-flash-image"),
               kit.api_error(404, "NOT_FOUND", "models/gemini-3.1-flash-image is not found for API version v1beta"))
    local = FakeProvider("imagegen-mini", name="diffusers")
    result = imagegen.Client([gemini_api("gemini-3.1-flash-image"), local], retry=False).generate("a fox")
    assert result.provider == "diffusers"
    (note,) = [w for w in result.warnings if w.kind == "fallback"]
    assert "ProviderUnavailable" in note and "imagegen models --live" in note


def test_with_only_a_google_key_the_default_is_the_recommended_active_gemini_model(monkeypatch, kit):
    monkeypatch.setenv("GOOGLE_API_KEY", kit.API_KEY)
    assert imagegen.Client().provider().model == RECOMMENDED  # no provider named: the default spec
    assert MODELS[RECOMMENDED].lifecycle.status_on() == "active"
    assert GoogleProvider().model == RECOMMENDED


def test_gemini_nano_banana_ids_are_image_models():
    assert GoogleProvider("gemini-nano-banana-2.1").spec.known
    assert not GoogleProvider("gemini-nano-banana-2.2").spec.known  # the unknown-id rule covers its successors
