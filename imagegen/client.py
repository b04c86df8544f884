"""``Client``: providers in fallback order behind one retry layer, a budget, a ledger and limits.

For each user request the client walks its providers in order. Each provider gets the request
re-normalized for its own capabilities; every planned call goes through, in this order: the
provider's concurrency slot, its requests-per-minute pacing, the budget reservation, the call
itself (with ``timeout``), then settlement and one ledger row per attempt. ``RateLimited`` and
``TransientError`` are retried by ``RetryPolicy``; when a provider is exhausted by an error in
``fallback`` the next provider takes over, with a ``fallback`` warning in the result.

The sync API runs coroutines on one shared event loop in a daemon thread, so it works the same
from plain scripts and from inside a running loop (Jupyter), and async SDK clients that bind to
a loop keep working across calls. Limits are thread-safe, so they hold across the sync API, your
own event loops and threads together.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import threading
import time
import uuid
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .budget import Budget, Hold, UnknownCostPolicy
from .checks import check_timeout
from .errors import (
    AllProvidersFailed,
    BudgetExceeded,
    ImageGenError,
    InvalidRequest,
    ProviderUnavailable,
    RateLimited,
    TransientError,
)
from .imageio import cover_resize
from .ledger import Ledger, LedgerEntry
from .normalize import Plan, normalize
from .params import GenerateParams
from .prompt import prompt_request
from .provider import Provider, ProviderRequest, ProviderResponse
from .registry import default_provider_spec, resolve_provider
from .result import Attempt, AttemptStatus, Cost, CostSource, GeneratedImage, GenerationResult, GenerationWarning
from .retry import RetryPolicy, retrying
from .scoring import Scorer, check_select, select_best
from .scrub import LazySecrets, redact, scrub_error, secrets_of

if TYPE_CHECKING:
    from .batch import BatchItem
    from .compare import Comparison

__all__ = ["DEFAULT_FALLBACK", "Client", "agenerate", "generate"]

logger = logging.getLogger("imagegen")

T = TypeVar("T")
ProviderSpec = str | Provider
Partial = Literal["return", "raise"]
PerProvider = int | float | Mapping[str, int | float] | None

#: Errors that hand a request to the next provider by default. Add ``ContentPolicyError``,
#: ``BudgetExceeded``, ``UnsupportedFeature`` or ``AuthenticationError`` through ``fallback=``.
DEFAULT_FALLBACK: tuple[type[ImageGenError], ...] = (TransientError, RateLimited, ProviderUnavailable)


class _LoopThread:
    """One event loop in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None:
            with self._lock:
                if self._loop is None:
                    self._loop = asyncio.new_event_loop()
                    self._thread = threading.Thread(target=self._loop.run_forever, name="imagegen-loop",
                                                    daemon=True)
                    self._thread.start()
                loop = self._loop
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("imagegen: a sync Client method was called from inside the client's own event "
                               "loop (for example from an async scorer); await the async method instead")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()


#: Every client's sync calls run on this one loop thread: a client costs no thread of its own.
_SHARED_LOOP = _LoopThread()


def spec_of(provider: Provider) -> str:
    return f"{provider.name}:{provider.model}"


# -- limits shared by threads and event loops ---------------------------------------------------

