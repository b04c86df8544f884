"""``Client``: resolve a provider, normalize, send the planned calls, merge the images.

The sync API runs coroutines on one private event loop in a daemon thread, so it works the same
from plain scripts and from inside a running loop (Jupyter), and async SDK clients that bind to
a loop keep working across calls.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from .errors import ImageGenError, InvalidRequest
from .imageio import cover_resize
from .normalize import Plan, normalize
from .params import GenerateParams, build_params
from .provider import Provider, ProviderRequest, ProviderResponse
from .registry import default_provider_spec, resolve_provider
from .result import Attempt, Cost, GeneratedImage, GenerationResult

__all__ = ["Client", "agenerate", "generate"]

T = TypeVar("T")
ProviderSpec = str | Provider


class _LoopThread:
    """One event loop in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None:
            with self._lock:
                if self._loop is None:
                    self._loop = asyncio.new_event_loop()
                    threading.Thread(target=self._loop.run_forever, name="imagegen-loop", daemon=True).start()
                loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result()


def spec_of(provider: Provider) -> str:
    return f"{provider.name}:{provider.model}"


class Client:
    """Generates images through one provider or an ordered list of them."""

    def __init__(self, providers: ProviderSpec | Sequence[ProviderSpec] | None = None, *,
                 max_concurrency: int | None = None) -> None:
        if isinstance(providers, (str, Provider)):
            providers = [providers]
        self._specs: list[ProviderSpec] = list(providers or [])
        if max_concurrency is not None and max_concurrency < 1:
            raise InvalidRequest("max_concurrency: must be >= 1 or None", field="max_concurrency")
        self.max_concurrency = max_concurrency
        self._instances: dict[str, Provider] = {}
        self._loop = _LoopThread()

    # -- providers -----------------------------------------------------------------------------

    def provider(self, spec: ProviderSpec | None = None) -> Provider:
        """The provider instance for ``spec`` (cached per spec string)."""
        if spec is None:
            spec = self._specs[0] if self._specs else default_provider_spec()
        if not isinstance(spec, str):
            return resolve_provider(spec)
        inst = self._instances.get(spec)
        if inst is None:
            inst = self._instances[spec] = resolve_provider(spec)
        return inst

    # -- generation ----------------------------------------------------------------------------

    def generate(self, prompt: str, params: GenerateParams | Mapping[str, Any] | None = None, *,
                 provider: ProviderSpec | None = None, **kwargs: Any) -> GenerationResult:
        """Generate images; blocks until they are ready. See ``agenerate``."""
        request = build_params(params, **kwargs)  # bad input fails here, in the caller's thread
        return self._loop.run(self.agenerate(prompt, request, provider=provider))

    async def agenerate(self, prompt: str, params: GenerateParams | Mapping[str, Any] | None = None, *,
                        provider: ProviderSpec | None = None, **kwargs: Any) -> GenerationResult:
        """Generate images for ``prompt`` with ``params`` (or the same fields as keywords)."""
        request = build_params(params, **kwargs)
        text = _prompt_text(prompt)
        return await run_once(self.provider(provider), text, request, max_concurrency=self.max_concurrency)


def _prompt_text(prompt: Any) -> str:
    """A string, or an object that renders itself as one (``imagegen.Prompt``)."""
    if isinstance(prompt, str):
        return prompt
    if prompt is not None and getattr(type(prompt), "__str__", None) is not object.__str__:
        return str(prompt)
    raise InvalidRequest(f"prompt: expected a string; got {type(prompt).__name__}", field="prompt")


async def run_once(provider: Provider, prompt: str, params: GenerateParams, *,
                   max_concurrency: int | None = None, request_id: str | None = None) -> GenerationResult:
    """One provider, one user request: normalize, send every planned call, merge in order.

    Raises the first call's error; finished images of the other calls ride on it (``.images``).
    """
    started = time.perf_counter()
    label = spec_of(provider)
    rid = request_id or uuid.uuid4().hex
    plan = normalize(prompt, params, provider.capabilities(), provider=label, request_id=rid)
    planned = time.perf_counter()
    limit = asyncio.Semaphore(max_concurrency) if max_concurrency else None

    async def call(req: ProviderRequest) -> tuple[ProviderResponse | ImageGenError, Attempt]:
        t0 = time.perf_counter()
        try:
            if limit is None:
                resp = await provider.generate(req)
            else:
                async with limit:
                    resp = await provider.generate(req)
        except ImageGenError as exc:
            exc.provider = exc.provider or label
            return exc, Attempt(provider=provider.name, model=provider.model, status="error",
                                latency_s=time.perf_counter() - t0, error=type(exc).__name__,
                                message=str(exc), n=req.n, index=req.index, seeds=req.seeds)
        cost = resp.cost.usd if resp.cost else None
        return resp, Attempt(provider=provider.name, model=provider.model, status="ok",
                             latency_s=time.perf_counter() - t0, cost_usd=cost, n=len(resp.images),
                             index=req.index, seeds=req.seeds)

    if len(plan.requests) == 1:
        outcomes = [await call(plan.requests[0])]
    else:
        outcomes = list(await asyncio.gather(*(call(r) for r in plan.requests)))
    return assemble(provider, prompt, plan, outcomes, started=started, planned=planned, request_id=rid)


