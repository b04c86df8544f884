"""What both HTTP APIs share: the one ``Client``, the served chains, admission, jobs, keys and images.

Every generation goes through ``Service.generate``: admitted by the bounded queue (429 with Retry-After
when full), tracked as a ``Job`` (its denoising steps feed A1111's ``/progress``; A1111's ``/interrupt``
and a client that disconnects stop it through the request's cancel event), and run by the one
``Client`` over the chain the request's model names, so fallback, retries, the budget (the server's
and the key's own) and the ledger behave as they do in Python. Requests refused before reaching the
client (no key, a full queue, a key over its rpm) are ledger rows too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import hashlib
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from .._wrapped import Wrapped
from ..client import Client
from ..errors import ImageGenError, InvalidRequest, ProviderUnavailable, RateLimited
from ..ledger import Ledger, LedgerEntry
from ..params import GenerateParams
from ..provider import ProgressEvent, Provider, ProviderRequest, ProviderResponse
from ..registry import ProviderSpec, default_provider_spec, resolve_provider, spec_of
from ..result import GeneratedImage, GenerationResult
from .config import ServerConfig
from .keys import ApiKey, KeyRing, RateWindow, hash_key, load_keys

__all__ = ["Chain", "ClientGone", "Job", "QueueFull", "Refused", "Service", "StoredImage"]

#: The job whose provider calls are running in this task (read by ``Observed``).
CURRENT_JOB: contextvars.ContextVar[Job | None] = contextvars.ContextVar("imagegen_server_job", default=None)
#: The provider name refused requests are recorded under in the ledger.
SERVER = "imagegen-server"


class QueueFull(RateLimited):
    """The server has ``max_queue`` requests in hand already."""


class ClientGone(ImageGenError):
    """The client disconnected before its answer was ready; its generation was stopped."""


class Refused(ImageGenError):
    """A request turned away before generation (no key, a bad key): ``status`` is the HTTP status."""


@dataclasses.dataclass
class Job:
    """One admitted generation request, from admission to its answer."""

    id: str
    api: str
    user: str | None
    admitted: float = dataclasses.field(default_factory=time.time)
    started: float | None = None
    step: int = 0
    total: int = 0
    cancels: list[threading.Event] = dataclasses.field(default_factory=list)
    interrupted: bool = False

    def interrupt(self) -> None:
        """Stop the job's provider calls at their next step (the providers that can stop)."""
        self.interrupted = True
        for event in list(self.cancels):
            event.set()


class Observed(Wrapped):
    """A served provider as the server sees it: the same provider, with each call's steps reported to
    the request's ``Job``, its cancel event registered there, and calls in flight counted."""

    def __init__(self, provider: Provider, service: Service) -> None:
        super().__init__(provider)
        self._service = service

    @property
    def inner(self) -> Provider:
        return self._client

    def samplers(self) -> list[str] | None:
        """The scheduler names the provider accepts, when it says (``samplers()``); else None."""
        if "scheduler" not in self.capabilities().supports:
            return []
        names = getattr(self._client, "samplers", None)
        return list(names()) if callable(names) else None

    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        job = CURRENT_JOB.get()
        if job is not None:
            own = req.progress
            if req.cancel is not None:
                job.cancels.append(req.cancel)
                if job.interrupted:
                    req.cancel.set()

            def progress(event: ProgressEvent) -> None:
                job.step, job.total = event.step, event.total
                if own is not None:
                    own(event)

            req.progress = progress
            if job.started is None:
                job.started = time.time()
        self._service.in_flight += 1
        try:
            return await self._client.generate(req)
        finally:
            self._service.in_flight -= 1
            if job is not None and req.cancel in job.cancels:
                job.cancels.remove(req.cancel)  # type: ignore[arg-type]


