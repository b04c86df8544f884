"""``GoogleProvider``: Imagen and Gemini image models behind imagegen's contract, via ``google-genai``.

Two backends, chosen like the SDK chooses them: the Gemini Developer API (an API key:
``GOOGLE_API_KEY``/``GEMINI_API_KEY``) and Vertex AI (``vertexai=True`` or ``GOOGLE_GENAI_USE_VERTEXAI``,
with ``project``/``location`` and application-default credentials, or express mode with an API key).
Imagen (``models.generate_images``) runs on Vertex AI only; Gemini image models
(``models.generate_content`` with image output) run on both.

The SDK client is built on first use, so listing capabilities needs no key and no network. The SDK's
own retries are always off: imagegen's retry layer is the only one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imagegen.provider import (
    Capabilities,
    ContentPolicyError,
    Cost,
    GeneratedImage,
    GenerationWarning,
    ImageGenError,
    InvalidRequest,
    LiveModel,
    ModelInfo,
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
    sniff,
)

from .errors import map_error
from .models import MODELS, RECOMMENDED, ModelSpec, model_id, model_spec
from .options import OPTION_NAMES, GoogleOptions, parse_options
from .pricing import PRICES, PRICES_AS_OF, image_cost

if TYPE_CHECKING:
    from google import genai

__all__ = ["DEFAULT_GEMINI_MODEL", "DEFAULT_IMAGEN_MODEL", "GoogleProvider"]

#: The recommended active model (``models.RECOMMENDED``), on either backend: Imagen is shut down.
DEFAULT_GEMINI_MODEL = RECOMMENDED
#: The last default Imagen model; shut down by Google on 2026-08-17 (see ``models.py``). Kept for servers
#: that still serve it (a custom ``base_url``) and ``allow_retired=True``.
DEFAULT_IMAGEN_MODEL = "imagen-4.0-generate-001"
MAX_SEED = 2**32 - 1  # Imagen's seed range; Gemini's generationConfig.seed is an int32
_GEMINI_MAX_SEED = 2**31 - 1

_IMAGEN_ONLY = ("safety_filter_level", "enhance_prompt", "add_watermark", "language")
_VERTEX_ONLY_FOR_GEMINI = ("person_generation", "output_mime_type", "output_compression_quality")
_GEMINI_PERSON = {"dont_allow": "ALLOW_NONE", "allow_adult": "ALLOW_ADULT", "allow_all": "ALLOW_ALL"}
_SAFETY_FINISH = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
                  "RECITATION", "IMAGE_RECITATION", "MODEL_ARMOR"}
_CONSTRUCTOR_ARGS = ("api_key", "vertexai", "project", "location", "credentials", "base_url", "timeout",
                     "http_options", "prices", "allow_retired")
#: Google's API hosts end with this: lifecycle (refusing shut-down models) applies to them only.
_VENDOR_DOMAIN = "googleapis.com"
#: Environment variables the SDK reads a base URL from.
_BASE_URL_ENV = ("GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL")


def _env_flag(*names: str) -> bool | None:
    for name in names:
        value = os.environ.get(name)
        if value is not None:
            return value.strip().lower() in ("true", "1")
    return None


@dataclass
class _Outcome:
    """What one API call gave back: images, how many were asked for, and why any were withheld."""

    images: list[GeneratedImage]
    asked: int
    reasons: list[str] = field(default_factory=list)


class GoogleProvider:
    """Google's image models. ``GoogleProvider("gemini-3.1-flash-image", vertexai=True, project=..., location=...)``.

    Options: ``api_key``, ``vertexai``, ``project``, ``location``, ``credentials`` (a
    ``google.auth`` credentials object), ``base_url`` (a proxy or test server), ``timeout`` (seconds
    per HTTP request), ``http_options`` (more ``google.genai.types.HttpOptions`` fields), ``prices``
    (``{model: {tier: usd}}`` rows over the built-in table), ``allow_retired`` (send a model Google has
    shut down anyway; by default that is refused before any request, on Google's own endpoints only), and
    any ``GoogleOptions`` field as a default for every call (``add_watermark=False``,
    ``person_generation="allow_adult"``, ...). Per call, the same fields go in ``provider_options``.
    """

    name = "google"
    #: The model ``google`` with no model means, and what imagegen picks with only a Google key.
    default_model = DEFAULT_GEMINI_MODEL

    def __init__(self, model: str | None = None, *, api_key: str | None = None, vertexai: bool | None = None,
                 project: str | None = None, location: str | None = None, credentials: Any = None,
                 base_url: str | None = None, timeout: float | None = None,
                 http_options: Any = None, prices: Mapping[str, Mapping[str, float]] | None = None,
                 allow_retired: bool = False, **options: Any) -> None:
        unknown = sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            raise InvalidRequest(f"GoogleProvider: unknown option(s) {', '.join(map(repr, unknown))}; allowed: "
                                 f"{', '.join(_CONSTRUCTOR_ARGS + OPTION_NAMES)}", field=unknown[0])
        self._timeout = check_timeout(timeout)
        env_vertex = _env_flag("GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_GENAI_USE_VERTEXAI")
        self.vertexai = bool(vertexai if vertexai is not None else env_vertex)
        self.model = model or DEFAULT_GEMINI_MODEL
        self.allow_retired = bool(allow_retired)
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidRequest(f"model: expected a Google model id; got {model!r}", field="model")
        self.spec: ModelSpec = model_spec(self.model)
        self.options: GoogleOptions = parse_options(options, where="GoogleProvider")
        self.project = project or (os.environ.get("GOOGLE_CLOUD_PROJECT") if self.vertexai else None)
        self.location = location or (os.environ.get("GOOGLE_CLOUD_LOCATION") if self.vertexai else None)
        self._explicit = {"api_key": api_key, "project": project, "location": location, "credentials": credentials}
        self._api_key = api_key or os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
        self._base_url = base_url
        self._http_options = http_options
        self._prices: dict[str, Mapping[str, float]] = {**PRICES, **(prices or {})}
        self._client: genai.Client | None = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        """``"vertex"`` or ``"gemini-api"``."""
        return "vertex" if self.vertexai else "gemini-api"

    def __repr__(self) -> str:
        where = f", project={self.project!r}, location={self.location!r}" if self.project else ""
        return f"GoogleProvider({self.model!r}, backend={self.backend!r}{where})"

    @property
    def vendor_endpoint(self) -> bool:
        """True when calls go to Google itself (no base URL, or one on googleapis.com), where lifecycle applies."""
        base = self._base_url or next((os.environ[n] for n in _BASE_URL_ENV if os.environ.get(n)), None)
        if not base:
            return True
        from urllib.parse import urlsplit

        host = (urlsplit(base).hostname or "").lower()
        return host == _VENDOR_DOMAIN or host.endswith("." + _VENDOR_DOMAIN)

    def _lifecycle(self) -> GenerationWarning | None:
        """The lifecycle rule (``imagegen.lifecycle``): a warning for a deprecated model; a shut-down one raises
        ``ProviderUnavailable`` before anything is sent, on Google's own endpoints."""
        return check_lifecycle(self.name, model_id(self.model), self.spec.lifecycle, vendor="Google",
                               vendor_endpoint=self.vendor_endpoint, allow_retired=self.allow_retired,
                               replacement=in_service(self.spec.lifecycle.replacement,
                                                       {m: spec.lifecycle for m, spec in MODELS.items()},
                                                       RECOMMENDED))

    # -- what this model can do ----------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        spec = self.spec
        supports = set()
        if spec.family == "imagen":
            supports.add("guidance")
            if spec.negative_prompt:
                supports.add("negative_prompt")
            if self.vertexai and self.options.add_watermark is False:
                supports.add("seed")
            operations = frozenset({"txt2img"})
            max_seed = MAX_SEED
        else:
            supports.add("seed")
            operations = frozenset({"txt2img", "img2img"})
            max_seed = _GEMINI_MAX_SEED
        return Capabilities(sizes=spec.sizes, default_size=(1024, 1024),
                            max_images_per_call=spec.max_images_per_call, operations=operations,
                            supports=frozenset(supports), max_seed=max_seed)

    def estimate_cost(self, req: ProviderRequest) -> Cost:
        _, tier = self.spec.locate(req.width, req.height)
        return image_cost(model_id(self.model), tier, req.n, self._prices)[0]

    # -- the catalog ---------------------------------------------------------------------------

    @classmethod
    def catalog(cls) -> list[ModelInfo]:
        """Every model in imagegen-google's data, for ``imagegen.models()`` (no key, no SDK)."""
        rows = []
        for name, spec in MODELS.items():
            life = spec.lifecycle
            tiers = PRICES.get(name)
            price = (", ".join(f"{tier} ${usd:.3f}" for tier, usd in tiers.items()) + f" per image ({PRICES_AS_OF})"
                     if tiers else "unknown")
            sizes = "; ".join(f"{tier}: " + ", ".join(f"{r} {w}x{h}" for r, (w, h) in by_ratio.items())
                              for tier, by_ratio in spec.tiers.items())
            operations = ("txt2img",) if spec.family == "imagen" else ("img2img", "txt2img")
            rows.append(ModelInfo(
                provider=cls.name, model=name, status=life.status_on(), shutdown=life.shutdown,
                replacement=life.replacement, sizes=sizes, max_images_per_call=spec.max_images_per_call, price=price,
                operations=operations, recommended=name == RECOMMENDED, source=life.source, note=life.note))
        return rows

    async def list_models(self) -> list[LiveModel]:
        """The image models Google (or the server at ``base_url``) lists now. Google's list reports no
        shutdown dates, so only ids are compared."""
        sdk = self._sdk()

        async def ids() -> list[str]:
            pager = await sdk.aio.models.list(config={"query_base": True})
            return [model_id(model.name or "") async for model in pager]  # the pager fetches every page

        found = []
        for bare in await self._call(ids()):
            if bare.startswith("imagen-") or "image" in bare or "nano-banana" in bare:
                found.append(LiveModel(bare))
        return found

    # -- the SDK client ------------------------------------------------------------------------

    def _sdk(self) -> genai.Client:
        if self._client is not None:
            return self._client
        with self._lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> genai.Client:
        label = f"google:{self.model}"
        if self.spec.family == "imagen" and not self.vertexai:
            raise ProviderUnavailable(
                f"{self.model} is an Imagen model, and google-genai runs Imagen on Vertex AI only; configure "
                "Vertex AI (vertexai=True with project= and location=, or GOOGLE_GENAI_USE_VERTEXAI=true with "
                "GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION; or an express-mode API key), or use a Gemini image "
                f"model such as google:{DEFAULT_GEMINI_MODEL} with a Gemini API key", provider=label)
        if not self.vertexai and not self._api_key:
            raise ProviderUnavailable(
                "no Google API key: set GOOGLE_API_KEY (or GEMINI_API_KEY), pass api_key=, or configure Vertex AI "
                "(vertexai=True with project= and location=)", provider=label)
        from google import genai
        from google.genai import types

        guard_logs(self._api_key)  # the SDK's and httpx's loggers echo requests, headers and URLs at DEBUG
        settings = {k: v for k, v in self._explicit.items() if v is not None}
        if self.vertexai and "api_key" not in settings:
            # Pass the environment's project/location on as explicit: the SDK treats a custom base URL
            # (GOOGLE_VERTEX_BASE_URL, a proxy) without explicit ones as a gateway and drops the resource path.
            settings.update({k: v for k, v in (("project", self.project), ("location", self.location)) if v})
        try:
            return genai.Client(vertexai=self.vertexai, http_options=self._sdk_http_options(types), **settings)
        except Exception as exc:
            mapped = map_error(exc, label=label, secrets=[self._api_key])
            if mapped is None or isinstance(mapped, TransientError):
                mapped = ProviderUnavailable(
                    f"google-genai could not be set up: {type(exc).__name__}: "
                    f"{scrub(str(exc), [self._api_key])}", provider=label)
            raise mapped from None

    def _sdk_http_options(self, types: Any) -> Any:
        given = self._http_options
        if given is None:
            fields: dict[str, Any] = {}
        elif isinstance(given, Mapping):
            fields = dict(given)
        else:
            fields = given.model_dump(exclude_none=True)
        if self._base_url:
            fields["base_url"] = self._base_url
        if self._timeout is not None:
            fields["timeout"] = int(self._timeout * 1000)  # the SDK counts milliseconds
        fields["retry_options"] = types.HttpRetryOptions(attempts=1)  # one retry layer: imagegen's
        try:
            return types.HttpOptions(**fields)
        except Exception as exc:
            raise InvalidRequest(f"http_options: not valid google.genai HttpOptions: {exc}",
                                 field="http_options") from None

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aio.aclose()

    # -- generation ----------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Set up the SDK client when this provider is configured (a key, or Vertex AI), so that importing
        ``google.genai`` happens before a ``Client`` starts an attempt's timeout clock. Without a key or
        for an Imagen model off Vertex AI nothing is set up: ``generate`` raises the error, at call time."""
        self._lifecycle()  # a shut-down model is refused here, before planning or any request
        if self._client is None and (self.vertexai or (self._api_key and self.spec.family == "gemini")):
            self._sdk()

    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        """The API calls for ``req`` (``normalize`` has fitted it to this model's sizes, operations and
        images per call)."""
        warnings: list[GenerationWarning] = []
        note = self._lifecycle()
        if note is not None:
            warnings.append(note)
        options = self._request_options(req.provider_options, warnings)
        ratio, tier = self.spec.locate(req.width, req.height)
        sdk = self._sdk()
        if self.spec.family == "imagen":
            outcomes = await self._imagen(sdk, req, options, ratio, tier, warnings)
        else:
            outcomes = await self._gather([self._gemini(sdk, req, options, ratio, tier, i) for i in range(req.n)])
        return self._response(req, outcomes, ratio, tier, warnings)

    def _request_options(self, given: Mapping[str, Any], warnings: list[GenerationWarning]) -> GoogleOptions:
        known = {k: v for k, v in given.items() if k in OPTION_NAMES}
        for key in sorted(set(given) - set(known)):
            warnings.append(GenerationWarning(f"provider_options: google ignores {key!r}; it knows "
                                              f"{', '.join(OPTION_NAMES)}", kind="unsupported",
                                              field="provider_options"))
        options = parse_options(known, base=self.options) if known else self.options
        if self.spec.family == "gemini":
            ignored = [n for n in _IMAGEN_ONLY if getattr(options, n) is not None]
            if not self.vertexai:
                ignored += [n for n in _VERTEX_ONLY_FOR_GEMINI if getattr(options, n) is not None]
            for name in ignored:
                where = "Imagen models" if name in _IMAGEN_ONLY else "Gemini image models on Vertex AI"
                warnings.append(GenerationWarning(f"provider_options: {name} applies to {where} only; ignored for "
                                                  f"google:{self.model}", kind="unsupported",
                                                  field=f"provider_options.{name}"))
        return options

    @staticmethod
    async def _gather(calls: Sequence[Awaitable[_Outcome]]) -> list[_Outcome]:
        """Run calls together; if some fail, raise the first failure with the others' images attached."""
        return await gather_calls(calls, lambda outcome: outcome.images)

    async def _call(self, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except ImageGenError:
            raise
        except Exception as exc:
            # The SDK's message may quote the request; keep the cause for tracebacks, minus any key (and
            # minus its response object: read what the mapping needs from it first).
            label = f"google:{self.model}"
            mapped = map_error(exc, label=label, secrets=[self._api_key])
            scrub_error(exc, [self._api_key])
            if mapped is None and isinstance(exc, ValueError):  # the SDK's own checks of a request
                mapped = InvalidRequest(f"google-genai refused the request: {scrub(str(exc), [self._api_key])}",
                                        provider=label)
            if mapped is None:
                raise
            raise mapped from exc

    def _check_cancel(self, req: ProviderRequest) -> None:
        if req.cancel is not None and req.cancel.is_set():
            raise TransientError("cancelled before the call was sent", provider=f"google:{self.model}")

    # Imagen: models.generate_images, up to 4 images a call; seeded images are made one per call so that
    # image i with seed s+i is the same image whether it was made alone or in a batch.

    async def _imagen(self, sdk: genai.Client, req: ProviderRequest, options: GoogleOptions, ratio: str, tier: str,
                      warnings: list[GenerationWarning]) -> list[_Outcome]:
        seeds = [s for s in req.seeds if s is not None]
        if seeds and options.add_watermark is not False:
            warnings.append(GenerationWarning("seed: Imagen takes a seed only with the watermark off; add_watermark is "
                                              "on for this call, so the seeds were not sent and the images are not "
                                              "reproducible", kind="unsupported", field="seed"))
            seeds = []
        if len(seeds) != req.n:
            return [await self._imagen_call(sdk, req, options, ratio, tier, req.n, None)]
        return await self._gather([self._imagen_call(sdk, req, options, ratio, tier, 1, seed) for seed in seeds])

    async def _imagen_call(self, sdk: genai.Client, req: ProviderRequest, options: GoogleOptions, ratio: str,
                           tier: str, count: int, seed: int | None) -> _Outcome:
        from google.genai import types

        self._check_cancel(req)
        config: dict[str, Any] = {"number_of_images": count, "aspect_ratio": ratio,
                                  "include_rai_reason": options.include_rai_reason}
        if self.spec.sends_image_size:
            config["image_size"] = tier
        if req.negative_prompt:
            config["negative_prompt"] = req.negative_prompt
        if req.guidance is not None:
            config["guidance_scale"] = req.guidance
        if seed is not None:
            config["seed"] = seed
            config["add_watermark"] = False
        elif options.add_watermark is not None:
            config["add_watermark"] = options.add_watermark
        for name in ("person_generation", "safety_filter_level"):
            value = getattr(options, name)
            if value is not None:
                config[name] = value.upper()
        for name in ("output_mime_type", "output_compression_quality", "enhance_prompt", "language"):
            if getattr(options, name) is not None:
                config[name] = getattr(options, name)
        response = await self._call(sdk.aio.models.generate_images(
            model=self.model, prompt=req.prompt, config=types.GenerateImagesConfig(**config)))
        outcome = _Outcome(images=[], asked=count)
        for generated in response.generated_images or []:
            data = generated.image.image_bytes if generated.image is not None else None
            if not data:
                if generated.rai_filtered_reason:
                    outcome.reasons.append(generated.rai_filtered_reason)
                continue
            outcome.images.append(self._image(data, seed=seed, revised_prompt=generated.enhanced_prompt))
        if not outcome.images and not outcome.reasons:
            outcome.reasons.append("the response held no image and gave no reason")
        return outcome

    # Gemini image models: models.generate_content with image output, one image a call.

    async def _gemini(self, sdk: genai.Client, req: ProviderRequest, options: GoogleOptions, ratio: str, tier: str,
                      i: int) -> _Outcome:
        from google.genai import types

        self._check_cancel(req)

        image_config: dict[str, Any] = {"aspect_ratio": ratio}
        if self.spec.sends_image_size:
            image_config["image_size"] = tier
        if self.vertexai:
            if options.person_generation is not None:
                image_config["person_generation"] = _GEMINI_PERSON[options.person_generation]
            if options.output_mime_type is not None:
                image_config["output_mime_type"] = options.output_mime_type
            if options.output_compression_quality is not None:
                image_config["output_compression_quality"] = options.output_compression_quality
        seed = req.seeds[i] if i < len(req.seeds) else None
        parts = [types.Part.from_text(text=req.prompt)]
        if req.image is not None:
            parts.append(types.Part.from_bytes(data=req.image.data, mime_type=req.image.mime))
        config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"],
                                             image_config=types.ImageConfig(**image_config), seed=seed)
        response = await self._call(sdk.aio.models.generate_content(
            model=self.model, contents=[types.Content(role="user", parts=parts)], config=config))
        outcome = _Outcome(images=[], asked=1)
        texts: list[str] = []
        finish: list[str] = []
        for candidate in response.candidates or []:
            if candidate.finish_reason is not None:
                finish.append(str(getattr(candidate.finish_reason, "value", candidate.finish_reason)))
            for part in (candidate.content.parts if candidate.content and candidate.content.parts else []):
                if part.thought:  # thinking models sketch interim images and notes: not the answer
                    continue
                if part.inline_data is not None and part.inline_data.data:
                    outcome.images.append(self._image(part.inline_data.data, seed=seed))
                elif part.text:
                    texts.append(part.text.strip())
        if outcome.images:
            return outcome
        feedback = response.prompt_feedback
        block = getattr(feedback.block_reason, "value", feedback.block_reason) if feedback else None
        reason = (f"prompt blocked ({block})" if block else
                  f"finish reason {', '.join(finish)}" if finish else "no candidates")
        if texts:
            reason += f"; the model said: {' '.join(texts)[:300]!r}"
        outcome.reasons.append(reason)
        return outcome

    # -- results -------------------------------------------------------------------------------

    def _image(self, data: bytes, *, seed: int | None, revised_prompt: str | None = None) -> GeneratedImage:
        try:
            mime, width, height = sniff(data)
        except ValueError as exc:
            raise TransientError(f"Google returned an image that cannot be decoded: {exc}",  # in a 2xx answer:
                                 provider=f"google:{self.model}", status=200) from exc  # most likely billed
        return GeneratedImage(data=data, mime=mime, width=width, height=height, seed=seed,
                              revised_prompt=revised_prompt)

    def _response(self, req: ProviderRequest, outcomes: list[_Outcome], ratio: str, tier: str,
                  warnings: list[GenerationWarning]) -> ProviderResponse:
        images = [im for o in outcomes for im in o.images]
        reasons = [r for o in outcomes for r in o.reasons]
        asked = sum(o.asked for o in outcomes)
        reason_text = "; ".join(dict.fromkeys(reasons)) or "no reason given"
        if not images:
            raise ContentPolicyError(f"Google returned no images for this prompt ({reason_text})",
                                     provider=f"google:{self.model}", reasons=reasons)
        if len(images) < asked:
            warnings.append(GenerationWarning(f"filtered: Google's safety filters withheld {asked - len(images)} of "
                                              f"{asked} images ({reason_text})"))
        cost, cost_warning = image_cost(model_id(self.model), tier, len(images), self._prices)
        if cost_warning:
            warnings.append(cost_warning)
        if req.progress is not None:
            req.progress(ProgressEvent(stage="generate", step=1, total=1, image_index=req.index))
        return ProviderResponse(images=images, cost=cost, warnings=list(warnings),
                                usage={"backend": self.backend, "aspect_ratio": ratio, "image_size": tier})


