"""The provider contract suite itself, run against the third-party provider docs/providers.md builds (the code
is taken from the page, so the page stays right), and each way of breaking the contract caught by the test
that says so."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from imagegen.provider import Capabilities, ProviderRequest, ProviderResponse, TransientError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "providers.md"
EXAMPLES = dict(re.findall(r"<!-- example: (\w+) -->\n```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S))


def _module(name: str, block: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = f"{DOCS}:{block}"
    exec(compile(EXAMPLES[block], f"docs/providers.md ({block})", "exec"), module.__dict__)
    return module


# The page's provider package, as if installed, and its contract test module.
acme = sys.modules.setdefault("imagegen_acme", _module("imagegen_acme", "acme_provider"))
TestAcmeContract = _module("test_acme_contract", "acme_contract").TestAcmeContract
AcmeProvider = acme.AcmeProvider


def test_the_page_shows_a_provider_and_its_contract_test():
    assert set(EXAMPLES) == {"acme_provider", "acme_contract"}
    assert "from imagegen.provider import" in EXAMPLES["acme_provider"]
    assert "imagegen." not in EXAMPLES["acme_provider"].replace("imagegen.provider", "")


# -- each way of breaking the contract is caught --------------------------------------------------------

class OneImageShort(AcmeProvider):  # type: ignore[misc,valid-type]
    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        response = await super().generate(req)
        response.images = response.images[:-1]
        return response


class WrongSeeds(AcmeProvider):  # type: ignore[misc,valid-type]
    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        response = await super().generate(req)
        for image in response.images:
            image.seed = (image.seed or 0) + 1
        return response


class LeaksTheKey(AcmeProvider):  # type: ignore[misc,valid-type]
    def raise_for_status(self, r: httpx.Response) -> None:
        if r.status_code in (401, 403):
            raise acme.AuthenticationError(f"{r.text} (we sent {self._api_key})")
        super().raise_for_status(r)


class RateLimitIsTransient(AcmeProvider):  # type: ignore[misc,valid-type]
    def raise_for_status(self, r: httpx.Response) -> None:
        if r.status_code == 429:
            raise TransientError("429")
        super().raise_for_status(r)


class IgnoresCancel(AcmeProvider):  # type: ignore[misc,valid-type]
    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        req.cancel = None
        return await super().generate(req)


class RetriesItself(AcmeProvider):  # type: ignore[misc,valid-type]
    """What an SDK with its own retries left on looks like: a second request for one call."""

    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        try:
            return await super().generate(req)
        except TransientError:
            return await super().generate(req)


class UnknownSupport(AcmeProvider):  # type: ignore[misc,valid-type]
    def capabilities(self) -> Capabilities:
        caps = super().capabilities()
        return Capabilities(sizes=caps.sizes, default_size=caps.default_size, operations=caps.operations,
                            supports=frozenset({"seed", "sharpness"}))


BROKEN = [
    (OneImageShort, "test_every_request_normalize_plans_is_accepted", "images for n="),
    (WrongSeeds, "test_every_request_normalize_plans_is_accepted", "seed"),
    (LeaksTheKey, "test_401_is_authentication_error_and_the_key_stays_out_of_it", "the API key is in the error"),
    (RateLimitIsTransient, "test_429_is_rate_limited_with_its_retry_after", "expected RateLimited"),
    (IgnoresCancel, "test_a_cancelled_request_is_refused_before_it_is_sent", "expected ImageGenError"),
    (RetriesItself, "test_5xx_is_transient_error", "the call succeeded|requests for one call"),
    (UnknownSupport, "test_capabilities_are_valid_and_stable", "unknown supports"),
]


@pytest.mark.parametrize(("provider", "test", "says"), BROKEN, ids=[b[0].__name__ for b in BROKEN])
def test_the_contract_catches_a_provider_that_breaks_it(provider, test, says):
    class Broken(TestAcmeContract):  # type: ignore[misc,valid-type]
        models: ClassVar = ("acme-v2",)

        def make_provider(self, model: str) -> Any:
            return provider(model, api_key=self.api_key, base_url=self.server.url)

    suite = Broken()
    suite.setup_method()
    try:
        with pytest.raises(AssertionError, match=says):
            getattr(suite, test)()
    finally:
        suite.server.close()