class _Slots:
    """A counting semaphore that tasks on any event loop, in any thread, can wait on."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._lock = threading.Lock()
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = (
            collections.deque())

    async def __aenter__(self) -> None:
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            loop = asyncio.get_running_loop()
            waiter = (loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter[1]
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    raise
            if waiter[1].done() and not waiter[1].cancelled():
                self._release()  # the slot reached us just as we were cancelled: pass it on
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        with self._lock:
            if not self._waiters:
                self._free += 1
                return
            loop, future = self._waiters.popleft()
        loop.call_soon_threadsafe(self._hand_over, future)

    def _hand_over(self, future: asyncio.Future[None]) -> None:
        if future.done():  # cancelled before it got the slot
            self._release()
        else:
            future.set_result(None)


class _Pace:
    """Requests-per-minute pacing: calls start at least ``60 / rpm`` seconds apart."""

    def __init__(self, rpm: float, policy: RetryPolicy) -> None:
        self._interval = 60.0 / rpm
        self._policy = policy
        self._next = float("-inf")
        self._lock = threading.Lock()

    async def wait(self) -> None:
        with self._lock:
            now = self._policy.clock()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            await self._policy.sleep(start - now)


# -- one request's bookkeeping -------------------------------------------------------------------

@dataclasses.dataclass
class _Run:
    request_id: str
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    warnings: list[GenerationWarning] = dataclasses.field(default_factory=list)

    def warn(self, warning: GenerationWarning) -> None:
        if warning not in self.warnings:
            self.warnings.append(warning)


class Client:
    """Generates images through an ordered chain of providers (the order is the fallback chain).

    ``retry``: a ``RetryPolicy``, a number of attempts, or False for none (default ``RetryPolicy()``).
    ``fallback``: True (default: on ``DEFAULT_FALLBACK``), False, or the error classes that move on.
    ``budget_usd``: a dollar cap for everything this client (and, with a ledger, every process
    sharing that ledger file, counted from ``budget_since``) spends; see ``imagegen.budget``.
    ``ledger``: a path or ``Ledger``; one row per attempt. ``max_concurrency`` and ``rpm``: per
    provider, a number for all or a mapping from ``"name:model"`` or ``"name"`` (``"*"``: others).
    ``timeout``: seconds per attempt. ``partial``: what a split request does when some calls fail.
    """

    def __init__(self, providers: ProviderSpec | Sequence[ProviderSpec] | None = None, *,
                 retry: RetryPolicy | int | bool | None = None,
                 fallback: bool | Iterable[type[BaseException]] = True,
                 budget_usd: float | None = None,
                 ledger: str | os.PathLike[str] | Ledger | None = None,
                 max_concurrency: PerProvider = None,
                 timeout: float | None = None,
                 rpm: PerProvider = None,
                 partial: Partial = "return",
                 unknown_cost: UnknownCostPolicy = "warn",
                 budget_since: Any = None) -> None:
        if isinstance(providers, (str, Provider)):
            providers = [providers]
        self._specs: list[ProviderSpec] = list(providers or [])
        self.retry = _retry_policy(retry)
        self.fallback_on = _fallback_classes(fallback)
        self.max_concurrency = _per_provider(max_concurrency, "max_concurrency", whole=True)
        self.rpm = _per_provider(rpm, "rpm", whole=False)
        self.timeout = check_timeout(timeout)
        self.partial = _partial(partial)
        self._owns_ledger = ledger is not None and not isinstance(ledger, Ledger)
        if ledger is not None and not isinstance(ledger, (Ledger, str, os.PathLike)):
            raise InvalidRequest(f"ledger: expected a file path or a Ledger; got {type(ledger).__name__}",
                                 field="ledger")
        self.ledger = ledger if isinstance(ledger, Ledger) or ledger is None else Ledger(ledger)
        self.budget = (Budget(budget_usd, ledger=self.ledger, since=budget_since, unknown_cost=unknown_cost)
                       if budget_usd is not None else None)
        self._instances: dict[str, Provider] = {}
        self._instances_lock = threading.Lock()
        self._slots: dict[str, _Slots | None] = {}
        self._paces: dict[str, _Pace | None] = {}
        self._limits_lock = threading.Lock()
        self._loop = _SHARED_LOOP

    def __repr__(self) -> str:
        chain = [s if isinstance(s, str) else spec_of(s) for s in self._specs]
        extra = f", budget_usd={self.budget.limit_usd}" if self.budget else ""
        extra += f", ledger={self.ledger.path!r}" if self.ledger else ""
        return f"Client({chain}{extra})"

    # -- providers -----------------------------------------------------------------------------

    def provider(self, spec: ProviderSpec | None = None) -> Provider:
        """The provider instance for ``spec`` (cached per spec string)."""
        if spec is None:
            spec = self._specs[0] if self._specs else default_provider_spec()
        if not isinstance(spec, str):
            return resolve_provider(spec)
        inst = self._instances.get(spec)
        if inst is None:
            with self._instances_lock:
                inst = self._instances.get(spec)
                if inst is None:
                    inst = self._instances[spec] = resolve_provider(spec)
        return inst

    def _resolve(self, spec: ProviderSpec, label: str) -> Provider:
        """``provider(spec)``, where a provider that cannot even be built (missing SDK setting, bad
        model folder) is ``ProviderUnavailable``, so the chain can move on to the next one."""
        try:
            return self.provider(spec)
        except ImageGenError:
            raise
        except Exception as exc:
            raise ProviderUnavailable(f"{label} could not be created: {type(exc).__name__}: {exc}",
                                      provider=label) from exc

    def _chain(self, provider: ProviderSpec | Sequence[ProviderSpec] | None) -> list[ProviderSpec]:
        if provider is None:
            return list(self._specs) or [default_provider_spec()]
        if isinstance(provider, (str, Provider)):
            return [provider]
        chain = list(provider)
        if not chain:
            raise InvalidRequest("provider: give at least one provider", field="provider")
        return chain

    # -- generation ----------------------------------------------------------------------------

    def generate(self, prompt: str, params: GenerateParams | Mapping[str, Any] | None = None, *,
                 provider: ProviderSpec | Sequence[ProviderSpec] | None = None, partial: Partial | None = None,
                 select: int | None = None, scorer: Scorer | None = None, **kwargs: Any) -> GenerationResult:
        """Generate images; blocks until they are ready. See ``agenerate``."""
        _, request = prompt_request(prompt, params, **kwargs)  # bad input fails here, in the caller's thread
        check_select(select, scorer, request.n)
        return self._loop.run(self.agenerate(prompt, request, provider=provider, partial=partial, select=select,
                                             scorer=scorer))

    async def agenerate(self, prompt: str, params: GenerateParams | Mapping[str, Any] | None = None, *,
                        provider: ProviderSpec | Sequence[ProviderSpec] | None = None,
                        partial: Partial | None = None, select: int | None = None, scorer: Scorer | None = None,
                        **kwargs: Any) -> GenerationResult:
        """Generate images for ``prompt`` with ``params`` (or the same fields as keywords).

        ``provider`` overrides the client's chain for this call. ``select=k`` with ``scorer``
        keeps the k best of the n images (``scorer(images, prompt) -> scores``, higher is better;
        each image gets ``info["score"]``, best first, ties in generation order).
        """
        text, request = prompt_request(prompt, params, **kwargs)
        mode = _partial(partial) if partial is not None else self.partial
        check_select(select, scorer, request.n)
        chain = self._chain(provider)
        run = _Run(request_id=uuid.uuid4().hex)
        failures: list[tuple[str, ImageGenError]] = []
        for position, spec in enumerate(chain):
            label = spec if isinstance(spec, str) else spec_of(spec)
            secrets: Iterable[str] = []
            tried = len(run.attempts)
            try:
                prov = self._resolve(spec, label)
                label = spec_of(prov)
                secrets = LazySecrets(prov)
                result = await self._run_provider(prov, text, request, run, mode, secrets)
            except ImageGenError as exc:
                run.attempts[tried:] = sorted(run.attempts[tried:], key=lambda a: (a.index, a.attempt))
                exc.provider = exc.provider or label
                scrub_error(exc, secrets or secrets_of())
                if len(run.attempts) == tried:  # nothing was sent: say why this provider was passed over
                    run.attempts.append(_skipped(label, exc))
                failures.append((label, exc))
                if position == len(chain) - 1 or not self._falls_back(exc):
                    break
                nxt = chain[position + 1]
                note = GenerationWarning(f"fallback: {label} failed ({type(exc).__name__}: {exc.message}); "
                                         f"trying {nxt if isinstance(nxt, str) else spec_of(nxt)}", kind="fallback")
                run.warn(note)
                logger.warning("imagegen %s", note)
                continue
            run.attempts[tried:] = sorted(run.attempts[tried:], key=lambda a: (a.index, a.attempt))
            result.warnings = run.warnings + [w for w in result.warnings if w not in run.warnings]
            result.attempts = list(run.attempts)
            if scorer is not None:
                await select_best(result, select, scorer, text)
            return result
        raise self._failure(failures, chain, run)

    def _falls_back(self, exc: ImageGenError) -> bool:
        return isinstance(exc, self.fallback_on) and not exc.images  # never drop paid-for images

    def _failure(self, failures: list[tuple[str, ImageGenError]], chain: Sequence[ProviderSpec],
                 run: _Run) -> ImageGenError:
        last = failures[-1][1]
        last.attempts = list(run.attempts)
        last.request_id = run.request_id
        if len(chain) == 1 or not self._falls_back(last):
            return last
        summary = "; ".join(f"{spec}: {type(exc).__name__}: {exc.message}" for spec, exc in failures)
        error = AllProvidersFailed(f"all {len(failures)} providers failed: {summary}", attempts=run.attempts,
                                   errors=[exc for _, exc in failures])
        error.request_id = run.request_id
        error.images = [im for _, exc in failures for im in exc.images]
        error.__cause__ = last
        return error

    async def _run_provider(self, provider: Provider, prompt: str, params: GenerateParams, run: _Run,
                            partial: Partial, secrets: Iterable[str]) -> GenerationResult:
        started = time.perf_counter()
        label = spec_of(provider)
        await _prepare(provider, label)
        plan = normalize(prompt, params, provider.capabilities(), provider=label, request_id=run.request_id)
        planned = time.perf_counter()

        async def guarded(req: ProviderRequest) -> tuple[ProviderResponse | ImageGenError, Attempt | None]:
            try:
                return await self._call(provider, req, run, secrets), None
            except ImageGenError as exc:
                exc.provider = exc.provider or label
                return exc, None

        if len(plan.requests) == 1:
            outcomes = [await guarded(plan.requests[0])]
        else:
            outcomes = list(await asyncio.gather(*(guarded(r) for r in plan.requests)))
        return assemble(provider, prompt, plan, outcomes, started=started, planned=planned,
                        request_id=run.request_id, partial=partial)

    async def _call(self, provider: Provider, req: ProviderRequest, run: _Run,
                    secrets: Iterable[str]) -> ProviderResponse:
        """One planned call: slots, pacing, budget, the call, retries, and a ledger row per try."""
        label = spec_of(provider)
        slots, pace = self._limits(provider)

        async def once(number: int) -> ProviderResponse:
            if slots is None:
                return await self._attempt(provider, req, run, secrets, number, pace)
            async with slots:
                return await self._attempt(provider, req, run, secrets, number, pace)

        def on_retry(number: int, exc: BaseException, wait: float) -> None:
            logger.warning("imagegen %s: %s on attempt %d/%d; retrying in %.2fs", label, type(exc).__name__,
                           number, self.retry.attempts, wait)

        return await retrying(self.retry, once, on_retry=on_retry)

    async def _attempt(self, provider: Provider, req: ProviderRequest, run: _Run, secrets: Iterable[str],
                       number: int, pace: _Pace | None) -> ProviderResponse:
        label = spec_of(provider)
        if pace is not None:
            await pace.wait()
        hold: Hold | None = None
        if self.budget is not None:
            try:
                hold = self.budget.reserve(_estimate(provider, req), request_id=run.request_id,
                                           provider=provider.name, model=provider.model)
            except BudgetExceeded as exc:
                exc.provider = exc.provider or label
                self._record(provider, req, run, secrets, number, "refused", 0.0, error=exc)
                raise
            if not hold.known:
                run.warn(GenerationWarning(f"cost: {label} gives no cost estimate, so budget_usd cannot hold its "
                                           "calls back; their real cost is counted afterwards", kind="cost"))
        sent = dataclasses.replace(req, cancel=threading.Event()) if req.cancel is None else req
        t0 = time.perf_counter()
        try:
            response = await self._send(provider, sent)
        except asyncio.CancelledError:
            if sent.cancel is not None:
                sent.cancel.set()
            self._record(provider, req, run, secrets, number, "cancelled", time.perf_counter() - t0,
                         error=TransientError("cancelled"), hold=hold, charge_estimate=True)
            raise
        except Exception as raw:
            error = raw if isinstance(raw, ImageGenError) else _crash(raw, label)
            error.provider = error.provider or label
            self._record(provider, req, run, secrets, number, "error", time.perf_counter() - t0, error=error,
                         hold=hold, raw=raw)
            if error is not raw:
                raise error from raw
            raise
        self._record(provider, req, run, secrets, number, "ok", time.perf_counter() - t0, response=response,
                     hold=hold)
        return response

    async def _send(self, provider: Provider, req: ProviderRequest) -> ProviderResponse:
        if self.timeout is None:
            return await provider.generate(req)
        try:
            return await asyncio.wait_for(provider.generate(req), self.timeout)
        except asyncio.TimeoutError:
            if req.cancel is not None:
                req.cancel.set()
            raise TransientError(f"timeout: no answer within {self.timeout:g}s") from None

    def _record(self, provider: Provider, req: ProviderRequest, run: _Run, secrets: Iterable[str], number: int,
                status: AttemptStatus, latency: float, *, error: ImageGenError | None = None,
                response: ProviderResponse | None = None, hold: Hold | None = None, raw: BaseException | None = None,
                charge_estimate: bool = False) -> None:
        """Append the attempt to the result and the ledger (settling the budget) before returning."""
        cost: float | None = None
        source: CostSource | None = None
        if response is not None and response.cost is not None:
            cost, source = response.cost.usd, response.cost.source
        ledger_cost = cost
        ledger_source: str | None = source
        if hold is not None and hold.known and ((status == "ok" and cost is None) or charge_estimate):
            ledger_cost, ledger_source = hold.reservation.amount, "estimate"
        if error is not None:
            scrub_error(error, secrets)
        message = error.message if error is not None else None
        error_name = type(raw).__name__ if raw is not None else (type(error).__name__ if error else None)
        run.attempts.append(Attempt(
            provider=provider.name, model=provider.model, status=status, latency_s=latency, error=error_name,
            message=message, cost_usd=cost, n=len(response.images) if response else req.n, index=req.index,
            seeds=req.seeds, attempt=number, cost_source=source))
        entry = LedgerEntry(
            request_id=run.request_id, provider=provider.name, model=provider.model, status=status,
            operation=req.operation, n=len(response.images) if response else req.n, size=f"{req.width}x{req.height}",
            attempt=number, error=error_name, message=message, cost_usd=ledger_cost, cost_source=ledger_source,
            latency_s=latency, seeds=list(req.seeds))
        if hold is not None and self.budget is not None:
            self.budget.settle(hold, entry)
        elif self.ledger is not None:
            self.ledger.record(entry)

    def _limits(self, provider: Provider) -> tuple[_Slots | None, _Pace | None]:
        label = spec_of(provider)
        with self._limits_lock:
            if label not in self._slots:
                size = _lookup(self.max_concurrency, label, provider.name)
                self._slots[label] = _Slots(int(size)) if size else None
                rate = _lookup(self.rpm, label, provider.name)
                self._paces[label] = _Pace(float(rate), self.retry) if rate else None
            return self._slots[label], self._paces[label]

    # -- many prompts, comparisons -------------------------------------------------------------

    def generate_many(self, prompts: Iterable[str], params: GenerateParams | Mapping[str, Any] | None = None, *,
                      provider: ProviderSpec | Sequence[ProviderSpec] | None = None, concurrency: int | None = None,
                      out_dir: str | os.PathLike[str] | None = None, skip_existing: bool = True,
                      names: Sequence[str] | None = None, partial: Partial | None = None,
                      **kwargs: Any) -> list[BatchItem]:
        """Many prompts, bounded concurrency, results in input order; see ``imagegen.batch``."""
        from .batch import prepare

        job = prepare(self, prompts, params, provider=provider, concurrency=concurrency, out_dir=out_dir,
                      skip_existing=skip_existing, names=names, partial=partial, **kwargs)
        return self._loop.run(job.run())

    async def agenerate_many(self, prompts: Iterable[str],
                             params: GenerateParams | Mapping[str, Any] | None = None, *,
                             provider: ProviderSpec | Sequence[ProviderSpec] | None = None,
                             concurrency: int | None = None, out_dir: str | os.PathLike[str] | None = None,
                             skip_existing: bool = True, names: Sequence[str] | None = None,
                             partial: Partial | None = None, **kwargs: Any) -> list[BatchItem]:
        """Async ``generate_many``."""
        from .batch import prepare

        job = prepare(self, prompts, params, provider=provider, concurrency=concurrency, out_dir=out_dir,
                      skip_existing=skip_existing, names=names, partial=partial, **kwargs)
        return await job.run()

    def compare(self, prompt: Any, *, providers: Sequence[ProviderSpec], seeds: Sequence[int | None] = (1,),
                params: GenerateParams | Mapping[str, Any] | None = None, scorer: Scorer | None = None,
                **kwargs: Any) -> Comparison:
        """Same prompt(s) and seeds across providers; see ``imagegen.compare``."""
        return self._loop.run(self.acompare(prompt, providers=providers, seeds=seeds, params=params, scorer=scorer,
                                            **kwargs))

    async def acompare(self, prompt: Any, *, providers: Sequence[ProviderSpec], seeds: Sequence[int | None] = (1,),
                       params: GenerateParams | Mapping[str, Any] | None = None, scorer: Scorer | None = None,
                       **kwargs: Any) -> Comparison:
        """Async ``compare``."""
        from .compare import run_comparison

        return await run_comparison(self, prompt, providers=providers, seeds=seeds, params=params, scorer=scorer,
                                    **kwargs)

    # -- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the providers this client built (``aclose``) and the ledger it opened."""
        with self._instances_lock:
            instances, self._instances = list(self._instances.values()), {}
        for inst in instances:
            closer = getattr(inst, "aclose", None)
            if closer is not None:
                await closer()
        if self._owns_ledger and self.ledger is not None:
            self.ledger.close()

    def close(self) -> None:
        self._loop.run(self.aclose())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# -- helpers -----------------------------------------------------------------------------------

