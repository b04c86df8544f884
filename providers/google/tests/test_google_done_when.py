"""Issue 10's done-when, end to end: a spec string, settings from the environment, application-default
credentials (refreshed against a local token endpoint), the default client, the real SDK and our server."""

from __future__ import annotations

import functools
import json

import pytest
from imagegen_google import GoogleProvider

import imagegen
import imagegen.testing
from imagegen import Client
from imagegen.testing import FakeProvider, registered_provider

pytestmark = pytest.mark.filterwarnings("ignore::Warning")


@functools.lru_cache(maxsize=1)
def _private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def vertex_env(api, kit, monkeypatch, tmp_path):
    """Vertex AI configured the way a user configures it: environment variables and an ADC file."""
    adc = tmp_path / "adc.json"
    adc.write_text(json.dumps({"type": "service_account", "project_id": kit.PROJECT, "private_key_id": "k1",
                               "private_key": _private_key_pem(), "client_email": "sa@proj-1.iam.gserviceaccount.com",
                               "client_id": "1", "token_uri": f"{api.url}/token"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", kit.PROJECT)
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", kit.LOCATION)
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", api.url)
    api.script("/token", kit.json_response({"access_token": "ya29.from-adc", "expires_in": 3600,
                                            "token_type": "Bearer"}))


@pytest.fixture
def fresh_default_client():
    """``imagegen.generate`` builds its default client anew here and closes it afterwards."""
    with imagegen.testing.fresh_default_client():
        yield


def test_imagen_1920x1080_n6_is_two_16_9_requests_six_images_a_size_warning_and_the_cost(
        api, kit, vertex_env, fresh_default_client):
    api.script(":predict", kit.imagen_echo((1408, 768)))

    result = imagegen.generate("a fox", provider="google:imagen-4.0-generate-001", size="1920x1080", n=6)

    calls = api.calls(kit.imagen_path())
    assert sorted(c.fields["parameters"]["sampleCount"] for c in calls) == [2, 4]
    for call in calls:
        assert call.fields["instances"] == [{"prompt": "a fox"}]
        params = call.fields["parameters"]
        assert params["aspectRatio"] == "16:9" and params["sampleImageSize"] == "1K"
        assert call.headers["Authorization"] == "Bearer ya29.from-adc"
    (token_call,) = api.calls("/token")  # one token for both concurrent calls, signed with the ADC file's key
    assert token_call.fields["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert len(result.images) == 6 and {(im.width, im.height) for im in result.images} == {(1408, 768)}
    assert [w for w in result.warnings if w.startswith("size: ")] and "1920x1080" in result.warnings[0]
    assert result.cost.usd == pytest.approx(6 * 0.04) and result.cost.source == "price-table"
    assert (result.provider, result.model) == ("google", "imagen-4.0-generate-001")


@pytest.fixture
def others():
    """Stand-ins registered as ``openai`` and ``diffusers`` (overriding installed ones, for determinism)."""
    cloud = FakeProvider("dall-e-3", name="openai", script=[imagegen.TransientError("503 from openai")] * 10)
    local = FakeProvider("imagegen-mini", name="diffusers")
    with registered_provider("openai", lambda model=None, **kw: cloud), \
            registered_provider("diffusers", lambda model=None, **kw: local):
        yield cloud, local


CHAIN = ["openai:dall-e-3", "google:gemini-2.5-flash-image", "diffusers:imagegen-mini"]


def test_one_client_holds_openai_google_and_diffusers_specs(monkeypatch, kit, others):
    monkeypatch.setenv("GOOGLE_API_KEY", kit.API_KEY)
    with Client(CHAIN) as client:
        assert isinstance(client.provider("google:gemini-2.5-flash-image"), GoogleProvider)
        assert [client.provider(s).name for s in CHAIN] == ["openai", "google", "diffusers"]


def test_the_chain_falls_from_openai_to_google(api, kit, monkeypatch, others):
    monkeypatch.setenv("GOOGLE_API_KEY", kit.API_KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", api.url)
    api.script(":generateContent", kit.gemini_ok((1024, 1024)))
    with Client(CHAIN, retry=False) as client:
        result = client.generate("a lighthouse", size="1:1")
    assert result.provider == "google" and len(result.images) == 1
    assert any(w.startswith("fallback: openai:dall-e-3 failed") for w in result.warnings)


def test_the_chain_falls_from_google_to_diffusers(api, kit, monkeypatch, others):
    monkeypatch.setenv("GOOGLE_API_KEY", kit.API_KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", api.url)
    api.script(":generateContent", kit.api_error(503, "UNAVAILABLE", "The model is overloaded."))
    with Client(CHAIN, retry=False) as client:
        result = client.generate("a lighthouse", size="64x64")
    assert result.provider == "diffusers"
    assert [(a.provider, a.status) for a in result.attempts] == [
        ("openai", "error"), ("google", "error"), ("diffusers", "ok")]
    assert any(w.startswith("fallback: google:gemini-2.5-flash-image failed (TransientError: 503 UNAVAILABLE")
               for w in result.warnings)


def test_a_google_provider_without_credentials_is_skipped_by_the_chain(api, others):
    with Client(["google:gemini-2.5-flash-image", "diffusers:imagegen-mini"], retry=False) as client:
        result = client.generate("a lighthouse", size="64x64")
    assert result.provider == "diffusers" and api.requests == []
    assert result.attempts[0].error == "ProviderUnavailable"
