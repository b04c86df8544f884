"""Batches on a Ray cluster: ``imagegen.batch.run(..., ray=True)`` and ``imagegen batch --ray``.

- **Local models** (a provider whose class says ``local = True``, such as diffusers) run in a pool of
  Ray actors, each holding one warm pipeline: ``gpus_per_worker`` GPUs each (default 1 where the cluster
  has GPUs, else CPU actors of ``cpus_per_worker`` CPUs), ``workers`` of them (default one per GPU, or one).
  Each worker is fed as it finishes (at most ``DEPTH`` items queued on it), so a slow one does not hold the
  others back. An item whose chain names a local model anywhere goes to this pool.
- **Cloud providers** run as Ray tasks, at most ``concurrency`` at a time.
- **One coordinator** actor, on the driver's machine, holds the budget, the ledger file and each
  provider's concurrency slots and rpm pacing: every worker reserves, settles, records and waits through
  it, so N workers together never spend more than ``budget_usd`` nor pass a provider's limits.
- **Files are written by the driver** (the process that called ``run``), atomically, by the same names as
  in-process; a rerun skips every item whose files are there. A worker that dies (``ray.kill``, a lost
  node) has its items given to the others, and a replacement is started; an item whose worker is lost
  ``MAX_TRIES`` times fails with ``TransientError``. Nothing is made twice in one run: an item is handed
  out again only when the worker making it is gone.

Every node needs imagegen and the providers the batch uses installed (and, for cloud providers, their
keys in the workers' environment, e.g. through Ray's ``runtime_env``). Provider instances (rather than
spec strings) must pickle to reach the workers.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ._assemble import Partial
from ._batch import ItemDone, combine_parts, done, from_disk, generate_missing, item_paths, on_disk, save
from ._limits import Gate, Limits, Pacer, Setting, limit_of
from ._loop import SHARED_LOOP
from ._run import Calls, Recorder
from .budget import Budget, Hold, UnknownCostPolicy
from .client import Client
from .errors import BudgetExceeded, ImageGenError, InvalidRequest, ProviderUnavailable, TransientError
from .ledger import Ledger, LedgerEntry
from .params import GenerateParams
from .provider import Provider
from .registry import ProviderSpec, is_local
from .result import Cost, GenerationResult
from .retry import RetryPolicy

__all__ = ["DEPTH", "MAX_TRIES", "Coordinator", "Plan", "Pool", "Settings", "Task", "Worker", "connect"]

logger = logging.getLogger("imagegen")

#: Items queued on one local worker at a time (one making, one waiting, so it never idles between items).
DEPTH = 2
#: How many times an item may lose its worker before it fails.
MAX_TRIES = 3

Outcome = ItemDone | ImageGenError
Made = list[GenerationResult] | ImageGenError


@dataclasses.dataclass
class Plan:
    """The checked batch: per item its prompt text, file stem, params and provider chain."""

    prompts: list[str]
    names: list[str]
    params: list[GenerateParams]
    chains: list[list[ProviderSpec]]
    out_dir: str
    skip_existing: bool = True


@dataclasses.dataclass
class Settings:
    """What holds for the whole batch, on every worker (already checked by a ``Client``)."""

    budget_usd: float | None = None
    ledger: str | None = None
    unknown_cost: UnknownCostPolicy = "refuse"
    max_concurrency: Setting = None
    rpm: Setting = None
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    timeout: float | None = None
    partial: Partial = "return"
    concurrency: int = 4


@dataclasses.dataclass
class Task:
    """One item as a worker gets it: ``chain`` indexes the chains the worker was given; ``missing`` lists
    the images to make (None: all of them)."""

    index: int
    prompt: str
    params: GenerateParams
    chain: int
    missing: list[int] | None


def connect(address: bool | str) -> None:
    """Join Ray unless this process already has: ``True`` means ``RAY_ADDRESS`` or, without it, a new local
    instance; a string is an address (``"auto"``, ``"ray://head:10001"``)."""
    if ray.is_initialized():
        return
    ray.init(address=None if address is True else str(address))


# -- the coordinator: one budget, one ledger, one set of limits ----------------------------------------

class Coordinator:
    """The single authority of a Ray batch (run as an async Ray actor; a plain object in unit tests).

    Slots are counted per holder (a worker or a task), so the slots of a worker that died can be given
    back (``forget``); one granted to a holder already forgotten goes straight back."""

    def __init__(self, settings: Settings) -> None:
        self._ledger = Ledger(settings.ledger) if settings.ledger is not None else None
        self._budget = (Budget(settings.budget_usd, ledger=self._ledger, unknown_cost=settings.unknown_cost)
                        if settings.budget_usd is not None else None)
        self._limits = Limits(settings.max_concurrency, settings.rpm, settings.retry)
        self._held: dict[str, collections.Counter[str]] = {}
        self._gone: set[str] = set()

    async def reserve(self, estimate: Cost | None, request_id: str, provider: str, model: str,
                      user: str | None = None, charge: bool = True) -> Hold | BudgetExceeded:
        assert self._budget is not None
        try:
            return self._budget.reserve(estimate, request_id=request_id, provider=provider, model=model, user=user,
                                        charge=charge)
        except BudgetExceeded as exc:  # returned, not raised: it reaches the worker as itself
            return exc

    async def settle(self, hold: Hold, entry: LedgerEntry, record: bool = True) -> None:
        assert self._budget is not None
        self._budget.settle(hold, entry, record=record)

    async def release_hold(self, hold: Hold) -> None:
        assert self._budget is not None
        self._budget.release(hold)

    async def record(self, entry: LedgerEntry) -> None:
        if self._ledger is not None:
            self._ledger.record(entry)

    async def spent(self) -> float:
        return self._budget.spent if self._budget is not None else 0.0

    async def acquire(self, label: str, holder: str) -> None:
        slots, _ = self._limits.at(label)
        if slots is None:
            return
        await slots.__aenter__()
        if holder in self._gone:
            await slots.__aexit__()
            return
        self._held.setdefault(holder, collections.Counter())[label] += 1

    async def release(self, label: str, holder: str) -> None:
        held = self._held.get(holder)
        slots, _ = self._limits.at(label)
        if held is None or held[label] <= 0 or slots is None:
            return
        held[label] -= 1
        await slots.__aexit__()

    async def pace(self, label: str) -> float:
        """Seconds the caller waits before its call to ``label`` starts (taking its turn)."""
        _, pace = self._limits.at(label)
        return pace.delay() if pace is not None else 0.0

    async def forget(self, holder: str) -> None:
        """``holder`` is gone: give back every slot it held."""
        self._gone.add(holder)
        for label, count in self._held.pop(holder, collections.Counter()).items():
            slots, _ = self._limits.at(label)
            for _ in range(count if slots is not None else 0):
                await slots.__aexit__()  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()


# -- a worker's view of the coordinator ----------------------------------------------------------------

class _RemoteBudget(Budget):
    """The budget as a worker sees it: every reservation and settlement is the coordinator's."""

    def __init__(self, coordinator: Any, limit_usd: float, unknown_cost: UnknownCostPolicy) -> None:
        super().__init__(limit_usd, unknown_cost=unknown_cost)
        self._coordinator = coordinator

    @property
    def spent(self) -> float:
        return float(ray.get(self._coordinator.spent.remote()))

    def reserve(self, estimate: Cost | None, *, request_id: str, provider: str, model: str,
                user: str | None = None, charge: bool = True) -> Hold:
        answer = ray.get(self._coordinator.reserve.remote(estimate, request_id, provider, model, user, charge))
        if isinstance(answer, BudgetExceeded):
            raise answer
        assert isinstance(answer, Hold)
        return answer

    def settle(self, hold: Hold, entry: LedgerEntry, *, record: bool = True) -> None:
        ray.get(self._coordinator.settle.remote(hold, entry, record))

    def release(self, hold: Hold) -> None:
        ray.get(self._coordinator.release_hold.remote(hold))


