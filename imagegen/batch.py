"""Batches: many prompts through one ``Client``, bounded concurrency, results in input order.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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

__all__ = ["BatchItem", "item_name", "prepare"]

#: One entry of ``generate_many``'s list: the item's result, or the error that ended it.
BatchItem = GenerationResult | ImageGenError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
DEFAULT_CONCURRENCY = 4


def item_name(index: int, prompt: str, params: GenerateParams) -> str:
    """The default file stem of batch item ``index``: stable across reruns of the same batch."""
    fields = params.model_dump(mode="json", exclude={"n"})
    digest = hashlib.sha256(json.dumps([prompt, fields], sort_keys=True, default=str).encode()).hexdigest()
    return f"{index:04d}-{digest[:10]}"


@dataclass
class _Job:
    client: Client
    prompts: list[str]
    names: list[str]
    params: list[GenerateParams]
    provider: ProviderSpec | Sequence[ProviderSpec] | None
    concurrency: int
    out_dir: str | None
    skip_existing: bool
    partial: Partial | None
    select: int | None
    scorer: Scorer | None

    async def run(self) -> list[BatchItem]:
        if self.out_dir is not None:
            os.makedirs(self.out_dir, exist_ok=True)
        gate = asyncio.Semaphore(self.concurrency)

        async def bounded(i: int) -> BatchItem:
            async with gate:
                return await self._item(i)

        return list(await asyncio.gather(*(bounded(i) for i in range(len(self.prompts)))))

    def _paths(self, i: int) -> list[str]:
        assert self.out_dir is not None
        kept = self.select if self.select is not None else self.params[i].n  # best-of-n saves only the k kept
        return [os.path.join(self.out_dir, f"{self.names[i]}-{k}.png") for k in range(kept)]

    async def _item(self, i: int) -> BatchItem:
        prompt, params = self.prompts[i], self.params[i]
        paths = self._paths(i) if self.out_dir is not None else []
        on_disk = [k for k, p in enumerate(paths) if self.skip_existing and os.path.exists(p)]
        if paths and len(on_disk) == len(paths):
            return _from_disk(prompt, paths)
        if self.select is not None:  # the kept k come from one run of n: all again, or nothing
            on_disk = []
        missing = [k for k in range(len(paths) or params.n) if k not in on_disk]
        try:
            if not on_disk:
                result = await self._generate(prompt, params)
            else:
                result = await self._fill(prompt, params, paths, on_disk, missing)
        except ImageGenError as exc:
            if paths and exc.images:  # paid for: keep them even though the item failed
                _save(exc.images, [paths[k] for k in missing])
            return exc
        if paths and not on_disk:
            _save(result.images, paths)
        return result

    async def _generate(self, prompt: str, params: GenerateParams) -> GenerationResult:
        return await self.client.agenerate(prompt, params, provider=self.provider, partial=self.partial,
                                           select=self.select, scorer=self.scorer)

    async def _fill(self, prompt: str, params: GenerateParams, paths: list[str], on_disk: list[int],
                    missing: list[int]) -> GenerationResult:
        """Generate (and save) only the images not yet on disk; with a seed, image k keeps seed + k.
        The result holds all of the item's images, in order."""
        base = {k: getattr(params, k) for k in params.model_fields_set}
        if params.seed is None:
            parts = [await self._generate(prompt, build_params({**base, "n": len(missing)}))]
        else:
            parts = [await self._generate(prompt, build_params({**base, "n": 1, "seed": params.seed + k}))
                     for k in missing]
        made = [im for part in parts for im in part.images]
        _save(made, [paths[k] for k in missing])
        images = {k: _load(paths[k]) for k in on_disk}
        images.update(zip(missing, made, strict=False))
        last = parts[-1]
        costs = [p.cost for p in parts]
        return GenerationResult(
            images=[images[k] for k in sorted(images)], provider=last.provider, model=last.model, prompt=prompt,
            cost=Cost.combine(costs),
            warnings=[GenerationWarning(f"skip_existing: {len(on_disk)} of {len(paths)} images were already on disk; "
                                        f"made the other {len(missing)}")] + [w for p in parts for w in p.warnings],
            timings=last.timings, attempts=[a for p in parts for a in p.attempts], request_id=last.request_id,
            params=last.params)


def _save(images: Sequence[GeneratedImage], paths: Sequence[str]) -> None:
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


def _from_disk(prompt: str, paths: list[str]) -> GenerationResult:
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
            scorer: Scorer | None = None, **kwargs: Any) -> _Job:
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
        stems = [str(n) for n in names]
        if len(stems) != len(texts):
            raise InvalidRequest(f"names: got {len(stems)} names for {len(texts)} prompts", field="names")
        bad = [n for n in stems if not _SAFE_NAME.match(n)]
        if bad:
            raise InvalidRequest(f"names: {bad[0]!r} is not a safe file name (letters, digits, '.', '_', '-')",
                                 field="names")
        if len(set(stems)) != len(stems):
            raise InvalidRequest("names: must be unique", field="names")
    return _Job(client=client, prompts=texts, names=stems, params=requests, provider=provider,
                concurrency=concurrency, out_dir=os.fspath(out_dir) if out_dir is not None else None,
                skip_existing=bool(skip_existing), partial=partial, select=select, scorer=scorer)
