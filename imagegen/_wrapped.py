"""``Wrapped``: a provider seen through something that watches its calls (the CLI's progress display, the
server's jobs), delegating everything else to the provider itself."""

from __future__ import annotations

from typing import Any

from .provider import Capabilities, Provider, ProviderRequest, ProviderResponse

__all__ = ["Wrapped"]


class Wrapped:
    """Delegates ``capabilities``, ``estimate_cost``, ``prepare``, ``generate`` and ``aclose`` to the provider;
    a subclass overrides what it watches (``generate``) and says when setting up starts (``_setting_up``)."""

    def __init__(self, provider: Provider) -> None:
        self._client = provider  # the name the client's secret scrubber looks inside
        self.name = provider.name
        self.model = provider.model

    @property
    def label(self) -> str:
        return f"{self.name}:{self.model}"

    def capabilities(self) -> Capabilities:
        return self._client.capabilities()

    def estimate_cost(self, req: ProviderRequest) -> Any:
        estimate = getattr(self._client, "estimate_cost", None)
        return estimate(req) if estimate is not None else None

    async def prepare(self) -> None:
        prepare = getattr(self._client, "prepare", None)
        if prepare is not None:
            self._setting_up()
            await prepare()

    def _setting_up(self) -> None:
        """Called just before the provider's own ``prepare`` runs."""

    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        return await self._client.generate(req)

    async def aclose(self) -> None:
        closer = getattr(self._client, "aclose", None)
        if closer is not None:
            await closer()
