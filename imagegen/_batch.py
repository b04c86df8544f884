"""Batches inside one ``Client``: many prompts, bounded concurrency, results in input order.

This is what ``Client.generate_many`` and the in-process ``imagegen.batch.run`` share; a Ray batch
(``imagegen.cluster``) keeps the same names, files and skip rule, and the same way of making only an
item's missing images (``generate_missing``).

One item failing does not lose the batch: its error takes its place in the returned list. With
``out_dir`` every image is saved as soon as its item finishes, atomically (temp file + rename),
as ``{name}-{k}.png``; ``name`` is ``names[i]`` or ``{i:04d}-{hash of prompt and params}``. An
interrupted run therefore leaves only complete images, and a rerun with ``skip_existing=True``
(the default) loads the images already on disk instead of paying for them again, generating
only what is missing. With ``select=k`` an item's files are its k kept images, made again only
all together (they are the best of one run of n).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from ._assemble import Partial, check_partial
from .errors import ImageGenError, InvalidRequest
from .imageio import ImageData
from .params import GenerateParams, build_params
from .prompt import prompt_request
from .result import Cost, GeneratedImage, GenerationResult, GenerationWarning
from .scoring import Scorer, check_select
from .settings import ImageSettings

if TYPE_CHECKING:
    from .client import Client
    from .registry import ProviderSpec

__all__ = ["BatchItem", "ItemDone", "Job", "check_name", "combine_parts", "done", "from_disk", "generate_missing",
           "item_name", "item_paths", "on_disk", "prepare", "save"]

#: One entry of ``generate_many``'s list: the item's result, or the error that ended it.
BatchItem = GenerationResult | ImageGenError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
DEFAULT_CONCURRENCY = 4
T = TypeVar("T")
Generate = Callable[[str, GenerateParams], Awaitable[GenerationResult]]


def item_name(index: int, prompt: str, params: GenerateParams) -> str:
    """The default file stem of batch item ``index``: stable across reruns of the same batch."""
    fields = params.model_dump(mode="json", exclude={"n"})
    digest = hashlib.sha256(json.dumps([prompt, fields], sort_keys=True, default=str).encode()).hexdigest()
    return f"{index:04d}-{digest[:10]}"


def item_paths(out_dir: str, name: str, count: int) -> list[str]:
    """The files of one item: ``{name}-{k}.png`` for each of its ``count`` images."""
    return [os.path.join(out_dir, f"{name}-{k}.png") for k in range(count)]


def check_name(name: str, field: str = "names") -> str:
    """``name`` if it is a safe file stem (letters, digits, '.', '_', '-'; no path), else ``InvalidRequest``."""
    if not _SAFE_NAME.match(name):
        raise InvalidRequest(f"{field}: {name!r} is not a safe file name (letters, digits, '.', '_', '-')",
                             field=field)
    return name


def on_disk(paths: Sequence[str], skip_existing: bool) -> list[int]:
    """Which of an item's files are already there (none when ``skip_existing`` is off)."""
    return [k for k, p in enumerate(paths) if skip_existing and os.path.exists(p)]


async def generate_missing(generate: Generate, prompt: str, params: GenerateParams,
                           missing: Sequence[int]) -> list[GenerationResult]:
    """The calls that make only images ``missing`` of an item: without a seed, one call for all of them;
    with one, image k keeps its seed + k, one call each. Their images, in order, are images ``missing``;
    when a call fails, the images of the calls before it lead its error's ``images``, so none is lost."""
    base = {k: getattr(params, k) for k in params.model_fields_set}
    if params.seed is None:
        return [await generate(prompt, build_params({**base, "n": len(missing)}))]
    parts: list[GenerationResult] = []
    for k in missing:
        try:
            parts.append(await generate(prompt, build_params({**base, "n": 1, "seed": params.seed + k})))
        except ImageGenError as exc:
            exc.images = [im for part in parts for im in part.images] + list(exc.images)
            raise
    return parts


@dataclass
class ItemDone:
    """One finished item of ``imagegen.batch.run``: where its images are, and what this run did for it.

    ``made`` counts the images this run generated (0: every file was already there, nothing was sent);
    ``cost_usd`` is what this run spent on the item (None when a provider gave no price); ``worker`` is
    the name of the Ray actor that made it (None in-process and for cloud items, which run as Ray tasks)."""

    index: int
    name: str
    prompt: str
    paths: list[str]
    made: int
    provider: str
    model: str
    cost_usd: float | None
    seeds: list[int | None]
    warnings: list[GenerationWarning]
    request_id: str = ""
    worker: str | None = None

    @property
    def skipped(self) -> bool:
        """True when every image was already on disk."""
        return self.made == 0


