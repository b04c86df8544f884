"""Batches of many items into one output folder: in this process, or on a Ray cluster.

    from imagegen.batch import Item, run
    done = run([Item(prompt="a red fox", params={"seed": 1}), "a lighthouse"], out_dir="out",
               provider="diffusers:imagegen-mini", budget_usd=5.0, ledger="out/ledger.sqlite")
    done = run(items, out_dir="out", ray=True, workers=4)      # the same on Ray (RAY_ADDRESS, or a local one)

An item is a prompt with its own ``GenerateParams`` and, optionally, its own provider chain and file name.
Every item is checked before anything runs: a bad one raises ``BadItems`` naming each bad item and field.
Each finished image is written atomically as ``{name}-{k}.png`` in ``out_dir`` (``name``: the item's, or
``{index:04d}-{hash of prompt and params}``), so a rerun of the same batch skips every item whose files
are there and makes only what is missing. The result is one entry per item, in input order: an
``ItemDone`` (its files and what this run did) or the ``ImageGenError`` that ended it.

Without ``ray`` the batch runs on one ``Client`` here (``Client.generate_many``'s engine); with it, see
``imagegen.cluster``: local models in a pool of warm Ray actors, cloud providers as Ray tasks, and one
coordinator holding the budget, the ledger and the per-provider limits for all of them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ._assemble import Partial
from ._batch import DEFAULT_CONCURRENCY, BatchItem, ItemDone, Job, check_name, done, item_name
from ._limits import PerProvider
from ._loop import SHARED_LOOP
from .budget import UnknownCostPolicy
from .client import Client
from .errors import ImageGenError, InvalidRequest, ProviderUnavailable
from .ledger import Ledger
from .params import GenerateParams, build_params
from .prompt import prompt_request
from .registry import ProviderSpec, default_provider_spec, is_local, parse_spec
from .retry import RetryPolicy

__all__ = ["BadItems", "BatchItem", "Item", "ItemDone", "ItemFile", "OnDone", "Outcome", "item_name", "items_of", "run"]

#: What ``run`` returns for one item.
Outcome = ItemDone | ImageGenError
#: Called with (index, outcome) as each item finishes, in the order they finish.
OnDone = Callable[[int, Outcome], None]

ITEM_FIELDS = ("prompt", "provider", "name")
PARAM_FIELDS = tuple(GenerateParams.model_fields)
#: How many bad items a ``BadItems`` message lists before it says how many more there are.
SHOWN_PROBLEMS = 10


class Item(BaseModel):
    """One item of a batch: ``prompt``, its ``params``, optionally its own ``provider`` (a spec, or a
    fallback chain of specs; empty: the batch's) and its file ``name`` (default: index and a hash)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    prompt: str
    params: GenerateParams = Field(default_factory=GenerateParams)
    provider: tuple[str, ...] = ()
    name: str | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _invalid(exc) from None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt: must not be empty")
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, value: Any) -> GenerateParams:
        return build_params(value)

    @field_validator("provider", mode="before")
    @classmethod
    def _provider(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        specs = [value] if isinstance(value, str) else value
        if not isinstance(specs, (list, tuple)) or not all(isinstance(s, str) for s in specs):
            raise ValueError(f"provider: expected 'name:model' or a list of them; got {value!r}")
        for spec in specs:
            parse_spec(spec)
        return tuple(s.strip() for s in specs)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value, "name")

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> Item:
        """An item from one flat record (a JSONL object, a CSV row): ``prompt``, ``provider``, ``name`` and
        any ``GenerateParams`` field."""
        unknown = [k for k in fields if k not in ITEM_FIELDS and k not in PARAM_FIELDS]
        if unknown:
            raise InvalidRequest(f"{unknown[0]}: unknown field; an item takes {', '.join(ITEM_FIELDS)} and any of "
                                 f"{', '.join(PARAM_FIELDS)}", field=str(unknown[0]))
        if "prompt" not in fields:
            raise InvalidRequest("prompt: missing; every item needs a prompt", field="prompt")
        params = {k: v for k, v in fields.items() if k not in ITEM_FIELDS}
        return cls(prompt=fields["prompt"], params=params, provider=fields.get("provider"), name=fields.get("name"))


