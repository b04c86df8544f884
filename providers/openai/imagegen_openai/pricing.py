"""What an OpenAI image costs: a dated price table shipped as data (``prices.json``), token prices for
the GPT Image models' reported ``usage``, and user overrides.

The table lives in ``imagegen_openai/prices.json`` (the date it was checked and its public sources are
in the file). Overrides have the same shape, as a mapping or a JSON file path, and replace only the
entries they name::

    OpenAIProvider("dall-e-3", prices={"dall-e-3": {"per_image": {"hd": {"1792x1024": 0.10}}}})
    OpenAIProvider("gpt-image-1", prices="my-prices.json")      # or IMAGEGEN_OPENAI_PRICES=my-prices.json
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from imagegen.provider import Cost, CostItem, CostSource, InvalidRequest

__all__ = ["CACHED_KINDS", "PRICES_ENV", "PROMPT_TOKEN_MARGIN", "TOKEN_KINDS", "PriceTable", "Usage", "builtin_prices",
           "load_prices"]

PRICES_ENV = "IMAGEGEN_OPENAI_PRICES"
#: Text input tokens a budget reserves beyond one per byte of the prompt, for what the API wraps around it
#: (imagegen's own safety margin, not a vendor figure).
PROMPT_TOKEN_MARGIN = 256
#: Token kinds a response's ``usage`` reports, and a model's ``tokens_per_million`` prices.
TOKEN_KINDS = ("text_input", "image_input", "image_output", "text_output")
#: Cached-input prices the vendor lists. They are kept for the record (``imagegen models``): the Images
#: API's ``usage`` has no cached-token counts (openai SDK 3.57.0 ``images_response.py``, checked
#: 2026-12-02), so no call can be charged at them.
CACHED_KINDS = ("cached_text_input", "cached_image_input")
_TOKEN_LABELS = {"text_input": "text input tokens", "image_input": "image input tokens",
                 "image_output": "image output tokens", "text_output": "text output tokens",
                 "cached_text_input": "cached text input tokens", "cached_image_input": "cached image input tokens"}

PriceSource = Mapping[str, Any] | str | os.PathLike[str]


@dataclass(frozen=True)
class ModelPrices:
    #: quality -> "WxH" -> USD per image
    per_image: dict[str, dict[str, float]] = field(default_factory=dict)
    #: token kind -> USD per 1M tokens
    tokens_per_million: dict[str, float] = field(default_factory=dict)
    #: Where and when these prices were read.
    source: str = ""

    def describe(self) -> str:
        """The price basis in one line: ``tokens per 1M: text in $5.00, ...`` or ``per image: $0.011-$0.250``."""
        parts = []
        if self.tokens_per_million:
            parts.append("tokens per 1M: " + ", ".join(
                f"{_TOKEN_LABELS[k].removesuffix(' tokens')} ${v:.2f}" for k, v in self.tokens_per_million.items()))
        units = [u for sizes in self.per_image.values() for u in sizes.values()]
        if units:
            low, high = min(units), max(units)
            parts.append(f"per image: ${low:.3f}" + (f"-${high:.3f}" if high != low else ""))
        return "; ".join(parts) or "unknown"


@dataclass(frozen=True)
class Usage:
    """Token counts from a GPT Image response's ``usage`` (summed over the calls of one request)."""

    text_input: int = 0
    image_input: int = 0
    image_output: int = 0
    text_output: int = 0

    @classmethod
    def from_response(cls, usage: Any) -> Usage | None:
        """Read the API's ``usage`` object; None when it is missing or not shaped as documented."""
        if not isinstance(usage, Mapping):
            return None
        try:
            total_in = int(usage.get("input_tokens") or 0)
            total_out = int(usage.get("output_tokens") or 0)
            given_in = usage.get("input_tokens_details")
            given_out = usage.get("output_tokens_details")
            details_in: Mapping[str, Any] = given_in if isinstance(given_in, Mapping) else {}
            details_out: Mapping[str, Any] = given_out if isinstance(given_out, Mapping) else {}
            if details_in:
                text_in, image_in = int(details_in.get("text_tokens") or 0), int(details_in.get("image_tokens") or 0)
            else:  # no breakdown: a prompt alone is text
                text_in, image_in = total_in, 0
            if details_out:
                image_out = int(details_out.get("image_tokens") or 0)
                text_out = int(details_out.get("text_tokens") or 0)
            else:
                image_out, text_out = total_out, 0
        except (TypeError, ValueError):
            return None
        return cls(text_input=text_in, image_input=image_in, image_output=image_out, text_output=text_out)

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(getattr(self, k) + getattr(other, k) for k in TOKEN_KINDS))

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in TOKEN_KINDS}