def done(index: int, name: str, paths: list[str], result: GenerationResult, worker: str | None = None) -> ItemDone:
    """The summary of a finished item whose images are saved at ``paths``."""
    made = sum(a.n for a in result.attempts if a.status == "ok")
    return ItemDone(index=index, name=name, prompt=result.prompt, paths=list(paths), made=made,
                    provider=result.provider, model=result.model, cost_usd=result.cost.usd, seeds=result.seeds,
                    warnings=list(result.warnings), request_id=result.request_id, worker=worker)


@dataclass
class Job:
    """A planned batch on one client: each item's prompt, file stem, params and providers (``chains[i]``:
    a spec, a fallback chain, or None for the client's own)."""

    client: Client
    prompts: list[str]
    names: list[str]
    params: list[GenerateParams]
    chains: list[ProviderSpec | Sequence[ProviderSpec] | None]
    concurrency: int
    out_dir: str | None
    skip_existing: bool
    partial: Partial | None
    select: int | None
    scorer: Scorer | None

    async def run(self) -> list[BatchItem]:
        return await self.map(lambda i, item: item)

    async def map(self, finish: Callable[[int, BatchItem], T]) -> list[T]:
        """Run every item, bounded; each outcome goes through ``finish`` as soon as it is ready (so a
        caller can keep a summary instead of every image), and the list comes back in input order."""
        if self.out_dir is not None:
            os.makedirs(self.out_dir, exist_ok=True)
        gate = asyncio.Semaphore(self.concurrency)

        async def bounded(i: int) -> T:
            async with gate:
                return finish(i, await self._item(i))

        return list(await asyncio.gather(*(bounded(i) for i in range(len(self.prompts)))))

    def paths(self, i: int) -> list[str]:
        """Item ``i``'s files (none without ``out_dir``)."""
        return self._paths(i) if self.out_dir is not None else []

    def _paths(self, i: int) -> list[str]:
        assert self.out_dir is not None
        kept = self.select if self.select is not None else self.params[i].n  # best-of-n saves only the k kept
        return item_paths(self.out_dir, self.names[i], kept)

    async def _item(self, i: int) -> BatchItem:
        prompt, params = self.prompts[i], self.params[i]
        paths = self.paths(i)
        done = on_disk(paths, self.skip_existing)
        if paths and len(done) == len(paths):
            return from_disk(prompt, paths)
        if self.select is not None:  # the kept k come from one run of n: all again, or nothing
            done = []
        missing = [k for k in range(len(paths) or params.n) if k not in done]

        async def generate(text: str, request: GenerateParams) -> GenerationResult:
            return await self.client.agenerate(text, request, provider=self.chains[i], partial=self.partial,
                                               select=self.select, scorer=self.scorer)

        try:
            if not done:
                result = await generate(prompt, params)
            else:
                result = await self._fill(generate, prompt, params, paths, done, missing)
        except ImageGenError as exc:
            if paths and exc.images:  # paid for: keep them even though the item failed
                save(exc.images, [paths[k] for k in missing])
            return exc
        if paths and not done:
            save(result.images, paths)
        return result

    async def _fill(self, generate: Generate, prompt: str, params: GenerateParams, paths: list[str],
                    on_disk: list[int], missing: list[int]) -> GenerationResult:
        """Generate (and save) only the images not yet on disk. The result holds all of the item's images,
        in order."""
        parts = await generate_missing(generate, prompt, params, missing)
        save([im for part in parts for im in part.images], [paths[k] for k in missing])
        return combine_parts(prompt, parts, paths, on_disk, missing)