@dataclasses.dataclass
class Chain:
    """A served name and the providers (in fallback order) that serve it."""

    name: str
    providers: list[Observed]

    @property
    def hash(self) -> str:
        """A stable 10-hex-digit id, where A1111 shows a checkpoint's short hash."""
        return hashlib.sha256(self.name.encode()).hexdigest()[:10]

    @property
    def title(self) -> str:
        """The A1111 checkpoint title: ``"name [hash]"``."""
        return f"{self.name} [{self.hash}]"

    @property
    def specs(self) -> list[str]:
        return [spec_of(p) for p in self.providers]


@dataclasses.dataclass
class StoredImage:
    """A finished image kept for ``url`` answers and the gallery."""

    id: str
    data: bytes
    mime: str
    meta: dict[str, Any]


class ImageStore:
    """The most recent finished images, by id (oldest dropped first past ``limit``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[str, StoredImage] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, data: bytes, mime: str, meta: dict[str, Any]) -> StoredImage | None:
        if self.limit == 0:
            return None
        item = StoredImage(uuid.uuid4().hex, data, mime, meta)
        with self._lock:
            self._items[item.id] = item
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        return item

    def get(self, image_id: str) -> StoredImage | None:
        with self._lock:
            return self._items.get(image_id)

    def recent(self, limit: int) -> list[StoredImage]:
        with self._lock:
            return list(reversed(self._items.values()))[:limit]


class Service:
    """The state one server app holds. Made by ``create_app``; closed by its shutdown."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        keys = [ApiKey(name=f"key{i}", sha256=hash_key(k)) for i, k in enumerate(config.api_keys, 1)]
        if config.keys_file is not None:
            keys += load_keys(config.keys_file)
        self.keys = KeyRing(keys)
        self.auth = config.has_auth
        self._windows = {k.name: RateWindow(k.rpm) for k in keys if k.rpm is not None}
        self.client = Client(providers=[], ledger=config.ledger, budget_usd=config.budget_usd, timeout=config.timeout,
                             user_budgets={k.name: k.budget_usd for k in keys if k.budget_usd is not None})
        self.ledger: Ledger | None = self.client.ledger
        self.chains, self.default = self._build_chains(config)
        self.checkpoint = self.default  # A1111's selected checkpoint (``sd_model_checkpoint``)
        self.images = ImageStore(config.keep_images)
        self.jobs: dict[str, Job] = {}
        self.in_flight = 0
        self.started = time.time()
        self.counters: dict[str, float] = {"requests": 0, "images": 0, "refused": 0, "errors": 0}
        self.spend: dict[str, float] = {}
        self._latency = 1.0
        self._admit_lock = threading.Lock()
        self.options: dict[str, Any] = {}

    # -- chains ----------------------------------------------------------------------------------

    def _build_chains(self, config: ServerConfig) -> tuple[dict[str, Chain], Chain]:
        made: dict[str, Observed] = {}

        def observed(spec: ProviderSpec) -> Observed:
            label = spec_of(spec)
            if label not in made:
                try:
                    made[label] = Observed(resolve_provider(spec), self)
                except ImageGenError as exc:
                    raise ProviderUnavailable(f"--provider {label}: {exc.message}") from exc
                except Exception as exc:
                    raise ProviderUnavailable(f"--provider {label} could not be created: {type(exc).__name__}: "
                                              f"{exc}") from exc
            return made[label]

        chains: dict[str, Chain] = {}
        for name, specs in config.aliases.items():
            chains[name] = Chain(name, [observed(s) for s in specs])
        direct = [observed(s) for s in config.providers]
        for prov in direct:
            label = spec_of(prov)
            chains.setdefault(label, Chain(label, [prov]))
        models = [p.model for p in direct]
        for prov in direct:
            if models.count(prov.model) == 1 and prov.model not in chains:
                chains[prov.model] = Chain(prov.model, [prov])
        if direct:
            default = Chain(spec_of(direct[0]), direct) if len(direct) > 1 else chains[spec_of(direct[0])]
        elif chains:
            default = next(iter(chains.values()))
        else:
            spec = default_provider_spec()
            prov = observed(spec)
            default = chains[spec_of(prov)] = Chain(spec_of(prov), [prov])
        return chains, default

    def chain(self, model: str | None) -> Chain:
        """The chain a request's model names (None: the default chain); unknown: ``InvalidRequest`` on
        ``model`` listing what is served (the APIs answer it 404)."""
        if model is None or model == "":
            return self.default
        found = self.chains.get(model)
        if found is None:
            found = next((c for c in self.chains.values() if model in (c.title, c.hash)), None)
        if found is None:
            raise InvalidRequest(f"model: {model!r} is not served here; served models: {', '.join(self.chains)}",
                                 field="model")
        return found

    def samplers(self, chain: Chain) -> list[str] | None:
        """Scheduler names the chain's first provider that takes schedulers accepts (None: it does not say)."""
        for prov in chain.providers:
            names = prov.samplers()
            if names != []:
                return names
        return []

    # -- keys and admission ----------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> ApiKey | None:
        """The key a request presents; ``Refused`` (401) when the server has keys and this is none of them."""
        if not self.auth:
            return None
        from .keys import presented_key

        key = self.keys.match(presented_key(authorization))
        if key is None:
            message = ("no API key: send Authorization: Bearer KEY" if not authorization
                       else "invalid API key")
            raise Refused(message, status=401, code="invalid_api_key")
        return key

    def pace(self, key: ApiKey | None) -> None:
        """Count the request against its key's rpm; ``RateLimited`` with ``retry_after`` when over."""
        window = self._windows.get(key.name) if key is not None else None
        if window is None:
            return
        wait = window.admit()
        if wait is not None:
            raise RateLimited(f"rate limit: key {key.name!r} may make {window.rpm:g} requests per minute; "  # type: ignore[union-attr]
                              f"retry in {math.ceil(wait)}s", retry_after=wait, code="rate_limit_exceeded")

    @contextlib.asynccontextmanager
    async def admitted(self, api: str, user: str | None) -> AsyncIterator[Job]:
        """Hold one of ``max_queue`` places for a request; ``QueueFull`` (with a Retry-After) when none is free."""
        job = Job(id=uuid.uuid4().hex, api=api, user=user)
        with self._admit_lock:
            if len(self.jobs) >= self.config.max_queue:
                wait = max(1.0, self._latency * len(self.jobs) / max(1, self.in_flight or 1))
                raise QueueFull(f"queue full: {len(self.jobs)} requests are in hand (--max-queue "
                                f"{self.config.max_queue}); retry in {math.ceil(wait)}s", retry_after=wait,
                                code="rate_limit_exceeded")
            self.jobs[job.id] = job
        started = time.perf_counter()
        try:
            yield job
        finally:
            with self._admit_lock:
                self.jobs.pop(job.id, None)
            self._latency = 0.8 * self._latency + 0.2 * (time.perf_counter() - started)

    def record_refusal(self, route: str, error: ImageGenError, user: str | None, status: int) -> None:
        """A ledger row for a request turned away before it reached a provider."""
        self.counters["refused"] += 1
        if self.ledger is None:
            return
        self.ledger.record(LedgerEntry(
            request_id=uuid.uuid4().hex, provider=SERVER, model=route, status="refused", error=type(error).__name__,
            message=f"HTTP {status}: {error.message}", cost_usd=None, user=user))

    def check_prompts(self, **texts: str | None) -> None:
        """Each of ``texts`` (``prompt=...``, ``negative_prompt=...``) within the server's
        ``max_prompt_chars``, refused naming the field before anything is queued."""
        limit = self.config.max_prompt_chars
        for name, text in texts.items():
            if text is not None and len(text) > limit:
                raise InvalidRequest(f"{name}: {len(text)} characters; this server takes at most {limit}", field=name)

    # -- generating ------------------------------------------------------------------------------

    async def generate(self, job: Job, prompt: str, params: GenerateParams, chain: Chain) -> GenerationResult:
        """Run one request through the client on ``chain``, as ``job``."""
        token = CURRENT_JOB.set(job)
        try:
            result = await self.client.agenerate(prompt, params, provider=list(chain.providers), user=job.user)
        except ImageGenError:
            self.counters["errors"] += 1
            raise
        finally:
            CURRENT_JOB.reset(token)
        self._count(result)
        return result

    async def stream(self, job: Job, prompt: str, params: GenerateParams, chain: Chain,
                     partial_images: int) -> AsyncGenerator[Any, None]:
        """``generate`` as the client's stream (``Client.astream``): progress events, up to ``partial_images``
        previews per image from providers that make them, then the ``GenerationResult``."""
        token = CURRENT_JOB.set(job)
        try:
            async for event in self.client.astream(prompt, params, provider=list(chain.providers), user=job.user,
                                                   partial_images=partial_images):
                if isinstance(event, GenerationResult):
                    self._count(event)
                yield event
        except ImageGenError:
            self.counters["errors"] += 1
            raise
        finally:
            CURRENT_JOB.reset(token)

    def _count(self, result: GenerationResult) -> None:
        self.counters["requests"] += 1
        self.counters["images"] += len(result.images)
        label = f"{result.provider}:{result.model}"
        self.spend[label] = self.spend.get(label, 0.0) + (result.cost.usd or 0.0)

    def keep(self, image: GeneratedImage, data: bytes, mime: str, result: GenerationResult, *,
             cost_usd: float | None) -> StoredImage | None:
        """Keep a finished image for ``url`` answers and the page's gallery."""
        params = {k: v for k, v in image.info.get("params", {}).items() if isinstance(v, (str, int, float))}
        return self.images.add(data, mime, {
            "prompt": result.prompt, "provider": result.provider, "model": result.model, "seed": image.seed,
            "width": image.width, "height": image.height, "params": params, "cost_usd": cost_usd,
            "created": int(time.time()), "request_id": result.request_id})

    def spend_by_provider(self) -> dict[str, float]:
        """Dollars per ``provider:model``: from the ledger when there is one, else this process's."""
        if self.ledger is None:
            return dict(self.spend)
        out: dict[str, float] = {}
        for row in self.ledger.summary(by=["provider", "model"]):
            if row.provider != SERVER:
                out[f"{row.provider}:{row.model}"] = row.usd
        return out

    def progress(self) -> dict[str, Any]:
        """The oldest job in hand, A1111-style: (progress 0..1, eta seconds, step, steps, job count)."""
        jobs = sorted(self.jobs.values(), key=lambda j: j.admitted)
        if not jobs:
            return {"progress": 0.0, "eta": 0.0, "step": 0, "steps": 0, "job_count": 0, "job": None}
        job = next((j for j in jobs if j.started is not None), jobs[0])
        fraction = min(1.0, job.step / job.total) if job.total else 0.0
        elapsed = time.time() - (job.started or time.time())
        eta = elapsed / fraction - elapsed if fraction > 0 else self._latency
        return {"progress": max(0.01, fraction), "eta": max(0.0, eta), "step": job.step, "steps": job.total,
                "job_count": len(jobs), "job": job}

    def interrupt(self, user: str | None) -> int:
        """Stop the jobs in hand (those of ``user`` when the server has keys); returns how many."""
        jobs = [j for j in list(self.jobs.values()) if not self.auth or j.user == user]
        for job in jobs:
            job.interrupt()
        return len(jobs)

    async def aclose(self) -> None:
        await self.client.aclose()


async def run_until_disconnected(receive: Callable[[], Any], work: Any) -> Any:
    """Await ``work`` (a coroutine); if the client disconnects first, cancel it (a local provider stops
    at its next step) and raise ``ClientGone``."""
    task = asyncio.ensure_future(work)

    async def gone() -> None:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                return

    watcher = asyncio.ensure_future(gone())
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        watcher.cancel()
        raise
    if task in done:
        watcher.cancel()
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, ImageGenError):
        await task
    raise ClientGone("the client disconnected; its generation was stopped")


def cost_header(usd: float | None) -> str:
    return "unknown" if usd is None else f"{usd:.6f}"


def per_image_cost(result: GenerationResult) -> float | None:
    return None if result.cost.usd is None or not result.images else result.cost.usd / len(result.images)