class BadItems(InvalidRequest):
    """Items that cannot run, all found before any ran: ``problems`` holds (where, error) for each, where
    is ``"line 3"`` for a file or ``"item 3"`` (from 1) for a list."""

    def __init__(self, problems: Sequence[tuple[str, InvalidRequest]], *, source: str | None = None) -> None:
        self.problems = list(problems)
        shown = "; ".join(f"{where}: {error.message}" for where, error in self.problems[:SHOWN_PROBLEMS])
        more = len(self.problems) - SHOWN_PROBLEMS
        if more > 0:
            shown += f"; and {more} more"
        count = len(self.problems)
        head = f"{source}: " if source else ""
        super().__init__(f"{head}{count} bad item{'s' if count != 1 else ''}: {shown}", field="items")
        self.source = source


@dataclasses.dataclass
class ItemFile:
    """The items of one batch file (``imagegen.batchfile.read_items``) and the line each came from
    (``"line 3"``), so that errors found later name lines too."""

    path: str
    items: list[Item]
    where: list[str]


def items_of(items: Iterable[Item | Mapping[str, Any] | str], *, source: str | None = None,
             where: Sequence[str] | None = None) -> list[Item]:
    """Every entry as an ``Item`` (a prompt string, a flat mapping as in ``Item.of``, or an ``Item``),
    or ``BadItems`` naming each bad one; ``where[i]`` says where entry i came from (default ``item i+1``)."""
    if isinstance(items, (str, Mapping)):
        raise InvalidRequest("items: expected a list of items; got a single one (wrap it in a list)", field="items")
    out: list[Item] = []
    problems: list[tuple[str, InvalidRequest]] = []
    for i, entry in enumerate(items):
        label = where[i] if where is not None else f"item {i + 1}"
        try:
            if isinstance(entry, Item):
                out.append(entry)
            elif isinstance(entry, str):
                out.append(Item(prompt=entry))
            elif isinstance(entry, Mapping):
                out.append(Item.of(entry))
            else:
                raise InvalidRequest(f"expected a prompt, a mapping or an Item; got {type(entry).__name__}",
                                     field="items")
        except InvalidRequest as exc:
            problems.append((label, exc))
    names: dict[str, str] = {}
    for i, item in enumerate(out):
        if item.name is None:
            continue
        label = where[i] if where is not None else f"item {i + 1}"
        if item.name in names:
            problems.append((label, InvalidRequest(f"name: {item.name!r} is already the name of {names[item.name]}",
                                                   field="name")))
        names.setdefault(item.name, label)
    if problems:
        raise BadItems(problems, source=source)
    return out


