"""Configuration: key, base URL, organization and timeout from arguments or the environment, a lazily built
SDK client (one per event loop), registration under "openai", and a key that never leaks."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import traceback

import pytest
from imagegen_openai import OpenAIProvider

import imagegen
from imagegen import AuthenticationError, InvalidRequest, ProviderUnavailable, TransientError


def run(provider, req):
    return asyncio.run(provider.generate(req))


def python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_importing_the_package_does_not_import_openai():
    assert python("import sys, imagegen_openai; print('openai' in sys.modules)") == "False"


def test_capabilities_need_no_key_and_no_sdk():
    out = python("""
        import sys
        from imagegen_openai import OpenAIProvider
        caps = OpenAIProvider("dall-e-3").capabilities()
        print(sorted(caps.sizes)[0], 'openai' in sys.modules)
    """)
    assert out == "(1024, 1024) False"


def test_a_missing_key_is_provider_unavailable_naming_openai_api_key_before_anything_is_sent(api, kit):
    provider = OpenAIProvider("dall-e-3", base_url=api.url)
    with pytest.raises(ProviderUnavailable) as info:
        run(provider, kit.request())
    assert "OPENAI_API_KEY" in str(info.value) and api.requests == []


def test_a_missing_key_lets_a_fallback_chain_move_on(api, kit):
    from imagegen.testing import FakeProvider

    result = imagegen.Client([OpenAIProvider("dall-e-3", base_url=api.url), FakeProvider("local")],
                             retry=False).generate("a fox")
    assert result.provider == "fake" and any(w.startswith("fallback: openai:dall-e-3") for w in result.warnings)


def test_the_key_and_base_url_come_from_the_environment(api, kit, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", kit.API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", api.url)
    run(OpenAIProvider("dall-e-3"), kit.request())
    assert api.requests[0].headers["Authorization"] == f"Bearer {kit.API_KEY}"


def test_explicit_settings_win_over_the_environment(api, kit, monkeypatch, dead_port):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-000000")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{dead_port}/v1")
    run(OpenAIProvider("dall-e-3", api_key=kit.API_KEY, base_url=api.url), kit.request())
    assert api.requests[0].headers["Authorization"] == f"Bearer {kit.API_KEY}"


def test_the_organization_is_sent_as_a_header(make, api, kit):
    run(make(organization="org-123"), kit.request())
    assert api.requests[0].headers["Openai-Organization"] == "org-123"


def test_the_timeout_applies_to_each_http_request(make, api, kit):
    api.script("/images/generations", kit.slow(1.0, kit.json_response(kit.images_body(1))))
    with pytest.raises(TransientError):
        run(make(timeout=0.2), kit.request())


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"timeout": 0}, "timeout"), ({"timeout": True}, "timeout"), ({"colour": "red"}, "colour"),
    ({"model": ""}, "model"), ({"prices": {"dall-e-3": 1}}, "prices")])
def test_bad_constructor_arguments_are_invalid_requests_naming_them(kwargs, field):
    model = kwargs.pop("model", "dall-e-3")
    with pytest.raises(InvalidRequest) as info:
        OpenAIProvider(model, **kwargs)
    assert info.value.field == field


def test_the_default_model_is_the_recommended_active_model():
    from imagegen_openai.models import MODELS, RECOMMENDED

    assert OpenAIProvider().model == RECOMMENDED and MODELS[RECOMMENDED].lifecycle.status_on() == "active"


def test_a_spec_string_resolves_through_the_entry_point_named_openai():
    provider = imagegen.Client().provider("openai:dall-e-2")
    assert isinstance(provider, OpenAIProvider) and provider.model == "dall-e-2"
    assert imagegen.providers()["openai"] == "imagegen_openai:OpenAIProvider"


def test_the_default_provider_is_the_recommended_openai_model_when_a_key_is_set(monkeypatch, kit):
    from imagegen_openai.models import RECOMMENDED

    monkeypatch.setenv("OPENAI_API_KEY", kit.API_KEY)
    provider = imagegen.Client().provider()  # no provider named
    assert isinstance(provider, OpenAIProvider) and provider.model == RECOMMENDED


def test_each_event_loop_gets_its_own_sdk_client(make, api, kit):
    provider = make()
    run(provider, kit.request())
    run(provider, kit.request())  # a second asyncio.run: a new loop, so a new connection pool
    assert len(api.requests) == 2


def test_aclose_closes_the_client_of_the_running_loop(make, kit):
    provider = make()

    async def scenario():
        client = provider._sdk()
        await provider.aclose()
        return client.is_closed(), provider._sdk() is not client

    assert asyncio.run(scenario()) == (True, True)


def test_prepare_sets_up_the_client_of_the_running_loop_before_the_first_call(make, kit):
    provider = make()

    async def scenario():
        await provider.prepare()
        return asyncio.get_running_loop() in provider._clients

    assert asyncio.run(scenario()) is True


def test_prepare_without_a_key_sets_up_nothing(api):
    provider = OpenAIProvider("dall-e-3", base_url=api.url)

    async def scenario():
        await provider.prepare()
        return len(provider._clients)

    assert asyncio.run(scenario()) == 0


def test_the_key_never_appears_in_errors_reprs_results_or_logs(make, api, kit, caplog):
    caplog.set_level(logging.DEBUG)
    api.script("/images/generations",
               kit.error(401, f"Incorrect API key provided: {kit.API_KEY}. You can find yours at ...",
                         "invalid_api_key"),
               kit.images_ok)
    provider = make()
    with pytest.raises(AuthenticationError) as info:
        run(provider, kit.request())
    result = imagegen.Client(provider, retry=False).generate("a fox")
    err = info.value
    texts = [str(err), repr(err), "".join(traceback.format_exception(type(err), err, err.__traceback__)),
             repr(provider), str(provider), repr(err.__cause__), str(err.__cause__.body), repr(result),
             json.dumps(result.to_dict(), default=str), caplog.text]
    assert [t for t in texts if kit.API_KEY in t] == []
    assert "[redacted]" in str(err)


def test_the_repr_shows_the_model_and_base_url_but_no_credentials_in_the_url(kit):
    provider = OpenAIProvider("dall-e-3", api_key=kit.API_KEY, base_url="https://user:secret@proxy.example/v1")
    assert repr(provider) == "OpenAIProvider('dall-e-3', base_url='https://[redacted]@proxy.example/v1')"