def combine_parts(prompt: str, parts: Sequence[GenerationResult], paths: Sequence[str], on_disk: Sequence[int],
                  missing: Sequence[int]) -> GenerationResult:
    """One result for an item of which images ``on_disk`` were there (loaded from ``paths``) and images
    ``missing`` were made by ``parts`` (``generate_missing``'s calls), images in order."""
    images = {k: _load(paths[k]) for k in on_disk}
    images.update(zip(missing, [im for part in parts for im in part.images], strict=False))
    last = parts[-1]
    return GenerationResult(
        images=[images[k] for k in sorted(images)], provider=last.provider, model=last.model, prompt=prompt,
        cost=Cost.combine([p.cost for p in parts]),
        warnings=[GenerationWarning(f"skip_existing: {len(on_disk)} of {len(paths)} images were already on disk; "
                                    f"made the other {len(missing)}")] + [w for p in parts for w in p.warnings],
        timings=last.timings, attempts=[a for p in parts for a in p.attempts], request_id=last.request_id,
        params=last.params)


def save(images: Sequence[GeneratedImage], paths: Sequence[str]) -> None:
    """Write each image to its path, atomically, and note the path in its ``info``."""
    for image, path in zip(images, paths, strict=False):
        image.save(path)
        image.info["path"] = path


def _load(path: str) -> GeneratedImage:
    from .metadata import read_png_text

    with open(path, "rb") as fh:
        data = fh.read()
    base = ImageData.from_bytes(data)
    info: dict[str, Any] = {}
    try:
        info = json.loads(read_png_text(data).get("imagegen", "{}"))
    except (ValueError, OSError):
        info = {}
    seed = info.pop("seed", None)
    for key in ("width", "height"):
        info.pop(key, None)
    info["path"] = path
    settings = None
    with contextlib.suppress(ValidationError, TypeError):
        settings = ImageSettings.model_validate(info.pop("settings", None))
    return GeneratedImage(data=base.data, mime=base.mime, width=base.width, height=base.height,
                          seed=seed if isinstance(seed, int) else None, revised_prompt=info.pop("revised_prompt", None),
                          info=info, settings=settings)


def from_disk(prompt: str, paths: list[str]) -> GenerationResult:
    """The result of an item whose images are all on disk already: nothing generated, nothing spent."""
    images = [_load(p) for p in paths]
    first = images[0].info
    return GenerationResult(
        images=images, provider=str(first.get("provider", "")), model=str(first.get("model", "")), prompt=prompt,
        cost=Cost(usd=0.0, source="skipped"),
        warnings=[GenerationWarning(f"skip_existing: all {len(paths)} images are already on disk; nothing was "
                                    "generated")],
        request_id=str(first.get("request_id", "")), params=dict(first.get("params", {})))


def prepare(client: Client, prompts: Iterable[Any], params: GenerateParams | Mapping[str, Any] | None = None, *,
            provider: ProviderSpec | Sequence[ProviderSpec] | None = None, concurrency: int | None = None,
            out_dir: str | os.PathLike[str] | None = None, skip_existing: bool = True,
            names: Sequence[str] | None = None, partial: Partial | None = None, select: int | None = None,
            scorer: Scorer | None = None, **kwargs: Any) -> Job:
    """Validate a whole batch up front (bad input fails before anything is sent) and plan it."""
    if isinstance(prompts, str):
        raise InvalidRequest("prompts: expected a list of prompts; got a single string (wrap it in a list)",
                             field="prompts")
    planned = [prompt_request(p, params, **kwargs) for p in prompts]
    texts = [text for text, _ in planned]
    requests = [request for _, request in planned]
    for request in requests or [build_params(params, **kwargs)]:  # an empty batch still checks its params
        check_select(select, scorer, request.n)
    if partial is not None:
        check_partial(partial)
    if concurrency is None:
        limit = client.max_concurrency
        concurrency = limit if isinstance(limit, int) else DEFAULT_CONCURRENCY
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidRequest(f"concurrency: must be a whole number >= 1; got {concurrency!r}", field="concurrency")
    if names is None:
        stems = [item_name(i, t, r) for i, (t, r) in enumerate(planned)]
    else:
        stems = [check_name(str(n)) for n in names]
        if len(stems) != len(texts):
            raise InvalidRequest(f"names: got {len(stems)} names for {len(texts)} prompts", field="names")
        if len(set(stems)) != len(stems):
            raise InvalidRequest("names: must be unique", field="names")
    return Job(client=client, prompts=texts, names=stems, params=requests, chains=[provider] * len(texts),
                concurrency=concurrency, out_dir=os.fspath(out_dir) if out_dir is not None else None,
                skip_existing=bool(skip_existing), partial=partial, select=select, scorer=scorer)