def _retry_policy(retry: RetryPolicy | int | bool | None) -> RetryPolicy:
    if retry is None or retry is True:
        return RetryPolicy()
    if retry is False:
        return RetryPolicy.none()
    if isinstance(retry, RetryPolicy):
        return retry
    if isinstance(retry, int):
        return RetryPolicy(attempts=retry)
    raise InvalidRequest(f"retry: expected a RetryPolicy, a number of attempts or False; got {retry!r}",
                         field="retry")


def _fallback_classes(fallback: bool | Iterable[type[BaseException]]) -> tuple[type[BaseException], ...]:
    if fallback is True:
        return DEFAULT_FALLBACK
    if fallback is False:
        return ()
    try:
        classes = tuple(fallback)
    except TypeError:
        classes = ()
    if not classes or not all(isinstance(c, type) and issubclass(c, ImageGenError) for c in classes):
        raise InvalidRequest(f"fallback: expected True, False or imagegen error classes such as "
                             f"(TransientError, ContentPolicyError); got {fallback!r}", field="fallback")
    return classes


def _per_provider(value: PerProvider, name: str, *, whole: bool) -> int | float | dict[str, int | float] | None:
    def check(v: Any) -> int | float:
        ok = not isinstance(v, bool) and (isinstance(v, int) if whole else isinstance(v, (int, float))) and v > 0
        if not ok:
            kind = "a whole number >= 1" if whole else "a number > 0"
            raise InvalidRequest(f"{name}: must be {kind}, a mapping of provider to such numbers, or None; "
                                 f"got {v!r}", field=name)
        return v  # type: ignore[no-any-return]

    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): check(v) for k, v in value.items()}
    return check(value)


