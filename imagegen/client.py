"""``Client``: providers in fallback order behind one retry layer, a budget, a ledger and limits.

For each user request the client walks its providers in order (the fallback chain). Each provider
gets the request re-normalized for its own capabilities and every planned call made through its
limits, the budget, the call itself and the retries, with one ledger row per attempt (``_run``).
When a provider is exhausted by an error in ``fallback`` the next provider takes over, with a
``fallback`` warning in the result; when all are, the error says what every attempt did.

The sync API runs coroutines on one shared event loop in a daemon thread (``_loop``), so it works
the same from plain scripts and from inside a running loop (Jupyter). The request's path through
the modules is in ``docs/architecture.md``.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._assemble import Partial, check_partial
from ._limits import Limits, PerProvider, per_provider
from ._loop import SHARED_LOOP
from ._run import Calls, Run, skipped
from .budget import Budget, UnknownCostPolicy
from .checks import check_timeout
from .errors import AllProvidersFailed, ImageGenError, InvalidRequest, ProviderUnavailable, RateLimited, TransientError
from .ledger import Ledger
from .params import GenerateParams
from .prompt import prompt_request
from .provider import Provider
from .registry import ProviderSpec, default_provider_spec, provider_chain, resolve_provider, spec_of
from .result import GenerationResult, GenerationWarning
from .retry import RetryPolicy
from .scoring import Scorer, check_select, select_best
from .scrub import LazySecrets, scrub_error, secrets_of
from .streaming import Hooks, StreamEvent, check_partial_images, iterate, sync_iterate

if TYPE_CHECKING:
    from ._batch import BatchItem
    from .compare import Comparison

__all__ = ["DEFAULT_FALLBACK", "Client", "agenerate", "astream", "generate", "stream"]

logger = logging.getLogger("imagegen")

#: Errors that hand a request to the next provider by default. Add ``ContentPolicyError``,
#: ``BudgetExceeded``, ``UnsupportedFeature`` or ``AuthenticationError`` through ``fallback=``.
DEFAULT_FALLBACK: tuple[type[ImageGenError], ...] = (TransientError, RateLimited, ProviderUnavailable)


class Client:
    """Generates images through an ordered chain of providers (the order is the fallback chain).

    ``retry``: a ``RetryPolicy``, a number of attempts, or False for none (default ``RetryPolicy()``).
    ``fallback``: True (default: on ``DEFAULT_FALLBACK``), False, or the error classes that move on.
    ``budget_usd``: a dollar cap for everything this client (and, with a ledger, every process
    sharing that ledger file, counted from ``budget_since``) spends; see ``imagegen.budget``.
    ``user_budgets``: a dollar cap per user (the ``user=`` of each call), beside ``budget_usd``.
    ``unknown_cost``: under a budget, a call whose cost cannot be bounded ahead is refused
    (``"refuse"``, the default) or run while budget is left (``"allow"``).
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
                 unknown_cost: UnknownCostPolicy = "refuse",
                 budget_since: Any = None,
                 user_budgets: Mapping[str, float] | None = None) -> None:
        self._specs: list[ProviderSpec] = provider_chain(providers) if providers is not None else []
        self.retry: RetryPolicy = _retry_policy(retry)
        self.fallback_on = _fallback_classes(fallback)
        self.max_concurrency = per_provider(max_concurrency, "max_concurrency", whole=True)
        self.rpm = per_provider(rpm, "rpm", whole=False)
        self.timeout: float | None = check_timeout(timeout)
        self.partial = check_partial(partial)
        self._owns_ledger = ledger is not None and not isinstance(ledger, Ledger)
        if ledger is not None and not isinstance(ledger, (Ledger, str, os.PathLike)):
            raise InvalidRequest(f"ledger: expected a file path or a Ledger; got {type(ledger).__name__}",
                                 field="ledger")
        self.ledger: Ledger | None = ledger if isinstance(ledger, Ledger) or ledger is None else Ledger(ledger)
        self.budget: Budget | None = (
            Budget(budget_usd, ledger=self.ledger, since=budget_since, unknown_cost=unknown_cost)
            if budget_usd is not None else None)
        self.user_budgets: dict[str, Budget] = {
            _user_name(name): Budget(limit, ledger=self.ledger, since=budget_since, unknown_cost=unknown_cost,
                                     user=_user_name(name))
            for name, limit in _user_limits(user_budgets).items()}
        self._instances: dict[str, Provider] = {}
        self._instances_lock = threading.Lock()
        self._calls = Calls(self, Limits(self.max_concurrency, self.rpm, self.retry))
        self._loop = SHARED_LOOP

    def budgets_for(self, user: str | None) -> list[Budget]:
        """The budgets a call for ``user`` must fit: the client's, then the user's own."""
        found = [self.budget] if self.budget is not None else []
        if user is not None and user in self.user_budgets:
            found.append(self.user_budgets[user])
        return found

    def __repr__(self) -> str:
        extra = f", budget_usd={self.budget.limit_usd}" if self.budget else ""
        extra += f", ledger={self.ledger.path!r}" if self.ledger else ""
        return f"Client({[spec_of(s) for s in self._specs]}{extra})"

    # -- providers -----------------------------------------------------------------------------

    def provider(self, spec: ProviderSpec | None = None) -> Provider:
        """The provider instance for ``spec`` (cached per spec string; default: the first in the chain,
        else ``IMAGEGEN_PROVIDER``, a configured cloud key, or the embedded local model)."""
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
        chain = provider_chain(provider)
        if not chain:
            raise InvalidRequest("provider: give at least one provider", field="provider")
        return chain

    # -- generation ----------------------------------------------------------------------------

    def generate(self, prompt: Any, params: GenerateParams | Mapping[str, Any] | None = None, *,
                 provider: ProviderSpec | Sequence[ProviderSpec] | None = None, partial: Partial | None = None,
                 select: int | None = None, scorer: Scorer | None = None, user: str | None = None,
                 **kwargs: Any) -> GenerationResult:
        """Generate images; blocks until they are ready. See ``agenerate``."""
        text, request = prompt_request(prompt, params, **kwargs)  # bad input fails here, in the caller's thread
        check_select(select, scorer, request.n)
        return self._loop.run(self.agenerate(text, request, provider=provider, partial=partial, select=select,
                                             scorer=scorer, user=user))

    async def agenerate(self, prompt: Any, params: GenerateParams | Mapping[str, Any] | None = None, *,
                        provider: ProviderSpec | Sequence[ProviderSpec] | None = None,
                        partial: Partial | None = None, select: int | None = None, scorer: Scorer | None = None,
                        user: str | None = None, **kwargs: Any) -> GenerationResult:
        """Generate images for ``prompt`` (a string or an ``imagegen.Prompt``) with ``params`` (or the same
        fields as keywords).

        ``provider`` overrides the client's chain for this call. ``select=k`` with ``scorer``
        keeps the k best of the n images (``scorer(images, prompt) -> scores``, higher is better;
        each image gets ``info["score"]``, best first, ties in generation order). ``user`` names who
        the request is for: it is recorded on every ledger row, and ``user_budgets`` caps it.
        """
        text, request = prompt_request(prompt, params, **kwargs)
        mode = check_partial(partial) if partial is not None else self.partial
        check_select(select, scorer, request.n)
        who = None if user is None else _user_name(user)
        return await self._generate(text, request, provider, mode, select, scorer, who, None)

    async def _generate(self, text: str, request: GenerateParams,
                        provider: ProviderSpec | Sequence[ProviderSpec] | None, mode: Partial, select: int | None,
                        scorer: Scorer | None, who: str | None, hooks: Hooks | None) -> GenerationResult:
        chain = self._chain(provider)
        run = Run(request_id=uuid.uuid4().hex, user=who, hooks=hooks)
        failures: list[tuple[str, ImageGenError]] = []
        for position, spec in enumerate(chain):
            label = spec_of(spec)
            secrets: Iterable[str] = []
            tried = len(run.attempts)
            try:
                prov = self._resolve(spec, label)
                label = spec_of(prov)
                secrets = LazySecrets(prov)
                result = await self._calls.run(prov, text, request, run, mode, secrets)
            except ImageGenError as exc:
                run.attempts[tried:] = sorted(run.attempts[tried:], key=lambda a: (a.index, a.attempt))
                exc.provider = exc.provider or label
                scrub_error(exc, secrets or secrets_of())
                if len(run.attempts) == tried:  # nothing was sent: say why this provider was passed over
                    run.attempts.append(skipped(label, exc))
                failures.append((label, exc))
                if position == len(chain) - 1 or not self._falls_back(exc):
                    break
                note = GenerationWarning(f"fallback: {label} failed ({type(exc).__name__}: {exc.message}); "
                                         f"trying {spec_of(chain[position + 1])}", kind="fallback")
                run.warn(note)
                logger.warning("imagegen %s", note)
                continue
            run.attempts[tried:] = sorted(run.attempts[tried:], key=lambda a: (a.index, a.attempt))
            result.warnings = run.warnings + [w for w in result.warnings if w not in run.warnings]
            result.attempts = list(run.attempts)
            if scorer is not None:
                try:
                    await select_best(result, select, scorer, text)
                except ImageGenError as exc:  # the images are made and paid for: they travel with the error
                    exc.images = exc.images or list(result.images)
                    exc.attempts, exc.request_id = list(run.attempts), run.request_id
                    raise
            return result
        raise self._failure(failures, chain, run)

    # -- streaming -------------------------------------------------------------------------------

    async def astream(self, prompt: Any, params: GenerateParams | Mapping[str, Any] | None = None, *,
                      provider: ProviderSpec | Sequence[ProviderSpec] | None = None, partial_images: int = 2,
                      partial: Partial | None = None, select: int | None = None, scorer: Scorer | None = None,
                      user: str | None = None, **kwargs: Any) -> AsyncIterator[StreamEvent]:
        """``agenerate`` as a stream of typed events (see ``imagegen.streaming``): ``ProgressEvent``s (attempts,
        steps), up to ``partial_images`` (0-3) ``PartialImage`` previews per image from providers that make
        them, then the ``GenerationResult``. Retries, fallback, budget and ledger behave as in ``agenerate``;
        previews are never billed. Stopping early cancels the request."""
        text, request = prompt_request(prompt, params, **kwargs)
        mode = check_partial(partial) if partial is not None else self.partial
        check_select(select, scorer, request.n)
        previews = check_partial_images(partial_images)
        who = None if user is None else _user_name(user)

        def start(hooks: Hooks) -> Coroutine[Any, Any, GenerationResult]:
            return self._generate(text, request, provider, mode, select, scorer, who, hooks)

        async for event in iterate(start, previews):
            yield event

    def stream(self, prompt: Any, params: GenerateParams | Mapping[str, Any] | None = None, *,
               provider: ProviderSpec | Sequence[ProviderSpec] | None = None, partial_images: int = 2,
               partial: Partial | None = None, select: int | None = None, scorer: Scorer | None = None,
               user: str | None = None, **kwargs: Any) -> Iterator[StreamEvent]:
        """``astream`` for sync code: a generator of the same events (bad input raises here, before any work)."""
        text, request = prompt_request(prompt, params, **kwargs)  # bad input fails in the caller's thread
        check_select(select, scorer, request.n)
        check_partial_images(partial_images)
        events = self.astream(text, request, provider=provider, partial_images=partial_images, partial=partial,
                              select=select, scorer=scorer, user=user)
        return sync_iterate(self._loop.submit, events)

    def _falls_back(self, exc: ImageGenError) -> bool:
        return isinstance(exc, self.fallback_on) and not exc.images  # never drop paid-for images

    def _failure(self, failures: list[tuple[str, ImageGenError]], chain: Sequence[ProviderSpec],
                 run: Run) -> ImageGenError:
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

    # -- many prompts, comparisons -------------------------------------------------------------

    def generate_many(self, prompts: Iterable[Any], params: GenerateParams | Mapping[str, Any] | None = None, *,
                      provider: ProviderSpec | Sequence[ProviderSpec] | None = None, concurrency: int | None = None,
                      out_dir: str | os.PathLike[str] | None = None, skip_existing: bool = True,
                      names: Sequence[str] | None = None, partial: Partial | None = None,
                      **kwargs: Any) -> list[BatchItem]:
        """Many prompts, bounded concurrency, results in input order; see ``imagegen._batch``."""
        from ._batch import prepare

        job = prepare(self, prompts, params, provider=provider, concurrency=concurrency, out_dir=out_dir,
                      skip_existing=skip_existing, names=names, partial=partial, **kwargs)
        return self._loop.run(job.run())

    async def agenerate_many(self, prompts: Iterable[Any],
                             params: GenerateParams | Mapping[str, Any] | None = None, *,
                             provider: ProviderSpec | Sequence[ProviderSpec] | None = None,
                             concurrency: int | None = None, out_dir: str | os.PathLike[str] | None = None,
                             skip_existing: bool = True, names: Sequence[str] | None = None,
                             partial: Partial | None = None, **kwargs: Any) -> list[BatchItem]:
        """Async ``generate_many``."""
        from ._batch import prepare

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