class _RemoteLedger:
    def __init__(self, coordinator: Any) -> None:
        self._coordinator = coordinator

    def record(self, entry: LedgerEntry) -> None:
        ray.get(self._coordinator.record.remote(entry))


class _RemoteGate:
    def __init__(self, coordinator: Any, label: str, holder: str) -> None:
        self._coordinator, self._label, self._holder = coordinator, label, holder

    async def __aenter__(self) -> None:
        await self._coordinator.acquire.remote(self._label, self._holder)

    async def __aexit__(self, *exc: object) -> None:
        await self._coordinator.release.remote(self._label, self._holder)


class _RemotePacer:
    def __init__(self, coordinator: Any, label: str) -> None:
        self._coordinator, self._label = coordinator, label

    async def wait(self) -> None:
        delay = float(await self._coordinator.pace.remote(self._label))
        if delay > 0:
            await asyncio.sleep(delay)


class _RemoteLimits(Limits):
    """Limits whose slots and pacing live in the coordinator, for the providers that have them."""

    def __init__(self, coordinator: Any, settings: Settings, holder: str) -> None:
        super().__init__(settings.max_concurrency, settings.rpm, settings.retry)
        self._coordinator, self._holder = coordinator, holder

    def of(self, provider: Provider) -> tuple[Gate | None, Pacer | None]:
        label = f"{provider.name}:{provider.model}"
        gate = _RemoteGate(self._coordinator, label, self._holder) if limit_of(self._max_concurrency, label) else None
        pacer = _RemotePacer(self._coordinator, label) if limit_of(self._rpm, label) else None
        return gate, pacer