def run(items: ItemFile | Iterable[Item | Mapping[str, Any] | str], *, out_dir: str | os.PathLike[str],
        provider: ProviderSpec | Sequence[ProviderSpec] | None = None, budget_usd: float | None = None,
        ledger: str | os.PathLike[str] | None = None, max_concurrency: PerProvider = None, rpm: PerProvider = None,
        concurrency: int | None = None, retry: RetryPolicy | int | bool | None = None, timeout: float | None = None,
        unknown_cost: UnknownCostPolicy = "refuse", partial: Partial = "return", skip_existing: bool = True,
        on_done: OnDone | None = None, ray: bool | str = False, workers: int | None = None,
        gpus_per_worker: float | None = None, cpus_per_worker: float = 1.0,
        source: str | None = None, where: Sequence[str] | None = None) -> list[Outcome]:
    """Make every item's images into ``out_dir``; one ``ItemDone`` or error per item, in input order.

    ``provider``: the chain for items that name none (default: as ``imagegen.generate``'s). ``budget_usd``,
    ``ledger``, ``max_concurrency``, ``rpm``, ``retry``, ``timeout``, ``unknown_cost`` and ``partial`` mean what
    they mean for a ``Client``, and hold for the whole batch, on one machine or many. ``concurrency``: items in
    flight at once (in-process, and cloud items on Ray; default 4, or the ``max_concurrency`` number).
    ``on_done(index, outcome)`` is called as each item finishes. ``ray``: False (in this process), True (Ray
    at ``RAY_ADDRESS``, or a local instance) or an address (``"auto"``, ``"ray://host:10001"``); ``workers``,
    ``gpus_per_worker`` and ``cpus_per_worker`` size the pool of local-model workers (see
    ``imagegen.cluster``). ``source``/``where`` name the items in errors (an ``ItemFile`` brings its own).
    """
    if isinstance(items, ItemFile):
        source, where = items.path, items.where
        items = items.items
    planned = items_of(items, source=source, where=where)
    labels = list(where) if where is not None else [f"item {i + 1}" for i in range(len(planned))]
    default = _chain(provider) if provider is not None else None
    texts: list[str] = []
    requests: list[GenerateParams] = []
    chains: list[list[ProviderSpec]] = []
    problems: list[tuple[str, InvalidRequest]] = []
    for i, item in enumerate(planned):
        text, request = prompt_request(item.prompt, item.params)
        texts.append(text)
        requests.append(request)
        chain: list[ProviderSpec] = list(item.provider) or default or [default_provider_spec()]
        try:
            for spec in chain:
                is_local(spec)  # installed? (found without building it)
        except ImageGenError as exc:
            problems.append((labels[i], InvalidRequest(f"provider: {exc.message}", field="provider")))
        chains.append(chain)
    if problems:
        raise BadItems(problems, source=source)
    names = [item.name or item_name(i, texts[i], requests[i]) for i, item in enumerate(planned)]
    out = os.fspath(out_dir)
    if isinstance(ledger, Ledger):
        ledger = ledger.path
    client = Client(retry=retry, timeout=timeout, max_concurrency=max_concurrency, rpm=rpm, budget_usd=budget_usd,
                    unknown_cost=unknown_cost, partial=partial,
                    ledger=None if ray is not False else ledger)  # checks every setting before anything runs
    if concurrency is None:
        concurrency = client.max_concurrency if isinstance(client.max_concurrency, int) else DEFAULT_CONCURRENCY
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        client.close()
        raise InvalidRequest(f"concurrency: must be a whole number >= 1; got {concurrency!r}", field="concurrency")
    if ray is not False:
        client.close()
        if ledger is not None:
            Ledger(ledger).close()  # a bad ledger path fails here, naming it, not inside the coordinator
        try:
            from .cluster import Plan, Pool, Settings
        except ImportError as exc:
            raise ProviderUnavailable(f'ray: Ray is not installed ({exc}); pip install "imagegen-sdk[ray]"') from exc

        plan = Plan(prompts=texts, names=names, params=requests, chains=chains, out_dir=out,
                    skip_existing=skip_existing)
        settings = Settings(budget_usd=budget_usd, ledger=None if ledger is None else os.path.abspath(ledger),
                            unknown_cost=unknown_cost, max_concurrency=client.max_concurrency, rpm=client.rpm,
                            retry=client.retry, timeout=client.timeout, partial=client.partial,
                            concurrency=concurrency)
        pool = Pool(plan, settings, address=ray, workers=workers, gpus_per_worker=gpus_per_worker,
                    cpus_per_worker=cpus_per_worker)
        return pool.run(on_done)
    job = Job(client=client, prompts=texts, names=names, params=requests, chains=list(chains),
              concurrency=concurrency, out_dir=out, skip_existing=skip_existing, partial=None, select=None, scorer=None)

    def finish(i: int, outcome: BatchItem) -> Outcome:
        result = outcome if isinstance(outcome, ImageGenError) else done(i, names[i], job.paths(i), outcome)
        if on_done is not None:
            on_done(i, result)
        return result

    try:
        outcomes: list[Outcome] = SHARED_LOOP.run(job.map(finish))
        return outcomes
    finally:
        client.close()


def _chain(provider: ProviderSpec | Sequence[ProviderSpec]) -> list[ProviderSpec]:
    chain = [provider] if isinstance(provider, str) or not isinstance(provider, Sequence) else list(provider)
    if not chain:
        raise InvalidRequest("provider: give at least one provider", field="provider")
    for spec in chain:
        if isinstance(spec, str):
            parse_spec(spec)
        is_local(spec)
    return chain


def _invalid(exc: ValidationError) -> InvalidRequest:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else None
    inner = (error.get("ctx") or {}).get("error")
    if isinstance(inner, InvalidRequest):
        return inner
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"{field}: unknown field; an Item has prompt, params, provider and name"
    elif field and not message.startswith(f"{field}:"):
        message = f"{field}: {message}"
    return InvalidRequest(message, field=field)
