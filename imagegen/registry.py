"""Finding providers: ``"name:model"`` specs, entry points, and in-process registrations; and what they know
(``models()``, ``live_differences()``: see ``imagegen.catalog``).

Installed providers announce themselves in the entry-point group ``imagegen.providers``; the
target is a factory ``factory(model, **options) -> Provider`` (usually the provider class). It is
imported on first use only, so ``import imagegen`` never pulls in torch or an SDK.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any

from .catalog import Difference, ModelInfo, compare
from .errors import InvalidRequest, ProviderUnavailable
from .provider import Provider, spec_version

__all__ = ["ProviderSpec", "alive_differences", "default_provider_spec", "is_local", "live_differences", "models",
           "parse_spec", "provider_chain", "providers", "register_provider", "resolve_provider", "spec_of"]

GROUP = "imagegen.providers"
ProviderFactory = Callable[..., Provider]
#: Wherever a provider is named: a ``"name:model"`` spec string, or a configured instance.
ProviderSpec = str | Provider

#: Where the first-party providers live, for the "install this" hint.
KNOWN_PACKAGES = {"openai": "imagegen-openai", "google": "imagegen-google", "diffusers": "imagegen-diffusers"}
#: The model the embedded local provider ships with (see imagegen-diffusers).
EMBEDDED_MODEL = "diffusers:imagegen-mini"

_registered: dict[str, ProviderFactory] = {}
_entry_points: dict[str, metadata.EntryPoint] | None = None
_lock = threading.Lock()


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make ``name`` resolvable in this process (overrides an installed provider of that name)."""
    if not name or ":" in name:
        raise InvalidRequest(f"provider name {name!r} must be non-empty and contain no ':'", field="provider")
    if not callable(factory):
        raise InvalidRequest("register_provider: factory must be callable", field="factory")
    with _lock:
        _registered[name] = factory


def _installed() -> dict[str, metadata.EntryPoint]:
    global _entry_points
    if _entry_points is None:
        with _lock:
            if _entry_points is None:
                _entry_points = {ep.name: ep for ep in metadata.entry_points(group=GROUP)}
    return _entry_points


def providers() -> dict[str, str]:
    """Provider names available here, mapped to where each comes from."""
    found = {name: ep.value for name, ep in _installed().items()}
    found.update({name: f"registered: {getattr(f, '__qualname__', repr(f))}" for name, f in _registered.items()})
    return dict(sorted(found.items()))


def spec_of(provider: ProviderSpec) -> str:
    """The ``"name:model"`` label of a provider (a spec string is its own label)."""
    return provider if isinstance(provider, str) else f"{provider.name}:{provider.model}"


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"openai:dall-e-3"`` -> ("openai", "dall-e-3"); ``"openai"`` -> ("openai", None)."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidRequest(f"provider: expected 'name:model' or a Provider instance; got {spec!r}",
                             field="provider")
    name, sep, model = spec.strip().partition(":")
    if not name:
        raise InvalidRequest(f"provider: {spec!r} has no provider name before ':'", field="provider")
    return name, (model if sep and model else None)


def provider_chain(value: Any) -> list[ProviderSpec]:
    """``value`` (one spec, a provider instance, or a list of them) as a checked chain; anything else (a
    number, ``None`` in the list, a spec without a name) is an ``InvalidRequest`` naming ``provider``."""
    items = [value] if isinstance(value, (str, Provider)) else value
    if not isinstance(items, (list, tuple)):
        raise InvalidRequest(f"provider: expected 'name:model', a Provider instance or a list of them; got "
                             f"{type(value).__name__}", field="provider")
    for item in items:
        if isinstance(item, str):
            parse_spec(item)
        elif not isinstance(item, Provider):
            raise InvalidRequest(f"provider: expected 'name:model' or a Provider instance in the chain; got "
                                 f"{type(item).__name__}", field="provider")
    return list(items)


def _factory(name: str) -> ProviderFactory:
    if name in _registered:
        return _registered[name]
    ep = _installed().get(name)
    if ep is None:
        hint = (f"; install it with `pip install {KNOWN_PACKAGES[name]}`" if name in KNOWN_PACKAGES
                else f"; installed: {', '.join(providers()) or 'none'}")
        raise ProviderUnavailable(f"no provider named {name!r} is installed{hint}")
    try:
        loaded: ProviderFactory = ep.load()
    except ImportError as exc:
        raise ProviderUnavailable(f"provider {name!r} is installed but failed to import: {exc}") from exc
    return loaded