@dataclasses.dataclass
class _WorkerSettings:
    retry: RetryPolicy
    timeout: float | None
    budget: Budget | None
    ledger: Recorder | None

    def budgets_for(self, user: str | None) -> list[Budget]:
        return [self.budget] if self.budget is not None else []


class Worker:
    """Makes items on one Ray worker: a ``Client`` whose budget, ledger and limits are the coordinator's.
    As an actor (named by its ``holder``) it keeps its providers, and so a local model's pipeline, warm from
    item to item."""

    def __init__(self, coordinator: Any, settings: Settings, chains: Sequence[Sequence[ProviderSpec]],
                 holder: str) -> None:
        self.holder = holder
        self._chains = [list(c) for c in chains]
        self._client = Client(retry=settings.retry, timeout=settings.timeout, partial=settings.partial)
        budget = (_RemoteBudget(coordinator, settings.budget_usd, settings.unknown_cost)
                  if settings.budget_usd is not None else None)
        recorder = _RemoteLedger(coordinator) if settings.ledger is not None else None
        self._client._calls = Calls(_WorkerSettings(settings.retry, settings.timeout, budget, recorder),
                                    _RemoteLimits(coordinator, settings, holder))

    def ready(self) -> str:
        return self.holder

    def make(self, task: Task) -> Made:
        made: Made = SHARED_LOOP.run(self._make(task))
        return made

    async def _make(self, task: Task) -> Made:
        chain = self._chains[task.chain]

        async def generate(text: str, request: GenerateParams) -> GenerationResult:
            return await self._client.agenerate(text, request, provider=chain)

        try:
            if task.missing is None:
                return [await generate(task.prompt, task.params)]
            return await generate_missing(generate, task.prompt, task.params, task.missing)
        except ImageGenError as exc:
            return exc


def _make_once(coordinator: Any, settings: Settings, chains: Sequence[Sequence[ProviderSpec]], holder: str,
               task: Task) -> Made:
    """A cloud item as one Ray task."""
    return Worker(coordinator, settings, chains, holder).make(task)


# -- the driver ---------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Item:
    paths: list[str]
    on_disk: list[int]
    missing: list[int] | None
    chain: int
    local: bool
    tries: int = 0