def assemble(provider: Provider, prompt: str, plan: Plan,
             outcomes: Sequence[tuple[ProviderResponse | ImageGenError, Attempt]], *,
             started: float, planned: float, request_id: str) -> GenerationResult:
    """Merge per-call outcomes into one result (in request order), or raise the first error with
    the finished images attached."""
    images: list[GeneratedImage] = []
    warnings = list(plan.warnings)
    costs: list[Cost] = []
    timings: dict[str, float] = {}
    errors: list[ImageGenError] = []
    for (outcome, _attempt), req in zip(outcomes, plan.requests, strict=True):
        if isinstance(outcome, ImageGenError):
            errors.append(outcome)
            continue
        for offset, image in enumerate(outcome.images):
            if image.seed is None and offset < len(req.seeds):
                image.seed = req.seeds[offset]
            image.info = _image_info(provider, prompt, req, request_id)
            if plan.needs_resize:
                image = _resized(image, plan.output_size)
            images.append(image)
        warnings.extend(w for w in outcome.warnings if w not in warnings)
        if outcome.cost is not None:
            costs.append(outcome.cost)
        for key, value in outcome.timings.items():
            timings[key] = timings.get(key, 0.0) + value
    attempts = [attempt for _, attempt in outcomes]
    if errors:
        first = errors[0]
        first.images = images
        first.details.setdefault("attempts", attempts)
        raise first
    cost = Cost.combine(costs) if costs else Cost()
    if cost.usd is None and not any(w.startswith("cost:") for w in warnings):
        warnings.append(f"cost: {spec_of(provider)} did not report a price; cost.usd is None (unknown)")
    timings.update(normalize_s=planned - started, total_s=time.perf_counter() - started)
    return GenerationResult(images=images, provider=provider.name, model=provider.model, prompt=prompt,
                            cost=cost, warnings=warnings, timings=timings, attempts=attempts,
                            request_id=request_id, params=dict(images[0].info["params"]) if images else {})


_INFO_FIELDS = ("operation", "steps", "guidance", "negative_prompt", "scheduler", "strength", "control",
                "control_model", "control_scale", "quality", "style")


def _image_info(provider: Provider, prompt: str, req: ProviderRequest, request_id: str) -> dict[str, Any]:
    params: dict[str, Any] = {k: getattr(req, k) for k in _INFO_FIELDS if getattr(req, k) is not None}
    params["size"] = f"{req.width}x{req.height}"
    if req.loras:
        params["loras"] = [{"path": lo.path, "scale": lo.scale} for lo in req.loras]
    if req.provider_options:
        params["provider_options"] = dict(req.provider_options)
    return {"prompt": prompt, "provider": provider.name, "model": provider.model, "params": params,
            "request_id": request_id}


def _resized(image: GeneratedImage, size: tuple[int, int]) -> GeneratedImage:
    data = cover_resize(image, *size)
    params = {**image.info["params"], "output_size": f"{size[0]}x{size[1]}"}
    return GeneratedImage(data=data, mime="image/png", width=size[0], height=size[1], seed=image.seed,
                          revised_prompt=image.revised_prompt, info={**image.info, "params": params})


_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Client()
    return _default


def generate(prompt: str, params: GenerateParams | Mapping[str, Any] | None = None, *,
             provider: ProviderSpec | None = None, **kwargs: Any) -> GenerationResult:
    """Generate images with the default client: ``imagegen.generate("a fox", provider="openai:dall-e-3")``."""
    return default_client().generate(prompt, params, provider=provider, **kwargs)


async def agenerate(prompt: str, params: GenerateParams | Mapping[str, Any] | None = None, *,
                    provider: ProviderSpec | None = None, **kwargs: Any) -> GenerationResult:
    """Async ``generate``."""
    return await default_client().agenerate(prompt, params, provider=provider, **kwargs)