@dataclass(frozen=True)
class PriceTable:
    """Prices per model. ``checked`` and ``sources`` say where and when they were read."""

    models: dict[str, ModelPrices]
    checked: str = "unknown"
    sources: tuple[str, ...] = ()
    overridden: bool = False

    def per_image(self, model: str, width: int, height: int, quality: str | None) -> tuple[float, str] | None:
        """(USD per image, quality priced). ``quality=None``: the dearest quality at that size (an upper
        bound, for a GPT Image model left on ``auto``)."""
        prices = self.models.get(model)
        if prices is None:
            return None
        size = f"{width}x{height}"
        if quality is not None:
            unit = prices.per_image.get(quality, {}).get(size)
            return None if unit is None else (unit, quality)
        known = [(by_size[size], q) for q, by_size in prices.per_image.items() if size in by_size]
        return max(known) if known else None

    def image_cost(self, model: str, width: int, height: int, quality: str | None, n: int, *,
                   label: str, source: CostSource = "price-table", note: str = "") -> Cost | None:
        """``n`` images from the per-image table, or None when the table has no price for them."""
        found = self.per_image(model, width, height, quality)
        if found is None:
            return None
        unit, priced = found
        what = f"{label} image {width}x{height} {priced}" + (f" ({note})" if note else "")
        return Cost(usd=unit * n, source=source, items=[CostItem(what, n, unit, unit * n)])

    def usage_cost(self, model: str, usage: Usage, *, label: str) -> Cost | None:
        """Cost of reported token usage, or None when a token kind it used has no price."""
        rates = self.models.get(model, ModelPrices()).tokens_per_million
        items = []
        for kind in TOKEN_KINDS:
            count = getattr(usage, kind)
            if not count:
                continue
            rate = rates.get(kind)
            if rate is None:
                return None
            unit = rate / 1_000_000
            items.append(CostItem(f"{label} {_TOKEN_LABELS[kind]}", count, unit, unit * count))
        return Cost(usd=sum(item.usd or 0.0 for item in items), source="usage", items=items)

    def prompt_bound(self, model: str, prompt: str, n: int, *, label: str) -> CostItem | None:
        """The most the prompt's text input tokens can cost for ``n`` images: one token per UTF-8 byte (a
        byte-level BPE token is at least one byte) plus ``PROMPT_TOKEN_MARGIN`` for what the API adds around
        it; None when the model has no text input price."""
        rate = self.models.get(model, ModelPrices()).tokens_per_million.get("text_input")
        if rate is None:
            return None
        tokens = (len(prompt.encode("utf-8")) + PROMPT_TOKEN_MARGIN) * n
        unit = rate / 1_000_000
        return CostItem(f"{label} text input tokens, at most {tokens} (one per byte of the prompt)", tokens, unit,
                        unit * tokens)

    def describe(self) -> str:
        origin = "with your overrides" if self.overridden else "built in"
        return f"price table of {self.checked} ({origin})"


@cache
def builtin_prices() -> PriceTable:
    """The table shipped in this package."""
    text = resources.files("imagegen_openai").joinpath("prices.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    return PriceTable(models=_parse_models(doc["models"], "prices.json"), checked=str(doc.get("checked", "unknown")),
                      sources=tuple(doc.get("sources", ())))


