"""One request on one provider: its setup, its plan, and every planned call through the provider's limits,
the budget, the call itself (with the timeout and the retries) and a record of each attempt.

Each attempt, in this order: the provider's concurrency slot, its requests-per-minute pacing, the budget
reservation, the call, then settlement and one ledger row (written before the result returns). An error
is scrubbed of secrets before it is recorded or raised.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Iterable
from typing import Protocol

from ._assemble import Partial, assemble
from ._limits import Limits, Pacer
from .budget import Budget, Hold
from .errors import BudgetExceeded, ImageGenError, ProviderUnavailable, TransientError
from .ledger import EPSILON_USD, LedgerEntry
from .normalize import normalize
from .params import GenerateParams
from .provider import ProgressEvent, Provider, ProviderRequest, ProviderResponse
from .result import Attempt, AttemptStatus, Cost, CostSource, GenerationResult, GenerationWarning
from .retry import RetryPolicy, retrying
from .scrub import LazySecrets, scrub_error, scrub_object
from .streaming import Hooks

__all__ = ["Calls", "Recorder", "Run", "Settings", "skipped"]

logger = logging.getLogger("imagegen")


@dataclasses.dataclass
class Run:
    """One user request's bookkeeping across the providers it tries: its id, attempts and warnings."""

    request_id: str
    #: Who the request is for (``generate(user=...)``): recorded on each ledger row, and the key of
    #: the client's ``user_budgets``.
    user: str | None = None
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    warnings: list[GenerationWarning] = dataclasses.field(default_factory=list)
    #: Where a streamed request's events go (``Client.stream``); None for ``generate``.
    hooks: Hooks | None = None

    def warn(self, warning: GenerationWarning) -> None:
        if warning not in self.warnings:
            self.warnings.append(warning)


class Recorder(Protocol):
    """Where attempts go when no budget settles them: a ``Ledger``, or one shared by a cluster's workers."""

    def record(self, entry: LedgerEntry) -> None: ...


class Settings(Protocol):
    """What the calls take from their ``Client`` (or from a Ray worker that reports to one coordinator)."""

    @property
    def retry(self) -> RetryPolicy: ...

    @property
    def timeout(self) -> float | None: ...

    @property
    def budget(self) -> Budget | None: ...

    @property
    def ledger(self) -> Recorder | None: ...

    def budgets_for(self, user: str | None) -> list[Budget]:
        """Every budget a call for ``user`` must fit: the client's, then the user's own."""
        ...


def skipped(label: str, exc: ImageGenError) -> Attempt:
    """The attempt that records a provider passed over before anything was sent."""
    name, _, model = label.partition(":")
    return Attempt(provider=name, model=model, status="skipped", latency_s=0.0, error=type(exc).__name__,
                   message=exc.message, n=0)