def resolve_provider(spec: str | Provider, **options: Any) -> Provider:
    """Build a provider from a spec string, or pass an instance through; either way, one written for
    a newer provider contract than this imagegen's is ``ProviderUnavailable``."""
    if not isinstance(spec, str):
        if isinstance(spec, Provider):
            spec_version(spec)
            return spec
        raise InvalidRequest(f"provider: expected 'name:model' or a Provider instance; got "
                             f"{type(spec).__name__}", field="provider")
    name, model = parse_spec(spec)
    factory = _factory(name)
    provider = factory(model, **options) if model is not None else factory(**options)
    spec_version(provider)
    return provider


def is_local(spec: ProviderSpec) -> bool:
    """Whether ``spec`` runs on this machine's own device (its class says ``local = True``, as the diffusers
    provider does) rather than calling a service: a cluster gives each such model its own warm worker. A spec
    string is looked up without building the provider; an unknown name is ``ProviderUnavailable``."""
    if isinstance(spec, str):
        return bool(getattr(_factory(parse_spec(spec)[0]), "local", False))
    return bool(getattr(spec, "local", False))


def default_provider_spec() -> str:
    """The provider used when none is named: ``IMAGEGEN_PROVIDER``, else a configured cloud key (with
    that provider's recommended model, its ``default_model``), else the embedded local model."""
    if env := os.environ.get("IMAGEGEN_PROVIDER"):
        return env
    installed = set(_installed()) | set(_registered)
    if os.environ.get("OPENAI_API_KEY") and "openai" in installed:
        return _recommended("openai")
    if (os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")) and "google" in installed:
        return _recommended("google")
    if "diffusers" in installed:
        return EMBEDDED_MODEL
    raise ProviderUnavailable(
        "no provider given and none configured: pass provider='name:model', set IMAGEGEN_PROVIDER, or "
        "`pip install imagegen-diffusers` for the embedded offline model")


def _recommended(name: str) -> str:
    """``name:model`` with the model the provider recommends today (its factory's ``default_model``, which
    the provider derives from its lifecycle data), or just ``name`` when it names none."""
    model = getattr(_factory(name), "default_model", None)
    return f"{name}:{model}" if isinstance(model, str) and model else name


# -- what the providers know: the catalog ---------------------------------------------------

def models(provider: str | None = None) -> list[ModelInfo]:
    """Every model the installed providers know (or ``provider``'s only): status, shutdown, replacement,
    sizes, images per call and price basis. Needs no key and no network."""
    names = _names(provider)
    rows: list[ModelInfo] = []
    for name in names:
        catalog = getattr(_factory(name), "catalog", None)
        if catalog is not None:
            rows.extend(catalog())
    return rows


def live_differences(provider: str, **options: Any) -> list[Difference]:
    """``alive_differences`` from sync code (on imagegen's shared loop)."""
    from ._loop import SHARED_LOOP

    return SHARED_LOOP.run(alive_differences(provider, **options))


async def alive_differences(provider: str, **options: Any) -> list[Difference]:
    """Ask ``provider``'s vendor for its model list (with the provider's usual settings: its key, base URL,
    ``options``) and return where imagegen's data differs. ``InvalidRequest`` when the provider has no live
    list; the provider's own errors (no key: ``ProviderUnavailable``) otherwise."""
    (name,) = _names(provider)
    instance = resolve_provider(name, **options)
    lister = getattr(instance, "list_models", None)
    if lister is None:
        raise InvalidRequest(f"provider: {name} has no live model list (only cloud providers do)", field="provider")
    try:
        live = list(await lister())
    finally:
        closer = getattr(instance, "aclose", None)
        if closer is not None:
            await closer()
    return compare(models(name), live, provider=name)


def _names(provider: str | None) -> list[str]:
    installed = list(providers())
    if provider is None:
        return installed
    name = provider.partition(":")[0].strip()
    if name not in installed:
        raise InvalidRequest(f"provider: {name!r} is not installed; installed: {', '.join(installed) or 'none'}",
                             field="provider")
    return [name]