def _lookup(value: int | float | dict[str, int | float] | None, label: str, name: str) -> int | float | None:
    if isinstance(value, dict):
        return value.get(label, value.get(name, value.get("*")))
    return value


def _partial(value: Any) -> Partial:
    if value not in ("return", "raise"):
        raise InvalidRequest(f"partial: must be 'return' or 'raise'; got {value!r}", field="partial")
    return value  # type: ignore[no-any-return]


def _estimate(provider: Provider, req: ProviderRequest) -> Cost | None:
    estimate = getattr(provider, "estimate_cost", None)
    if estimate is None:
        return None
    try:
        cost = estimate(req)
    except ImageGenError:
        raise
    except Exception:  # a broken estimator must not block generation; it counts as unknown
        logger.exception("imagegen %s: estimate_cost failed", spec_of(provider))
        return None
    return cost if isinstance(cost, Cost) else None


async def _prepare(provider: Provider, label: str) -> None:
    """Await the provider's optional one-time setup (an SDK import, a model load) before planning, so it
    never counts against an attempt's timeout. A setup that breaks makes the provider unavailable."""
    prepare = getattr(provider, "prepare", None)
    if prepare is None:
        return
    try:
        await prepare()
    except ImageGenError:
        raise
    except Exception as exc:
        raise ProviderUnavailable(f"{label} could not be set up: {type(exc).__name__}: {exc}",
                                  provider=label) from exc


