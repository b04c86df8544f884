from __future__ import annotations

import pytest

import imagegen
from imagegen import InvalidRequest, ProviderUnavailable
from imagegen.registry import default_provider_spec, parse_spec, resolve_provider
from imagegen.testing import FakeProvider


def test_spec_splits_on_the_first_colon_only():
    assert parse_spec("openai:dall-e-3") == ("openai", "dall-e-3")
    assert parse_spec("diffusers:C:/models/x.safetensors") == ("diffusers", "C:/models/x.safetensors")
    assert parse_spec("openai") == ("openai", None)


@pytest.mark.parametrize("bad", ["", "  ", ":model"])
def test_malformed_spec_is_invalid(bad):
    with pytest.raises(InvalidRequest, match="provider"):
        parse_spec(bad)


def test_installed_fake_provider_is_found_through_its_entry_point():
    assert imagegen.providers()["fake"] == "imagegen.testing:FakeProvider"
    provider = resolve_provider("fake:my-model")
    assert isinstance(provider, FakeProvider) and provider.model == "my-model"


def test_unknown_first_party_name_says_which_package_to_install(monkeypatch):
    from imagegen import registry

    monkeypatch.setattr(registry, "_installed", lambda: {})
    with pytest.raises(ProviderUnavailable, match="pip install imagegen-openai"):
        resolve_provider("openai:dall-e-3")


def test_unknown_name_lists_what_is_installed():
    with pytest.raises(ProviderUnavailable, match="no provider named 'nope'.*installed: .*fake"):
        resolve_provider("nope:x")


def test_register_provider_makes_a_name_resolvable():
    imagegen.register_provider("inproc", lambda model="d", **kw: FakeProvider(model, name="inproc", **kw))
    provider = resolve_provider("inproc:abc")
    assert (provider.name, provider.model) == ("inproc", "abc")
    assert imagegen.providers()["inproc"].startswith("registered:")


def test_register_provider_rejects_names_with_colons():
    with pytest.raises(InvalidRequest, match="contain no ':'"):
        imagegen.register_provider("a:b", FakeProvider)


def test_provider_instances_pass_through():
    fake = FakeProvider()
    assert resolve_provider(fake) is fake


def test_default_provider_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("IMAGEGEN_PROVIDER", "fake:from-env")
    assert default_provider_spec() == "fake:from-env"
