"""Reading what other tools write into their images, into one ``ImageMetadata`` with ``ImageSettings``.

``import_metadata(text)`` takes an image's text entries (``imagegen.metadata.image_text``) and tries, in order:
imagegen's own JSON entry (exact), AUTOMATIC1111/Forge infotext in ``parameters``. Each reader
returns ``None`` when the entries are not its tool's, so the first that recognises them wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError

from .infotext import lora_tags, parse_infotext, settings_from_pairs
from .settings import ImageSettings, ModelRef

__all__ = ["SOURCES", "ImageMetadata", "import_metadata", "params_of"]

#: Where ``ImageMetadata`` came from: imagegen's own entry, A1111/Forge infotext, the other tools read, or nothing.
SOURCES = ("imagegen", "parameters", "comfyui", "invokeai", "fooocus", "novelai", "none")
#: Fields of the ``imagegen`` entry's params that a replay passes back to ``GenerateParams``.
_REPLAYABLE = ("steps", "guidance", "negative_prompt", "scheduler", "strength", "control", "control_model",
               "control_scale", "quality", "style", "loras", "provider_options")


@dataclass
class ImageMetadata:
    """What an image says about how it was made.

    ``source`` is one of ``SOURCES``: ``"imagegen"`` (imagegen's exact entry), ``"parameters"`` (A1111 or
    Forge infotext), ``"comfyui"``, ``"invokeai"``, ``"fooocus"``, ``"novelai"``, or ``"none"``. ``settings``
    is the normalized record of how it was made, whatever wrote it; ``params`` the ``GenerateParams`` fields
    it maps to; ``parameters`` the infotext pairs as written; ``raw`` the source's own entry, parsed."""

    prompt: str | None = None
    negative_prompt: str | None = None
    provider: str | None = None
    model: str | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    revised_prompt: str | None = None
    source: str = "none"
    parameters: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    settings: ImageSettings | None = None

    @property
    def spec(self) -> str | None:
        """``"name:model"`` of the provider that made the image, when known."""
        return f"{self.provider}:{self.model}" if self.provider and self.model else None

    def replay_params(self) -> dict[str, Any]:
        """``GenerateParams`` fields that remake this image (one image, same seed and size)."""
        out: dict[str, Any] = {k: self.params[k] for k in _REPLAYABLE if self.params.get(k) not in (None, "", [])}
        if self.negative_prompt:
            out["negative_prompt"] = self.negative_prompt
        size = self.params.get("output_size") or self.params.get("size")
        if size is None and self.width and self.height:
            size = f"{self.width}x{self.height}"
        if size is not None:
            out["size"] = size
        if self.params.get("output_size"):
            out["size_policy"] = "exact"
        if self.seed is not None:
            out["seed"] = self.seed
        operation = self.params.get("operation")
        if operation and operation != "txt2img":
            out["operation"] = operation
        return out

    def to_dict(self) -> dict[str, Any]:
        """One normalized, JSON-ready record (what ``imagegen info --json`` prints)."""
        record = asdict(self)
        record["settings"] = None if self.settings is None else self.settings.model_dump(mode="json",
                                                                                         exclude_defaults=True)
        record["spec"] = self.spec
        return record




def import_metadata(text: Mapping[str, str]) -> ImageMetadata:
    """The metadata ``text`` (an image's text entries) records, from whichever tool wrote it."""
    for reader in _READERS:
        found = reader(text)
        if found is not None:
            return found
    return ImageMetadata()


def params_of(settings: ImageSettings, negative_prompt: str | None = None) -> dict[str, Any]:
    """The ``GenerateParams`` fields ``settings`` name directly (what ``imagegen info`` lists)."""
    out: dict[str, Any] = {"steps": settings.steps, "scheduler": settings.scheduler, "guidance": settings.guidance,
                           "strength": settings.strength, "negative_prompt": negative_prompt or None}
    if settings.width and settings.height:
        out["size"] = f"{settings.width}x{settings.height}"
    return {k: v for k, v in out.items() if v is not None}


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def _imagegen(text: Mapping[str, str]) -> ImageMetadata | None:
    entry = _json(text.get("imagegen"))
    if not isinstance(entry, dict):
        return None
    exact = dict(entry.get("params") or {})
    settings = None
    if isinstance(entry.get("settings"), dict):
        try:
            settings = ImageSettings.model_validate(entry["settings"])
        except ValidationError:
            settings = None
    pairs = parse_infotext(text["parameters"]).pairs if text.get("parameters") else {}
    return ImageMetadata(
        prompt=entry.get("prompt"), negative_prompt=exact.get("negative_prompt"), provider=entry.get("provider"),
        model=entry.get("model"), seed=entry.get("seed"), width=entry.get("width"), height=entry.get("height"),
        params=exact, revised_prompt=entry.get("revised_prompt"), source="imagegen", parameters=pairs, raw=entry,
        settings=settings)


def _a1111(text: Mapping[str, str]) -> ImageMetadata | None:
    """AUTOMATIC1111 and Forge: infotext in ``parameters`` (a PNG text chunk, or a JPEG/WebP UserComment)."""
    raw = text.get("parameters")
    if not raw or raw.lstrip().startswith("{"):
        return None
    parsed = parse_infotext(raw)
    settings = settings_from_pairs(parsed.pairs)
    _, tags = lora_tags(parsed.prompt)
    if tags:
        hashes = {ref.name: ref.hash for ref in settings.loras}
        named = [ModelRef(name=name, hash=hashes.get(name), weight=weight) for name, weight in tags]
        rest = [ref for ref in settings.loras if ref.name not in {name for name, _ in tags}]
        settings = settings.model_copy(update={"loras": (*named, *rest)})
    negative = parsed.negative_prompt or None
    return ImageMetadata(
        prompt=parsed.prompt, negative_prompt=negative, provider=parsed.pairs.get("Provider"),
        model=settings.model.name if settings.model else None, seed=settings.seed, width=settings.width,
        height=settings.height, params=params_of(settings, negative), source="parameters", parameters=parsed.pairs,
        settings=settings)


_READERS: tuple[Callable[[Mapping[str, str]], ImageMetadata | None], ...] = (_imagegen, _a1111)