class Calls:
    """A client's calls to its providers."""

    def __init__(self, settings: Settings, limits: Limits) -> None:
        self.settings = settings
        self.limits = limits

    async def run(self, provider: Provider, prompt: str, params: GenerateParams, run: Run, partial: Partial,
                  secrets: Iterable[str]) -> GenerationResult:
        """Set the provider up, plan the request for its capabilities, make every call, merge the result."""
        started = time.perf_counter()
        label = f"{provider.name}:{provider.model}"
        await _prepare(provider, label)
        plan = normalize(prompt, params, provider.capabilities(), provider=label, request_id=run.request_id)
        planned = time.perf_counter()

        async def guarded(req: ProviderRequest) -> ProviderResponse | ImageGenError:
            try:
                return await self.call(provider, req, run, secrets)
            except ImageGenError as exc:
                exc.provider = exc.provider or label
                return exc

        if len(plan.requests) == 1:
            outcomes = [await guarded(plan.requests[0])]
        else:
            outcomes = list(await asyncio.gather(*(guarded(r) for r in plan.requests)))
        return assemble(provider, prompt, plan, outcomes, started=started, planned=planned,
                        request_id=run.request_id, partial=partial)

    async def call(self, provider: Provider, req: ProviderRequest, run: Run,
                   secrets: Iterable[str]) -> ProviderResponse:
        """One planned call: slots, pacing, budget, the call, retries, and a ledger row per try."""
        label = f"{provider.name}:{provider.model}"
        slots, pace = self.limits.of(provider)
        policy = self.settings.retry
        deadline = None if policy.total_timeout is None else policy.clock() + policy.total_timeout

        async def once(number: int) -> ProviderResponse:
            if slots is None:
                return await self._attempt(provider, req, run, secrets, number, pace, deadline)
            async with slots:
                return await self._attempt(provider, req, run, secrets, number, pace, deadline)

        def on_retry(number: int, exc: BaseException, wait: float) -> None:
            logger.warning("imagegen %s: %s on attempt %d/%d; retrying in %.2fs", label, type(exc).__name__,
                           number, policy.attempts, wait)

        return await retrying(policy, once, on_retry=on_retry)

    async def _attempt(self, provider: Provider, req: ProviderRequest, run: Run, secrets: Iterable[str],
                       number: int, pace: Pacer | None, deadline: float | None) -> ProviderResponse:
        label = f"{provider.name}:{provider.model}"
        budgets = self.settings.budgets_for(run.user)
        if pace is not None:
            await pace.wait()
        holds: list[tuple[Budget, Hold]] = []
        if budgets:
            estimate = _estimate(provider, req)
            try:
                for i, budget in enumerate(budgets):
                    holds.append((budget, budget.reserve(estimate, request_id=run.request_id, provider=provider.name,
                                                         model=provider.model, user=run.user, charge=i == 0)))
            except BudgetExceeded as exc:
                for budget, held in holds:
                    budget.release(held)
                exc.provider = exc.provider or label
                self._record(provider, req, run, secrets, number, "refused", 0.0, error=exc)
                raise
        if holds and not holds[0][1].known:
            run.warn(GenerationWarning(f"cost: {label} gives no cost estimate, so budget_usd cannot hold its "
                                       "calls back; their real cost is counted afterwards", kind="cost"))
        sent = dataclasses.replace(req, cancel=threading.Event()) if req.cancel is None else req
        if run.hooks is not None:
            sent = run.hooks.wire(label, sent)
            run.hooks.progress(label, ProgressEvent("attempt", number, self.settings.retry.attempts, req.index))
        t0 = time.perf_counter()
        try:
            response = await self._send(provider, sent, deadline)
        except asyncio.CancelledError:
            if sent.cancel is not None:
                sent.cancel.set()
            self._record(provider, req, run, secrets, number, "cancelled", time.perf_counter() - t0,
                         error=TransientError("cancelled"), holds=holds, charge_estimate=True)
            raise
        except Exception as raw:
            error = raw if isinstance(raw, ImageGenError) else _crash(raw, label)
            error.provider = error.provider or label
            self._record(provider, req, run, secrets, number, "error", time.perf_counter() - t0, error=error,
                         holds=holds, raw=raw)
            if error is not raw:
                raise error from raw
            raise
        # What the provider sent back (revised prompts, warnings, usage) may echo its key: clean it before
        # it reaches the result, the ledger, a PNG chunk or the CLI's JSON.
        scrub_object(response, secrets.held if isinstance(secrets, LazySecrets) else list(secrets))
        self._record(provider, req, run, secrets, number, "ok", time.perf_counter() - t0, response=response,
                     holds=holds)
        return response

    async def _send(self, provider: Provider, req: ProviderRequest, deadline: float | None) -> ProviderResponse:
        """The call, cut off at the client's ``timeout`` or at what is left of ``retry.total_timeout``."""
        timeout, setting = self.settings.timeout, "timeout"
        if deadline is not None:
            left = deadline - self.settings.retry.clock()
            if timeout is None or left < timeout:
                timeout, setting = max(left, 0.0), "retry.total_timeout"
        if timeout is None:
            return await provider.generate(req)
        if timeout <= 0:
            raise TransientError("timeout: retry.total_timeout was used up before this attempt could start")
        try:
            return await asyncio.wait_for(provider.generate(req), timeout)
        except asyncio.TimeoutError:
            if req.cancel is not None:
                req.cancel.set()
            raise TransientError(f"timeout: no answer within {timeout:g}s ({setting})") from None

    def _record(self, provider: Provider, req: ProviderRequest, run: Run, secrets: Iterable[str], number: int,
                status: AttemptStatus, latency: float, *, error: ImageGenError | None = None,
                response: ProviderResponse | None = None, holds: list[tuple[Budget, Hold]] | None = None,
                raw: BaseException | None = None, charge_estimate: bool = False) -> None:
        """Append the attempt to the run and the ledger (settling the budgets) before returning."""
        hold = holds[0][1] if holds else None
        label = f"{provider.name}:{provider.model}"
        cost: float | None = None
        source: CostSource | None = None
        if response is not None and response.cost is not None:
            cost, source = response.cost.usd, response.cost.source
        ledger_cost = cost
        ledger_source: str | None = source
        # A provider that answered 2xx with something unusable (cut JSON, bad base64, not an image) has most
        # likely billed the attempt: the ledger and the budget count it at its estimate, and say so.
        billed = error is not None and error.status is not None and 200 <= error.status < 300
        if hold is not None and hold.known and ((status == "ok" and cost is None) or charge_estimate or billed):
            ledger_cost, ledger_source = hold.reservation.amount, "estimate"
        elif billed:
            guess = _estimate(provider, req)
            if guess is not None and guess.usd is not None:
                ledger_cost, ledger_source = guess.usd, "estimate"
        if error is not None:
            scrub_error(error, secrets)
        message = error.message if error is not None else None
        if billed:
            charged = "unknown" if ledger_cost is None else f"${ledger_cost:.4f}"
            message = (f"{message}; {label} answered {error.status if error else ''}, so it has most likely billed "
                       f"this attempt: counted at its estimate ({charged})")
            cost, source = ledger_cost, "estimate" if ledger_cost is not None else None
            run.warn(GenerationWarning(f"cost: {label} answered but its answer could not be used; such an attempt "
                                       f"is most likely billed, so it is counted at its estimate ({charged})",
                                       kind="cost"))
        if (status == "ok" and hold is not None and hold.known and cost is not None
                and cost > hold.reservation.amount + EPSILON_USD):
            run.warn(GenerationWarning(f"cost: {label} cost ${cost:.4f}, more than the ${hold.reservation.amount:.4f} "
                                       "the budget reserved for it; the budget counts what it cost", kind="cost"))
        error_name = type(raw).__name__ if raw is not None else (type(error).__name__ if error else None)
        n = len(response.images) if response else req.n
        run.attempts.append(Attempt(
            provider=provider.name, model=provider.model, status=status, latency_s=latency, error=error_name,
            message=message, cost_usd=cost, n=n, index=req.index, seeds=req.seeds, attempt=number,
            cost_source=source))
        entry = LedgerEntry(
            request_id=run.request_id, provider=provider.name, model=provider.model, status=status,
            operation=req.operation, n=n, size=f"{req.width}x{req.height}", attempt=number, error=error_name,
            message=message, cost_usd=ledger_cost, cost_source=ledger_source, latency_s=latency,
            seeds=list(req.seeds), user=run.user)
        if holds:
            for i, (budget, held) in enumerate(holds):
                budget.settle(held, entry, record=i == 0)
        elif self.settings.ledger is not None:
            self.settings.ledger.record(entry)


def _estimate(provider: Provider, req: ProviderRequest) -> Cost | None:
    estimate = getattr(provider, "estimate_cost", None)
    if estimate is None:
        return None
    try:
        cost = estimate(req)
    except ImageGenError:
        raise
    except Exception:  # a broken estimator must not block generation; it counts as unknown
        logger.exception("imagegen %s:%s: estimate_cost failed", provider.name, provider.model)
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