def _crash(exc: Exception, label: str) -> ImageGenError:
    return ImageGenError(f"provider crashed: {type(exc).__name__}: {exc}", provider=label)


def _skipped(label: str, exc: ImageGenError) -> Attempt:
    name, _, model = label.partition(":")
    return Attempt(provider=name, model=model, status="skipped", latency_s=0.0, error=type(exc).__name__,
                   message=exc.message, n=0)


def assemble(provider: Provider, prompt: str, plan: Plan,
             outcomes: Sequence[tuple[ProviderResponse | ImageGenError, Attempt | None]], *,
             started: float, planned: float, request_id: str, partial: Partial = "raise") -> GenerationResult:
    """Merge per-call outcomes into one result (in request order).

    When every call failed, the first error is raised. When only some did, ``partial="return"``
    returns the finished images with a ``partial:`` warning, and ``"raise"`` raises the first
    error with the finished images attached (``error.images``): paid-for images are never lost.
    """
    images: list[GeneratedImage] = []
    warnings: list[GenerationWarning] = list(plan.warnings)
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
            # keep what the provider noted on the image (its settings), under the request's own fields
            image.info = {**image.info, **_image_info(provider, prompt, req, request_id)}
            if plan.needs_resize:
                image = _resized(image, plan.output_size)
            images.append(image)
        warnings.extend(GenerationWarning.of(w) for w in outcome.warnings if w not in warnings)
        if outcome.cost is not None:
            costs.append(outcome.cost)
        for key, value in outcome.timings.items():
            timings[key] = timings.get(key, 0.0) + value
    attempts = [attempt for _, attempt in outcomes if attempt is not None]
    if errors and (not images or partial == "raise"):
        first = errors[0]
        first.images = images
        first.attempts = first.attempts or attempts
        raise first
    if errors:
        wanted = sum(r.n for r in plan.requests)
        kinds = ", ".join(sorted({type(e).__name__ for e in errors}))
        warnings.append(GenerationWarning(f"partial: {len(images)} of {wanted} images were made; {len(errors)} of "
                                          f"{len(plan.requests)} calls failed ({kinds}: {errors[0].message}); "
                                          "see attempts"))
    cost = Cost.combine(costs) if costs else Cost()
    if cost.usd is None and not any(w.kind == "cost" for w in warnings):
        warnings.append(GenerationWarning(f"cost: {spec_of(provider)} did not report a price; cost.usd is None "
                                          "(unknown)", kind="cost"))
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
    if req.provider_options:  # results, reprs and files never carry a key passed as an option
        params["provider_options"] = redact(dict(req.provider_options))
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
