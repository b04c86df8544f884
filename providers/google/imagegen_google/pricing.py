"""Dated price table: US dollars per generated image, per model and resolution tier.

Sources (standard, non-batch, on-demand prices):
- Gemini Developer API pricing, https://ai.google.dev/gemini-api/docs/pricing
- Vertex AI generative AI pricing, https://cloud.google.com/vertex-ai/generative-ai/pricing

Gemini image models bill output tokens; the per-image figures are the ones those pages give for an
image at each tier (``gemini-2.5-flash-image``: 1290 tokens at $30 per million). Filtered images are not
returned and not counted. Prices change: check the pages above, or pass ``prices={...}`` to
``GoogleProvider`` to override a row.

The rows below were read on 2026-03-24 and belong to models since shut down (see ``models.py``); they stay
for servers that still serve those names. On 2026-12-02 Google's pricing page could not be found by
imagegen's search tools, so the models in service today (``gemini-3.1-flash-image``, ``gemini-3-pro-image``,
``gemini-3.1-flash-lite-image``, ``gemini-nano-banana-2.1``) have no price here: their cost is None (unknown)
with a warning, never a guess. Third parties quote $0.067 per 1K image for ``gemini-3.1-flash-image``; pass
``prices={"gemini-3.1-flash-image": {"1K": ...}}`` once you have read Google's page.
"""

from __future__ import annotations

from collections.abc import Mapping

from imagegen.provider import Cost, CostItem, GenerationWarning

__all__ = ["PRICES", "PRICES_AS_OF", "PRICE_SOURCES", "image_cost"]

PRICES_AS_OF = "2026-03-24"
PRICE_SOURCES = ("https://ai.google.dev/gemini-api/docs/pricing",
                 "https://cloud.google.com/vertex-ai/generative-ai/pricing")

#: model -> tier -> USD per image.
PRICES: dict[str, dict[str, float]] = {
    "imagen-4.0-generate-001": {"1K": 0.04, "2K": 0.04},
    "imagen-4.0-ultra-generate-001": {"1K": 0.06, "2K": 0.06},
    "imagen-4.0-fast-generate-001": {"1K": 0.02},
    "imagen-3.0-generate-002": {"1K": 0.04},
    "imagen-3.0-generate-001": {"1K": 0.04},
    "imagen-3.0-fast-generate-001": {"1K": 0.02},
    "gemini-2.5-flash-image": {"1K": 0.039},
    "gemini-3-pro-image-preview": {"1K": 0.134, "2K": 0.134, "4K": 0.24},
}


def image_cost(model: str, tier: str, n: int,
               prices: Mapping[str, Mapping[str, float]] = PRICES) -> tuple[Cost, GenerationWarning | None]:
    """(cost of ``n`` images, warning or None). Unknown prices give ``usd=None`` and a ``cost`` warning."""
    unit = prices.get(model, {}).get(tier)
    if unit is None:
        return Cost(usd=None, source=None), GenerationWarning(
            f"cost: no price known for google:{model} at {tier} (price table of {PRICES_AS_OF}); "
            "cost.usd is None (unknown)", kind="cost")
    return Cost(usd=unit * n, source="price-table",
                items=[CostItem(f"google:{model} image ({tier})", n, unit, unit * n)]), None