def _user_name(user: Any) -> str:
    if not isinstance(user, str) or not user.strip() or len(user) > 200:
        raise InvalidRequest(f"user: expected a non-empty name of at most 200 characters; got {user!r}",
                             field="user")
    return user.strip()


def _user_limits(limits: Mapping[str, float] | None) -> dict[str, float]:
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        raise InvalidRequest(f"user_budgets: expected a mapping of user name to dollars; got {limits!r}",
                             field="user_budgets")
    return dict(limits)


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


_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The client behind the module-level ``generate`` and ``agenerate``, made on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Client()
    return _default


def generate(prompt: Any, params: GenerateParams | Mapping[str, Any] | None = None, *,
             provider: ProviderSpec | None = None, **kwargs: Any) -> GenerationResult:
    """Generate images with the default client: ``imagegen.generate("a fox", provider="openai:gpt-image-2")``."""
    return default_client().generate(prompt, params, provider=provider, **kwargs)


async def agenerate(prompt: Any, params: GenerateParams | Mapping[str, Any] | None = None, *,
                    provider: ProviderSpec | None = None, **kwargs: Any) -> GenerationResult:
    """Async ``generate``."""
    return await default_client().agenerate(prompt, params, provider=provider, **kwargs)


def stream(prompt: Any, params: GenerateParams | Mapping[str, Any] | None = None, *,
           provider: ProviderSpec | Sequence[ProviderSpec] | None = None, partial_images: int = 2,
           **kwargs: Any) -> Iterator[StreamEvent]:
    """Stream with the default client: progress, partial images, then the result (``Client.stream``)."""
    return default_client().stream(prompt, params, provider=provider, partial_images=partial_images, **kwargs)


async def astream(prompt: Any, params: GenerateParams | Mapping[str, Any] | None = None, *,
                  provider: ProviderSpec | Sequence[ProviderSpec] | None = None, partial_images: int = 2,
                  **kwargs: Any) -> AsyncIterator[StreamEvent]:
    """Async ``stream`` with the default client."""
    async for event in default_client().astream(prompt, params, provider=provider, partial_images=partial_images,
                                                **kwargs):
        yield event