class Pool:
    """Runs a ``Plan`` on Ray (see the module's docstring)."""

    def __init__(self, plan: Plan, settings: Settings, *, address: bool | str = True, workers: int | None = None,
                 gpus_per_worker: float | None = None, cpus_per_worker: float = 1.0) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise InvalidRequest(f"workers: must be a whole number >= 1; got {workers!r}", field="workers")
        for name, value, low in (("gpus_per_worker", gpus_per_worker, 0.0), ("cpus_per_worker", cpus_per_worker, 0.0)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (
                    name == "cpus_per_worker" and value <= 0):
                bound = "> 0" if name == "cpus_per_worker" else ">= 0"
                raise InvalidRequest(f"{name}: must be a number {bound}; got {value!r}", field=name)
        if not isinstance(address, (bool, str)) or address is False or (isinstance(address, str) and not address):
            raise InvalidRequest(f"ray: expected True or an address such as 'auto' or 'ray://host:10001'; got "
                                 f"{address!r}", field="ray")
        self.plan = plan
        self.settings = settings
        self.address = address
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = float(cpus_per_worker)
        self._chains: list[list[ProviderSpec]] = []
        self._results: list[Outcome | None] = []
        self._items: list[_Item] = []

    # -- planning ------------------------------------------------------------------------------------

    def _plan_items(self) -> None:
        """Each item's files, what of them is on disk, its chain (deduplicated) and its lane."""
        index_of: dict[int, int] = {}
        for i, chain in enumerate(self.plan.chains):
            key = next((j for j, c in enumerate(self._chains) if c == chain), None)
            if key is None:
                key = len(self._chains)
                self._chains.append(list(chain))
            index_of[i] = key
        local = [any(is_local(s) for s in c) for c in self._chains]
        for i, params in enumerate(self.plan.params):
            paths = item_paths(self.plan.out_dir, self.plan.names[i], params.n)
            there = on_disk(paths, self.plan.skip_existing)
            missing = None if not there else [k for k in range(params.n) if k not in there]
            self._items.append(_Item(paths, there, missing, index_of[i], local[index_of[i]]))

    def _check_chains(self) -> None:
        """Provider instances must pickle to reach the workers: find out before anything runs."""
        for chain in self._chains:
            for spec in chain:
                if isinstance(spec, str):
                    continue
                try:
                    ray.cloudpickle.dumps(spec)  # type: ignore[no-untyped-call]
                except Exception as exc:
                    raise InvalidRequest(
                        f"provider: {spec.name}:{spec.model} cannot be sent to Ray workers ({type(exc).__name__}: "
                        f"{exc}); pass its spec string instead", field="provider") from None

    def _resources(self) -> tuple[int, float, float]:
        """(workers, gpus per worker, cpus per worker) for the local pool, checked against the cluster."""
        total = ray.cluster_resources()  # type: ignore[no-untyped-call]
        gpus, cpus = float(total.get("GPU", 0.0)), float(total.get("CPU", 0.0))
        per_gpu = self.gpus_per_worker if self.gpus_per_worker is not None else (1.0 if gpus >= 1 else 0.0)
        if per_gpu > 0 and gpus < per_gpu:
            raise InvalidRequest(f"gpus_per_worker: {per_gpu:g} GPUs per worker, but the cluster has {gpus:g}; "
                                 "use 0 for CPU workers", field="gpus_per_worker")
        if self.cpus_per_worker > cpus:
            raise InvalidRequest(f"cpus_per_worker: {self.cpus_per_worker:g} CPUs per worker, but the cluster has "
                                 f"{cpus:g}", field="cpus_per_worker")
        count = self.workers if self.workers is not None else (max(1, int(gpus // per_gpu)) if per_gpu else 1)
        return count, per_gpu, self.cpus_per_worker

    # -- running -------------------------------------------------------------------------------------

    def run(self, on_done: Callable[[int, Outcome], None] | None = None) -> list[Outcome]:
        self._plan_items()
        self._check_chains()
        self._results = [None] * len(self._items)
        self._on_done = on_done
        todo_local: collections.deque[int] = collections.deque()
        todo_cloud: collections.deque[int] = collections.deque()
        for i, item in enumerate(self._items):
            if item.missing is not None and not item.missing:  # every file is there
                self._finish(i, done(i, self.plan.names[i], item.paths, from_disk(self.plan.prompts[i], item.paths)))
            else:
                (todo_local if item.local else todo_cloud).append(i)
        if not todo_local and not todo_cloud:
            return self._outcomes()
        connect(self.address)
        count, per_gpu, per_cpu = self._resources() if todo_local else (0, 0.0, 0.0)
        os.makedirs(self.plan.out_dir, exist_ok=True)
        here = ray.get_runtime_context().get_node_id()
        coordinator: Any = ray.remote(Coordinator).options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False)
        ).remote(self.settings)
        chains = ray.put(self._chains)
        run = _Run(self, coordinator, chains, todo_local, todo_cloud,
                   worker_options={"num_cpus": per_cpu, "num_gpus": per_gpu}, workers=count)
        try:
            run.loop()
        finally:
            run.stop()
            try:
                ray.get(coordinator.close.remote())
            finally:
                ray.kill(coordinator)
        return self._outcomes()

    def _outcomes(self) -> list[Outcome]:
        assert all(r is not None for r in self._results)
        return [r for r in self._results if r is not None]

    def _finish(self, index: int, outcome: Outcome) -> None:
        self._results[index] = outcome
        if self._on_done is not None:
            self._on_done(index, outcome)

    def deliver(self, index: int, made: Made, worker: str | None) -> None:
        """Save what a worker made for item ``index`` and record its outcome."""
        item = self._items[index]
        targets = item.paths if item.missing is None else [item.paths[k] for k in item.missing]
        if isinstance(made, ImageGenError):
            if made.images:  # paid for: keep them even though the item failed
                save(made.images, targets)
            self._finish(index, made)
            return
        save([im for part in made for im in part.images], targets)
        prompt = self.plan.prompts[index]
        result = made[0] if item.missing is None else combine_parts(prompt, made, item.paths, item.on_disk,
                                                                    item.missing)
        self._finish(index, done(index, self.plan.names[index], item.paths, result, worker=worker))

    def task(self, index: int) -> Task:
        item = self._items[index]
        return Task(index=index, prompt=self.plan.prompts[index], params=self.plan.params[index], chain=item.chain,
                    missing=item.missing)

    def lost(self, index: int, why: str) -> bool:
        """The worker making item ``index`` is gone: True if the item may go to another, else it fails."""
        item = self._items[index]
        item.tries += 1
        if item.tries < MAX_TRIES:
            return True
        self._finish(index, TransientError(f"the Ray worker making this item was lost {item.tries} times "
                                           f"(last: {why})"))
        return False


class _Run:
    """One run of a ``Pool``: the local workers, the cloud tasks in flight, and the loop that feeds them."""

    def __init__(self, pool: Pool, coordinator: Any, chains: Any, todo_local: collections.deque[int],
                 todo_cloud: collections.deque[int], *, worker_options: dict[str, float], workers: int) -> None:
        self.pool, self.coordinator, self.chains = pool, coordinator, chains
        self.todo_local, self.todo_cloud = todo_local, todo_cloud
        self.options = worker_options
        self.actor_class: Any = ray.remote(Worker)
        self.task_fn: Any = ray.remote(num_cpus=0, max_retries=0)(_make_once)
        self.handles: dict[str, Any] = {}
        self.dead: set[str] = set()
        self.ready: dict[str, Any] = {}
        self.starting: dict[Any, str] = {}
        self.busy: collections.Counter[str] = collections.Counter()
        self.inflight: dict[Any, tuple[int, str]] = {}
        self.cloud_inflight = 0
        self.restarts = workers  # replacements allowed for workers that die
        self.last_failure = "no worker started"
        self.serial = 0
        for _ in range(min(workers, len(todo_local))):
            self._start_worker()

    def _start_worker(self) -> None:
        self.serial += 1
        holder = f"worker-{self.serial}-{uuid.uuid4().hex[:6]}"
        handle: Any = self.actor_class.options(name=holder, **self.options).remote(
            self.coordinator, self.pool.settings, self.chains, holder)
        self.handles[holder] = handle
        self.starting[handle.ready.remote()] = holder

    def _feed(self) -> None:
        for holder, handle in list(self.ready.items()):
            while self.busy[holder] < DEPTH and self.todo_local:
                index = self.todo_local.popleft()
                self.inflight[handle.make.remote(self.pool.task(index))] = (index, holder)
                self.busy[holder] += 1
        while self.cloud_inflight < self.pool.settings.concurrency and self.todo_cloud:
            index = self.todo_cloud.popleft()
            holder = f"task-{uuid.uuid4().hex[:10]}"
            ref = self.task_fn.remote(self.coordinator, self.pool.settings, self.chains, holder, self.pool.task(index))
            self.inflight[ref] = (index, holder)
            self.cloud_inflight += 1

    def loop(self) -> None:
        while True:
            self._feed()
            if self.todo_local and not self.ready and not self.starting:
                while self.todo_local:  # no worker is left or can start
                    index = self.todo_local.popleft()
                    self.pool._finish(index, ProviderUnavailable(f"no Ray worker could run this item: "
                                                                 f"{self.last_failure}"))
            waiting = list(self.inflight) + list(self.starting)
            if not self.inflight and not self.todo_local and not self.todo_cloud:
                return
            if not waiting:
                return
            finished, _ = ray.wait(waiting, num_returns=1)
            for ref in finished:
                if ref in self.starting:
                    self._started(ref)
                else:
                    self._returned(ref)

    def _started(self, ref: Any) -> None:
        holder = self.starting.pop(ref)
        try:
            ray.get(ref)
        except ray.exceptions.RayError as exc:
            self.last_failure = f"{type(exc).__name__}: {_first_line(exc)}"
            logger.warning("imagegen batch: Ray worker %s failed to start: %s", holder, self.last_failure)
            self._gone(holder)
            return
        self.ready[holder] = self.handles[holder]

    def _returned(self, ref: Any) -> None:
        index, holder = self.inflight.pop(ref)
        local = holder in self.handles
        if local:
            self.busy[holder] -= 1
        else:
            self.cloud_inflight -= 1
        try:
            made = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the worker's code raised outside imagegen's errors
            made = ImageGenError(f"the Ray worker failed: {_first_line(exc)}")
        except ray.exceptions.RayError as exc:  # the worker (process, actor or node) is gone
            why = f"{type(exc).__name__}: {_first_line(exc)}"
            logger.warning("imagegen batch: item %d lost its Ray worker %s (%s)", index, holder, why)
            if local:
                self.last_failure = why
                self._gone(holder)
            else:
                self.coordinator.forget.remote(holder)
            if self.pool.lost(index, why):
                (self.todo_local if local else self.todo_cloud).appendleft(index)
            return
        self.pool.deliver(index, made, holder if local else None)

    def _gone(self, holder: str) -> None:
        """A local worker died or never started: forget it, and start a replacement while work is left."""
        if holder in self.dead:
            return
        self.dead.add(holder)
        self.ready.pop(holder, None)
        handle = self.handles.get(holder)
        if handle is not None:
            ray.kill(handle, no_restart=True)
        self.coordinator.forget.remote(holder)
        if self.restarts > 0 and self.todo_local:
            self.restarts -= 1
            self._start_worker()

    def stop(self) -> None:
        for handle in self.handles.values():
            ray.kill(handle, no_restart=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