def load_prices(override: PriceSource | None = None) -> PriceTable:
    """The built-in table with ``override`` (a mapping or a JSON file path, same shape) laid over it.
    Raises ``InvalidRequest`` (field ``prices``) for an unreadable file or a malformed entry."""
    base = builtin_prices()
    if override is None:
        return base
    where = "prices"
    if isinstance(override, (str, os.PathLike)):
        path = os.fspath(override)
        where = f"prices file {path!r}"
        try:
            with open(path, encoding="utf-8") as fh:
                doc: Any = json.load(fh)
        except OSError as exc:
            raise InvalidRequest(f"prices: cannot read price file {path!r}: {exc.strerror}", field="prices") from None
        except ValueError as exc:
            raise InvalidRequest(f"prices: {path!r} is not valid JSON: {exc}", field="prices") from None
    else:
        doc = override
    if not isinstance(doc, Mapping):
        raise InvalidRequest(f"{where}: expected a mapping of model -> prices; got {type(doc).__name__}",
                             field="prices")
    models_doc = doc.get("models", doc)
    if not isinstance(models_doc, Mapping):
        raise InvalidRequest(f"{where}: 'models' must be a mapping of model -> prices", field="prices")
    extra = _parse_models(models_doc, where)
    merged = dict(base.models)
    for model, prices in extra.items():
        old = merged.get(model, ModelPrices())
        per_image = {q: dict(sizes) for q, sizes in old.per_image.items()}
        for quality, sizes in prices.per_image.items():
            per_image.setdefault(quality, {}).update(sizes)
        merged[model] = ModelPrices(per_image=per_image,
                                    tokens_per_million={**old.tokens_per_million, **prices.tokens_per_million},
                                    source=prices.source or old.source)
    checked = str(doc.get("checked", base.checked)) if "models" in doc else base.checked
    return PriceTable(models=merged, checked=checked, sources=base.sources, overridden=True)


def _parse_models(doc: Mapping[str, Any], where: str) -> dict[str, ModelPrices]:
    out: dict[str, ModelPrices] = {}
    for model, entry in doc.items():
        if not isinstance(entry, Mapping):
            raise InvalidRequest(f"{where}: {model!r} must map to {{'per_image': ..., 'tokens_per_million': ...}}",
                                 field="prices")
        unknown = set(entry) - {"per_image", "tokens_per_million", "source"}
        if unknown:
            raise InvalidRequest(f"{where}: {model}: unknown key(s) {sorted(unknown)}; allowed: per_image, "
                                 "tokens_per_million, source", field="prices")
        per_image: dict[str, dict[str, float]] = {}
        for quality, sizes in _mapping(entry.get("per_image", {}), f"{where}: {model}.per_image").items():
            per_image[str(quality)] = {
                _size_key(size, f"{where}: {model}.per_image.{quality}"): _usd(price, f"{where}: "
                                                                                   f"{model}.per_image.{quality}.{size}")
                for size, price in _mapping(sizes, f"{where}: {model}.per_image.{quality}").items()}
        tokens: dict[str, float] = {}
        for kind, price in _mapping(entry.get("tokens_per_million", {}),
                                    f"{where}: {model}.tokens_per_million").items():
            if kind not in TOKEN_KINDS + CACHED_KINDS:
                raise InvalidRequest(f"{where}: {model}.tokens_per_million: unknown token kind {kind!r}; allowed: "
                                     f"{', '.join(TOKEN_KINDS + CACHED_KINDS)}", field="prices")
            tokens[kind] = _usd(price, f"{where}: {model}.tokens_per_million.{kind}")
        out[str(model)] = ModelPrices(per_image=per_image, tokens_per_million=tokens,
                                      source=str(entry.get("source", "")))
    return out


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{where} must be a mapping; got {type(value).__name__}", field="prices")
    return value


def _size_key(size: Any, where: str) -> str:
    parts = str(size).lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise InvalidRequest(f"{where}: size {size!r} must look like '1024x1024'", field="prices")
    return f"{int(parts[0])}x{int(parts[1])}"


def _usd(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidRequest(f"{where} must be a number of dollars >= 0; got {value!r}", field="prices")
    return float(value)
