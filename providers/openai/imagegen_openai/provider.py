"""``OpenAIProvider``: OpenAI's Images API behind imagegen's contract, through the official ``openai`` SDK.

Operations: ``txt2img`` -> ``images.generate``; ``img2img`` and ``inpaint`` -> ``images.edit``;
``variation`` -> ``images.create_variation`` (DALL·E 2). Calls go through ``with_raw_response`` and one
``json.loads``: the SDK's pydantic response models would only be thrown away, and base64 PNGs stay
base64 until someone reads ``image.data``. Images that come back as URLs are downloaded with ``httpx``
inside the same attempt.

The SDK client is built on first use, once per event loop (an ``httpx`` connection pool belongs to
the loop it was made on), so listing capabilities needs neither a key nor the SDK, and ``import
imagegen_openai`` does not import ``openai``. The SDK's own retries are off (``max_retries=0``):
imagegen's retry layer is the only one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as _dt
import json
import logging
import os
import re
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imagegen.provider import (
    Capabilities,
    Cost,
    CostItem,
    CostSource,
    GeneratedImage,
    GenerationWarning,
    ImageGenError,
    ImageSettings,
    InvalidRequest,
    LiveModel,
    ModelInfo,
    PartialImage,
    ProgressEvent,
    ProviderRequest,
    ProviderResponse,
    ProviderUnavailable,
    TransientError,
    check_lifecycle,
    check_timeout,
    gather_calls,
    guard_logs,
    in_service,
    scrub,
    scrub_error,
)

from .errors import map_error
from .inputs import Upload, dall_e_2_image, gpt_image, openai_mask
from .models import GPT_IMAGE_OPTIONS, MODELS, RECOMMENDED, ModelSpec, model_spec
from .options import OPTION_NAMES, OpenAIOptions, parse_options
from .pricing import PRICES_ENV, PriceSource, PriceTable, Usage, load_prices

if TYPE_CHECKING:
    import httpx
    from openai import AsyncOpenAI

__all__ = ["DEFAULT_MODEL", "OpenAIProvider"]

logger = logging.getLogger("imagegen.openai")

#: The recommended active model (``models.RECOMMENDED``): what ``openai`` with no model means.
DEFAULT_MODEL = RECOMMENDED
_CONSTRUCTOR_ARGS = ("api_key", "base_url", "organization", "timeout", "prices", "like", "allow_retired")
#: GenerateParams fields that are OpenAI options of the same name on the GPT Image models.
_NEUTRAL = ("output_format", "output_compression", "background")
#: Ids of image models in OpenAI's model list (``list_models`` keeps these only).
_IMAGE_MODEL_PREFIXES = ("gpt-image-", "chatgpt-image-", "dall-e-")
#: OpenAI's own API host: lifecycle (refusing shut-down models) applies to it only.
_VENDOR_HOST = "api.openai.com"
_USERINFO = re.compile(r"//[^/@\s]+@")


#: An edit's files: the image, the mask, and the extra input images.
_Uploads = tuple[Upload | None, Upload | None, tuple[Upload, ...]]


@dataclass
class _Outcome:
    """What one API call gave back."""

    images: list[GeneratedImage]
    usage: Usage | None = None
    quality: str | None = None
    warnings: list[GenerationWarning] = field(default_factory=list)


class OpenAIProvider:
    """OpenAI's image models: ``OpenAIProvider("dall-e-3")``, ``OpenAIProvider("gpt-image-1", api_key=...)``.

    ``api_key`` (default ``OPENAI_API_KEY``), ``base_url`` (default ``OPENAI_BASE_URL``; Azure OpenAI's
    ``https://RESOURCE.openai.azure.com/openai/v1/`` or any OpenAI-compatible server), ``organization``
    (default ``OPENAI_ORG_ID``), ``timeout`` (seconds per HTTP request), ``prices`` (overrides of the price
    table: a mapping or a JSON file path; default ``IMAGEGEN_OPENAI_PRICES``), ``like`` (a known model
    whose limits and prices an unknown id, such as an Azure deployment name, has), ``allow_retired``
    (send a model OpenAI has shut down anyway; by default that is refused before any request, on
    OpenAI's own endpoint only), and any ``OpenAIOptions`` field as a default for every call
    (``background="transparent"``, ``user="u1"``, ...).
    """

    name = "openai"
    #: The model ``openai`` with no model means, and what imagegen picks with only an OpenAI key.
    default_model = DEFAULT_MODEL

    def __init__(self, model: str | None = None, *, api_key: str | None = None, base_url: str | None = None,
                 organization: str | None = None, timeout: float | None = None, prices: PriceSource | None = None,
                 like: str | None = None, allow_retired: bool = False, **options: Any) -> None:
        unknown = sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            raise InvalidRequest(f"OpenAIProvider: unknown option(s) {', '.join(map(repr, unknown))}; allowed: "
                                 f"{', '.join(_CONSTRUCTOR_ARGS + OPTION_NAMES)}", field=unknown[0])
        model = DEFAULT_MODEL if model is None else model
        if not isinstance(model, str) or not model.strip():
            raise InvalidRequest(f"model: expected an OpenAI image model id such as {DEFAULT_MODEL!r}; got {model!r}",
                                 field="model")
        self.timeout = check_timeout(timeout)
        if like is not None and not model_spec(like).known:
            raise InvalidRequest(f"like: {like!r} is not a model imagegen-openai knows; use one of "
                                 f"{', '.join(_known_models())}", field="like")
        self.model = model.strip()
        self.like = like
        self.spec: ModelSpec = model_spec(like or self.model)
        self.options: OpenAIOptions = parse_options(options, where="OpenAIProvider")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.allow_retired = bool(allow_retired)
        self.organization = organization
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.prices: PriceTable = load_prices(prices if prices is not None else os.environ.get(PRICES_ENV) or None)
        self._caps = self.spec.capabilities()
        self._notes: list[GenerationWarning] = []
        if not self.spec.known:
            self._notes.append(GenerationWarning(self._unknown_model_note(), kind="compatibility", field="model"))
            logger.warning("imagegen %s", self._notes[0])
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncOpenAI] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"openai:{self.model}"

    @property
    def _price_model(self) -> str:
        """The price-table row for this model: its own, else its family's (``gpt-image-2*`` -> ``gpt-image-2``)."""
        model = self.like or self.model
        if model not in self.prices.models and self.spec.price_as is not None:
            return self.spec.price_as
        return model

    @property
    def vendor_endpoint(self) -> bool:
        """True when calls go to OpenAI itself (no base URL, or one on api.openai.com), where lifecycle applies."""
        if not self.base_url:
            return True
        from urllib.parse import urlsplit

        return (urlsplit(self.base_url).hostname or "").lower() == _VENDOR_HOST

    def _lifecycle(self) -> GenerationWarning | None:
        """The lifecycle rule for this model (``imagegen.lifecycle``): a warning for a deprecated one; a shut-down
        one raises ``ProviderUnavailable`` before anything is sent, on OpenAI's own endpoint."""
        return check_lifecycle(self.name, self.model, self.spec.lifecycle, vendor="OpenAI",
                               vendor_endpoint=self.vendor_endpoint, allow_retired=self.allow_retired,
                               replacement=in_service(self.spec.lifecycle.replacement,
                                                       {m: spec.lifecycle for m, spec in MODELS.items()},
                                                       RECOMMENDED))

    def __repr__(self) -> str:
        parts = [repr(self.model)]
        if self.like:
            parts.append(f"like={self.like!r}")
        if self.base_url:
            parts.append(f"base_url={_USERINFO.sub('//[redacted]@', self.base_url)!r}")
        return f"OpenAIProvider({', '.join(parts)})"

    def _unknown_model_note(self) -> str:
        if self.spec.free_size is not None:
            how = ("gpt-image-2's limits and token prices (the gpt-image-2 family rule: sizes in 16 px steps up to "
                   "3840, 1:3..3:1; quality low/medium/high/auto)")
        elif self.spec.family == "gpt-image":
            how = "GPT Image limits (1024x1024, 1536x1024, 1024x1536; quality low/medium/high/auto)"
        else:
            how = ("generic limits (1024x1024, 1536x1024, 1024x1536; one image a call; generations and edits; "
                   "no quality or style)")
        return (f"model: {self.model!r} is not a model imagegen-openai knows ({', '.join(_known_models())}); "
                f"assuming {how}; pass like='<known model>' to use that model's limits and prices")

    # -- what this model can do ----------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        """This model's limits (no key and no SDK needed)."""
        return self._caps

    async def prepare(self) -> None:
        """Set up the SDK client for this event loop when a key is configured, so that importing ``openai``
        (about half a second, once per process) happens before a ``Client`` starts an attempt's timeout
        clock. Without a key nothing is set up: ``generate`` raises the error, at call time."""
        self._lifecycle()  # a shut-down model is refused here, before planning or any request
        if asyncio.get_running_loop() not in self._clients and (self._api_key or os.environ.get("OPENAI_API_KEY")):
            self._sdk()

    def estimate_cost(self, req: ProviderRequest) -> Cost:
        """The most ``req`` can cost, which budgets reserve before the call. DALL·E: the table price. GPT Image
        models, billed by tokens: the image output of the size at the asked quality (``auto``: the dearest)
        from the per-image table, plus the prompt's text input tokens at most. No bound (``usd=None``, with
        the reason as an item) when the table has no price for the size, or for an edit, whose input image
        tokens cannot be counted ahead; under a budget such a call is refused unless ``unknown_cost="allow"``.
        (Text output tokens, which ``gpt-image-1.5`` may report, are not bounded: a call that costs more than
        was reserved is reported with a warning.)"""
        cost = self._table_cost(req.width, req.height, req.quality, None, req.n)
        if cost is None:
            return Cost(usd=None, items=[CostItem(f"{self.label} has no known price at {req.width}x{req.height}"
                                                  f"{' ' + req.quality if req.quality else ''}", req.n, None, None)])
        if self.spec.family != "gpt-image":
            return cost
        if req.image is not None or req.mask is not None:
            return Cost(usd=None, items=[CostItem(f"the input image tokens of a {self.label} edit cannot be counted "
                                                  "ahead", 1, None, None)])
        text = self.prices.prompt_bound(self._price_model, req.prompt, req.n, label=self.label)
        if text is None or cost.usd is None:
            return Cost(usd=None, items=[CostItem(f"{self.label} has no text input token price", 1, None, None)])
        return Cost(usd=cost.usd + (text.usd or 0.0), source="estimate", items=[*cost.items, text])

    def _table_quality(self, asked: str | None, answered: str | None) -> tuple[str | None, str]:
        """(quality key for the table or None for "dearest", a note on how it was chosen)."""
        family = self.spec.family
        if family == "dall-e-2":
            return "standard", ""
        if family == "dall-e-3":
            return asked or "standard", ""
        if family == "generic":  # only your own prices (prices=...) know such a model: one quality, usually
            return None, ""
        if asked in ("low", "medium", "high"):
            return asked, ""
        if answered in ("low", "medium", "high"):
            return answered, "quality the API reports"
        return None, "quality auto, priced at the dearest for this size"

    def _table_cost(self, width: int, height: int, asked: str | None, answered: str | None, n: int) -> Cost | None:
        """``n`` images from the per-image table: the price for DALL·E, an estimate (``source="estimate"``)
        for GPT Image models, which are billed by tokens."""
        quality, note = self._table_quality(asked, answered)
        gpt = self.spec.family == "gpt-image"
        if gpt:
            note = "; ".join(x for x in ("estimate from the per-image table", note) if x)
        source: CostSource = "estimate" if gpt else "price-table"
        cost = self.prices.image_cost(self._price_model, width, height, quality, n, label=self.label, source=source,
                                      note=note)
        family = self.spec.price_as
        if cost is None and family is not None and family != self._price_model:
            cost = self.prices.image_cost(family, width, height, quality, n, label=self.label, source=source,
                                          note="; ".join(x for x in (f"{family}'s per-image table", note) if x))
        return cost

    # -- the catalog ---------------------------------------------------------------------------

    @classmethod
    def catalog(cls) -> list[ModelInfo]:
        """Every model in imagegen-openai's data, for ``imagegen.models()`` (no key, no SDK)."""
        prices = load_prices(os.environ.get(PRICES_ENV) or None)
        rows = []
        for name, spec in MODELS.items():
            life = spec.lifecycle
            row = prices.models.get(name)
            priced = row.describe() if row is not None else "unknown"
            if spec.price_as is not None and spec.price_as in prices.models and (row is None or not row.per_image):
                family = prices.models[spec.price_as].describe()
                priced = f"as {spec.price_as}: {family}" if row is None else f"{priced}; estimates as {spec.price_as}"
            rows.append(ModelInfo(
                provider=cls.name, model=name, status=life.status_on(), shutdown=life.shutdown,
                replacement=life.replacement, sizes=spec.capabilities().describe_sizes(),
                max_images_per_call=spec.max_images_per_call, price=priced, operations=tuple(sorted(spec.operations)),
                recommended=name == RECOMMENDED, source=life.source, note=life.note))
        return rows

    async def list_models(self) -> list[LiveModel]:
        """The image models OpenAI (or the server at ``base_url``) lists now, with the ``shutdown_date`` it
        reports (``GET /v1/models``)."""
        sdk = self._sdk()
        try:
            raw = await sdk.models.with_raw_response.list()
            body = json.loads(raw.http_response.content)
        except ImageGenError:
            raise
        except Exception as exc:
            mapped = map_error(exc, label=self.label, secrets=[self._api_key])
            if mapped is None:
                raise
            scrub_error(exc, [self._api_key])
            raise mapped from exc
        found = []
        for item in body.get("data", []) if isinstance(body, dict) else []:
            model = item.get("id") if isinstance(item, dict) else None
            if not isinstance(model, str) or not model.startswith(_IMAGE_MODEL_PREFIXES):
                continue
            shutdown = item.get("shutdown_date")
            try:
                day = _dt.date.fromisoformat(shutdown) if isinstance(shutdown, str) and shutdown else None
            except ValueError:
                logger.warning("imagegen %s: /v1/models gave %s an unreadable shutdown_date %r", self.label, model,
                               shutdown)
                day = None
            found.append(LiveModel(model, day))
        return found

    # -- the SDK client ------------------------------------------------------------------------

    def _sdk(self) -> AsyncOpenAI:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            with self._lock:
                client = self._clients.get(loop)
                if client is None:
                    client = self._clients[loop] = self._build_client()
        return client

    def _build_client(self) -> AsyncOpenAI:
        key = self._api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise ProviderUnavailable(
                "no OpenAI API key: set OPENAI_API_KEY or pass OpenAIProvider(api_key=...) (for an OpenAI-compatible "
                "server that needs none, any placeholder string)", provider=self.label)
        self._api_key = key
        import openai

        guard_logs(key)  # the SDK's and httpx's loggers echo options, headers and URLs at DEBUG/INFO

        settings: dict[str, Any] = {"api_key": key, "max_retries": 0}  # one retry layer: imagegen's
        if self.base_url:
            settings["base_url"] = self.base_url
        if self.organization:
            settings["organization"] = self.organization
        if self.timeout is not None:
            settings["timeout"] = self.timeout
        try:
            return openai.AsyncOpenAI(**settings)
        except openai.OpenAIError as exc:
            raise ProviderUnavailable(f"the openai SDK could not be set up: {scrub(str(exc), [key])}",
                                      provider=self.label) from None

    async def aclose(self) -> None:
        """Close the SDK client of this event loop; clients of other loops are closed on theirs."""
        with self._lock:
            clients = list(self._clients.items())
            self._clients.clear()
        current = asyncio.get_running_loop()
        for loop, client in clients:
            if loop is current:
                await client.close()
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(client.close(), loop)

    # -- generation ----------------------------------------------------------------------------

    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        """One API call for ``req`` (``normalize`` has fitted it to this model: its size, quality and style,
        its inputs, and at most ``max_images_per_call`` images)."""
        warnings = list(self._notes)
        note = self._lifecycle()
        if note is not None:
            warnings.append(note)
        options = self._request_options(req, warnings)
        if req.operation == "variation" and req.prompt.strip():
            warnings.append(GenerationWarning(f"prompt: {self.label} variations take no prompt; it was not sent",
                                              kind="unsupported", field="prompt"))
        sdk = self._sdk()  # a missing key fails here, before any work or any request
        uploads = await self._uploads(req, warnings)
        if self.spec.streams and req.partial is not None and req.partial_images > 0:
            outcome = await self._streamed(sdk, req, options, uploads)
        else:
            outcome = await self._one(sdk, req, options, uploads)
        if req.progress is not None:
            req.progress(ProgressEvent(stage="generate", step=1, total=1, image_index=req.index))
        return self._response(req, outcome, warnings)

    def _request_options(self, req: ProviderRequest, warnings: list[GenerationWarning]) -> OpenAIOptions:
        given = req.provider_options
        known = {k: v for k, v in given.items() if k in OPTION_NAMES}
        for key in sorted(set(given) - set(known)):
            warnings.append(GenerationWarning(f"provider_options: openai ignores {key!r}; it knows "
                                              f"{', '.join(OPTION_NAMES)}", kind="unsupported",
                                              field="provider_options"))
        options = parse_options(known, base=self.options) if known else self.options
        neutral = {name: getattr(req, name) for name in _NEUTRAL if getattr(req, name) is not None}
        for name in sorted(set(neutral) & set(known)):
            if neutral[name] != known[name]:  # one truth: imagegen encodes to the parameter's format anyway
                warnings.append(GenerationWarning(
                    f"provider_options: {name}={known[name]!r} gives way to the parameter {name}={neutral[name]!r}",
                    kind="compatibility", field=f"provider_options.{name}"))
        if neutral and self.spec.family == "gpt-image":  # the API's own fields; others get imagegen's re-encoding
            options = parse_options(neutral, base=options, where="params")
        takes = set(self.spec.options)
        if req.operation != "txt2img":
            takes.discard("moderation")  # images.edit has no moderation setting
        else:
            takes.discard("input_fidelity")  # ... and images.generate no input fidelity
        dropped = [name for name in OPTION_NAMES if getattr(options, name) is not None and name not in takes]
        for name in dropped:
            where = ("GPT Image models" if name in GPT_IMAGE_OPTIONS and self.spec.family != "gpt-image"
                     else f"{req.operation} with {self.label}")
            warnings.append(GenerationWarning(f"provider_options: {name} does not apply to {where}; not sent",
                                              kind="unsupported", field=f"provider_options.{name}"))
        fidelity = options.input_fidelity
        if fidelity is not None and "input_fidelity" not in dropped and fidelity not in self.spec.input_fidelity:
            takes_values = ", ".join(sorted(self.spec.input_fidelity)) or "none (OpenAI: omit it for this model)"
            warnings.append(GenerationWarning(
                f"provider_options: input_fidelity={fidelity!r} is not taken by {self.label} (it takes: "
                f"{takes_values}); not sent", kind="unsupported", field="provider_options.input_fidelity"))
            dropped.append("input_fidelity")
        if options.background == "transparent" and "background" not in dropped:
            if self.spec.transparent == "no":
                warnings.append(GenerationWarning(
                    f"provider_options: {self.label} does not make transparent backgrounds; background not sent",
                    kind="unsupported", field="provider_options.background"))
                dropped.append("background")
            elif self.spec.transparent == "preview":
                warnings.append(GenerationWarning(
                    f"provider_options: transparent backgrounds are in preview for {self.label} (OpenAI's API "
                    "reference): sent, but OpenAI may refuse it or return an opaque image",
                    kind="compatibility", field="provider_options.background"))
        return options.model_copy(update=dict.fromkeys(dropped)) if dropped else options

    async def _uploads(self, req: ProviderRequest,
                       warnings: list[GenerationWarning]) -> _Uploads:
        if req.operation == "txt2img" or req.image is None:
            return None, None, ()
        image, mask = req.image, req.mask

        def prepare() -> _Uploads:  # Pillow work: off the event loop
            if self.spec.family == "dall-e-2":
                upload = dall_e_2_image(image, req.width, rgba=req.operation == "inpaint", warnings=warnings)
            else:
                upload = gpt_image(image, warnings)
            extra = tuple(gpt_image(more, warnings) for more in req.extra_images)  # normalize kept them in limits
            return upload, (openai_mask(mask, upload, warnings) if mask is not None else None), extra

        return await asyncio.to_thread(prepare)

    def _kwargs(self, sdk: AsyncOpenAI, req: ProviderRequest, options: OpenAIOptions,
                uploads: _Uploads, *,
                raw: bool = True) -> tuple[Callable[..., Awaitable[Any]], dict[str, Any]]:
        """The SDK method and the exact arguments of one call (``raw``: through ``with_raw_response``)."""
        kwargs: dict[str, Any] = {"model": self.model, "n": req.n, "size": f"{req.width}x{req.height}"}
        if req.operation != "variation":
            kwargs["prompt"] = req.prompt
        if req.quality is not None:
            kwargs["quality"] = req.quality
        if req.style is not None:
            kwargs["style"] = req.style
        if self.spec.asks_b64:
            kwargs["response_format"] = "b64_json"
        for name in OPTION_NAMES:
            value = getattr(options, name)
            if value is not None:
                kwargs[name] = value
        image, mask, extra = uploads
        if image is not None:  # several input images go as a list (``image[]``): the mask applies to the first
            kwargs["image"] = [image.as_file(), *(u.as_file() for u in extra)] if extra else image.as_file()
        if mask is not None:
            kwargs["mask"] = mask.as_file()
        images: Any = sdk.images.with_raw_response if raw else sdk.images
        if req.operation == "txt2img":
            return images.generate, kwargs
        if req.operation == "variation":
            return images.create_variation, kwargs
        return images.edit, kwargs

    async def _one(self, sdk: AsyncOpenAI, req: ProviderRequest, options: OpenAIOptions,
                   uploads: _Uploads) -> _Outcome:
        if req.cancel is not None and req.cancel.is_set():
            raise TransientError("cancelled before the call was sent", provider=self.label)
        method, kwargs = self._kwargs(sdk, req, options, uploads)
        answered: int | None = None  # the status of a 2xx answer, once one came
        try:
            raw = await method(**kwargs)
            answered = raw.http_response.status_code
            body = json.loads(raw.http_response.content)
            return await self._read(body, req.n)
        except ImageGenError as exc:
            if answered is not None and exc.status is None:
                exc.status = answered  # answered, but unusable: most likely billed (the ledger counts it)
            raise
        except Exception as exc:
            secrets = [self._api_key]
            mapped = map_error(exc, label=self.label, secrets=secrets)
            if mapped is None:
                raise
            if answered is not None and mapped.status is None:
                mapped.status = answered
            scrub_error(exc, secrets)  # the SDK's exception, kept as the cause: text cleaned, request/response gone
            scrub_error(mapped, secrets)  # its code and request id came from the answer too
            raise mapped from exc

    async def _streamed(self, sdk: AsyncOpenAI, req: ProviderRequest, options: OpenAIOptions,
                        uploads: _Uploads) -> _Outcome:
        """``req`` streamed (``stream=True``, ``partial_images``): previews go to ``req.partial`` as they come, the
        final images and their usage make the outcome. One image per call, so each image's previews are told
        apart (the prompt's tokens are then paid per image)."""
        calls = [self._stream_one(sdk, dataclasses.replace(req, n=1, index=req.index + i), options, uploads)
                 for i in range(req.n)]
        outcomes = await gather_calls(calls, lambda outcome: outcome.images)
        usages = [o.usage for o in outcomes if o.usage is not None]
        total = sum(usages[1:], usages[0]) if usages else None
        return _Outcome(images=[im for o in outcomes for im in o.images], usage=total,
                        quality=next((o.quality for o in outcomes if o.quality), None))

    async def _stream_one(self, sdk: AsyncOpenAI, req: ProviderRequest, options: OpenAIOptions,
                          uploads: _Uploads) -> _Outcome:
        if req.cancel is not None and req.cancel.is_set():
            raise TransientError("cancelled before the call was sent", provider=self.label)
        method, kwargs = self._kwargs(sdk, req, options, uploads, raw=False)
        kwargs.update(stream=True, partial_images=req.partial_images)
        outcome = _Outcome(images=[])
        try:
            events = await method(**kwargs)
            async for event in events:
                kind = str(getattr(event, "type", ""))
                b64 = getattr(event, "b64_json", None)
                if not isinstance(b64, str) or not b64:
                    continue
                if kind.endswith(".partial_image"):
                    self._preview(req, b64, getattr(event, "partial_image_index", 0))
                elif kind.endswith(".completed"):
                    outcome.images.append(self._decoded(b64, None))
                    outcome.usage = Usage.from_response(_plain(getattr(event, "usage", None)))
                    quality = getattr(event, "quality", None)
                    outcome.quality = quality if isinstance(quality, str) else None
        except ImageGenError:
            raise
        except Exception as exc:
            secrets = [self._api_key]
            mapped = map_error(exc, label=self.label, secrets=secrets)
            if mapped is None:
                raise
            scrub_error(exc, secrets)
            scrub_error(mapped, secrets)
            raise mapped from exc
        if not outcome.images:
            raise TransientError("OpenAI's image stream ended without a completed image", provider=self.label)
        return outcome

    def _preview(self, req: ProviderRequest, b64: str, index: Any) -> None:
        assert req.partial is not None
        try:
            image = GeneratedImage.from_base64(b64)
        except ValueError:  # a broken preview costs nothing: the final image is what counts
            logger.warning("imagegen %s: a partial image could not be decoded; skipped", self.label)
            return
        number = index if isinstance(index, int) and not isinstance(index, bool) else 0
        req.partial(PartialImage(image=image, index=req.index, partial_index=number))

    def _decoded(self, b64: str, revised: str | None) -> GeneratedImage:
        try:
            return GeneratedImage.from_base64(b64, revised_prompt=revised)
        except ValueError as exc:
            raise TransientError(f"OpenAI sent an image that cannot be decoded: {exc}", provider=self.label) from exc

    async def _read(self, body: Any, asked: int) -> _Outcome:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not data:
            shown = "an empty image list" if isinstance(data, list) else f"no image list ({type(body).__name__} body)"
            raise TransientError(f"OpenAI answered 200 with {shown}", provider=self.label)
        found: list[GeneratedImage | None] = []
        urls: list[tuple[int, str, str | None]] = []
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise TransientError(f"OpenAI sent an image entry that is not an object: {item!r:.80}",
                                     provider=self.label)
            revised = item.get("revised_prompt")
            b64 = item.get("b64_json")
            if isinstance(b64, str) and b64:
                try:
                    found.append(GeneratedImage.from_base64(b64, revised_prompt=revised))
                except ValueError as exc:
                    raise TransientError(f"OpenAI sent an image that cannot be decoded: {exc}",
                                         provider=self.label) from exc
            elif isinstance(item.get("url"), str):
                urls.append((i, item["url"], revised))
                found.append(None)  # filled in below
            else:
                raise TransientError("OpenAI sent an image entry with neither b64_json nor url", provider=self.label)
        if urls:
            downloaded = await self._download([u for _, u, _ in urls])
            for (i, _, revised), data_bytes in zip(urls, downloaded, strict=True):
                found[i] = self._image_bytes(data_bytes, revised)
        images = [im for im in found if im is not None]
        outcome = _Outcome(images=images, usage=Usage.from_response(body.get("usage")),
                           quality=body.get("quality") if isinstance(body.get("quality"), str) else None)
        if len(images) < asked:
            outcome.warnings.append(GenerationWarning(f"filtered: OpenAI returned {len(images)} of the {asked} images "
                                                      "asked for"))
        return outcome

    def _image_bytes(self, data: bytes, revised: str | None) -> GeneratedImage:
        try:
            image = GeneratedImage.from_bytes(data, revised_prompt=revised)
        except ValueError as exc:
            raise TransientError(f"the image downloaded from OpenAI cannot be decoded: {exc}",
                                 provider=self.label) from exc
        assert isinstance(image, GeneratedImage)
        return image

    async def _download(self, urls: Sequence[str]) -> list[bytes]:
        """Fetch URL results (within this attempt); failures are transient: the next try makes new images."""
        import httpx

        timeout = self.timeout if self.timeout is not None else 60.0
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as http:
            return list(await asyncio.gather(*(self._fetch(http, url) for url in urls)))

    async def _fetch(self, http: httpx.AsyncClient, url: str) -> bytes:
        import httpx

        shown = url.split("?", 1)[0]  # signed URLs carry their signature in the query
        try:
            response = await http.get(url)
        except httpx.TimeoutException as exc:
            raise TransientError(f"timeout downloading the image OpenAI made ({shown})", provider=self.label) from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"downloading the image OpenAI made failed ({shown}): {type(exc).__name__}",
                                 provider=self.label) from exc
        if response.status_code >= 400:
            raise TransientError(f"downloading the image OpenAI made failed ({shown}): HTTP {response.status_code}",
                                 provider=self.label)
        return response.content

    def _response(self, req: ProviderRequest, outcome: _Outcome,
                  warnings: list[GenerationWarning]) -> ProviderResponse:
        warnings.extend(w for w in outcome.warnings if w not in warnings)
        cost = self._cost(req, outcome, warnings)
        if outcome.quality:  # what "auto" (or no quality) came out as; the rest is completed from the request
            for image in outcome.images:
                image.settings = ImageSettings(quality=outcome.quality)
        info: dict[str, Any] = {"model": self.model, "size": f"{req.width}x{req.height}", "calls": 1}
        if outcome.usage is not None:
            info["tokens"] = outcome.usage.as_dict()
        return ProviderResponse(images=outcome.images, cost=cost, warnings=list(warnings), usage=info)

    def _cost(self, req: ProviderRequest, outcome: _Outcome, warnings: list[GenerationWarning]) -> Cost | None:
        gpt = self.spec.family == "gpt-image"
        usage = outcome.usage
        if gpt and usage is not None:
            cost = self.prices.usage_cost(self._price_model, usage, label=self.label)
            if cost is not None:
                return cost
            warnings.append(_cost_warning(f"cost: no token prices known for {self.label} ({self.prices.describe()}) "
                                          f"for the usage it reported ({usage.as_dict()}); cost.usd is None (unknown)"))
            return Cost(usd=None)
        cost = self._table_cost(req.width, req.height, req.quality, outcome.quality, len(outcome.images))
        if cost is None:
            quality, _ = self._table_quality(req.quality, outcome.quality)
            warnings.append(_cost_warning(f"cost: no price known for {self.label} at {req.width}x{req.height}"
                                          f"{' ' + quality if quality else ''} ({self.prices.describe()}); cost.usd "
                                          "is None (unknown)"))
            return Cost(usd=None)
        if gpt:
            warnings.append(_cost_warning(f"cost: {self.label} reported no token usage; cost.usd is an estimate from "
                                          f"the per-image price table ({self.prices.describe()}), without input "
                                          "tokens"))
        return cost


def _cost_warning(text: str) -> GenerationWarning:
    return GenerationWarning(text, kind="cost")


def _known_models() -> list[str]:
    """The models to suggest: those in service today."""
    return [name for name, spec in MODELS.items() if spec.lifecycle.status_on() != "retired"]


def _plain(value: Any) -> Any:
    """An SDK model (or a mapping) as a plain mapping, for ``Usage.from_response``."""
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else value
