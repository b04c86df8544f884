"""``ServerConfig``: everything ``imagegen serve`` and ``create_app`` take, validated at the edge.

The config is plain data (spec strings, paths, numbers) plus optional provider instances, so the same
value builds the app in one process, in a test, or in each Ray Serve replica.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InvalidRequest
from ..provider import Provider
from ..registry import ProviderSpec, parse_spec

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServerConfig", "check_listen", "parse_alias"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MB = 1024 * 1024


class ServerConfig(BaseModel):
    """What the server serves and under which limits.

    ``providers``: served under their own ``name:model`` (and bare model) names; in order, the default
    chain for a request that names no model. ``aliases``: a served name -> a fallback chain. ``ledger``:
    the SQLite ledger every attempt (and every refused request) is written to. ``budget_usd``: one cap for
    the whole server. ``api_keys``: keys accepted as bearer tokens (named ``key1``, ``key2``, ...);
    ``keys_file``: named, hashed keys with their own budgets and rpm (see ``imagegen.server.keys``).
    With neither, anyone who can reach the port may generate.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    providers: tuple[ProviderSpec, ...] = ()
    aliases: dict[str, tuple[ProviderSpec, ...]] = Field(default_factory=dict)
    ledger: str | None = None
    budget_usd: float | None = Field(None, ge=0, allow_inf_nan=False)
    api_keys: tuple[str, ...] = ()
    keys_file: str | None = None
    #: Requests admitted at once (generating or waiting); one more is answered 429 with Retry-After.
    max_queue: int = Field(64, ge=1, le=100_000)
    #: The largest request body accepted (413 beyond).
    max_body_bytes: int = Field(50 * MB, ge=1024)
    #: The most pixels an input image (or an asked size) may have (400 beyond).
    max_image_pixels: int = Field(4096 * 4096, ge=64 * 64)
    #: The longest prompt (and negative prompt) accepted, in characters.
    max_prompt_chars: int = Field(32_000, ge=1)
    #: The most images one request may ask for (OpenAI's own limit is 10).
    max_images: int = Field(10, ge=1, le=128)
    #: Seconds one provider attempt may take (None: no limit).
    timeout: float | None = Field(None, gt=0, allow_inf_nan=False)
    #: Finished images kept in memory for ``url`` answers and the gallery (oldest dropped first).
    keep_images: int = Field(256, ge=0, le=100_000)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else None
            raise InvalidRequest(f"{field}: {err['msg']} (got {err.get('input')!r})", field=field) from None

    @field_validator("providers", mode="before")
    @classmethod
    def _specs(cls, value: Any) -> tuple[ProviderSpec, ...]:
        if isinstance(value, (str, Provider)):
            value = [value]
        return tuple(_spec(v, "providers") for v in value)

    @field_validator("aliases", mode="before")
    @classmethod
    def _aliases(cls, value: Any) -> dict[str, tuple[ProviderSpec, ...]]:
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping of served name -> provider specs")
        out: dict[str, tuple[ProviderSpec, ...]] = {}
        for name, chain in value.items():
            if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
                raise ValueError(f"alias name {name!r} must be non-empty, without spaces")
            if isinstance(chain, (str, Provider)):
                chain = [chain]
            specs = tuple(_spec(v, f"aliases[{name}]") for v in chain)
            if not specs:
                raise ValueError(f"alias {name!r} names no provider")
            out[name] = specs
        return out

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        keys = tuple(value)
        for key in keys:
            if not isinstance(key, str) or len(key) < 16 or any(c.isspace() for c in key):
                raise ValueError("an API key must be at least 16 characters without spaces "
                                 "(`imagegen serve --new-key NAME` makes one)")
        return keys

    @field_validator("ledger", "keys_file", mode="before")
    @classmethod
    def _path(cls, value: Any) -> str | None:
        return None if value is None else os.fspath(value)

    @property
    def has_auth(self) -> bool:
        return bool(self.api_keys) or self.keys_file is not None


def _spec(value: Any, where: str) -> ProviderSpec:
    if isinstance(value, Provider):
        return value
    if isinstance(value, str):
        parse_spec(value)
        return value.strip()
    raise ValueError(f"{where}: expected 'name:model' or a Provider; got {type(value).__name__}")


def parse_alias(text: str) -> tuple[str, list[str]]:
    """``"gpt-image-2=openai:gpt-image-2,diffusers:imagegen-mini"`` -> (name, [spec, ...])."""
    name, sep, chain = text.partition("=")
    specs = [s.strip() for s in chain.split(",") if s.strip()]
    if not sep or not name.strip() or not specs:
        raise InvalidRequest(f"--alias: expected NAME=SPEC[,SPEC...]; got {text!r}", field="alias")
    for spec in specs:
        parse_spec(spec)
    return name.strip(), specs


def check_listen(host: str, config: ServerConfig, *, insecure_no_auth: bool = False) -> None:
    """Refuse to listen beyond this machine without a key, unless the operator says so."""
    if config.has_auth or insecure_no_auth or _is_loopback(host):
        return
    raise InvalidRequest(
        f"--host: {host} is reachable from other machines, and no key is set: give --api-key KEY or "
        "--keys-file PATH, or --insecure-no-auth to serve anyone who can reach the port", field="host")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
