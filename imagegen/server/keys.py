"""API keys: named, stored hashed, compared in constant time, with optional per-key budgets and rpm.

A keys file is JSON; it never holds a key itself, only its SHA-256::

    {"keys": [{"name": "alice", "sha256": "9f2c…", "budget_usd": 5.0, "rpm": 30},
              {"name": "ci", "sha256": "41ab…"}]}

``imagegen serve --new-key NAME --keys-file PATH`` makes a key, prints it once and adds its hash. Keys
look like ``sk-ig-…`` so imagegen's secret scrubber cuts them out of any text it writes. A request
presents its key as ``Authorization: Bearer KEY`` (the OpenAI SDKs) or as the password of HTTP Basic
auth (A1111 clients: ``webuiapi``'s ``set_auth``, SillyTavern's and Open WebUI's ``user:password``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import InvalidRequest
from ..files import atomic_write

__all__ = ["ApiKey", "KeyRing", "RateWindow", "add_key", "hash_key", "load_keys", "new_key", "presented_key"]

KEY_PREFIX = "sk-ig-"


@dataclass(frozen=True)
class ApiKey:
    """One accepted key: its name (recorded in the ledger), its hash, and its own limits."""

    name: str
    sha256: str
    budget_usd: float | None = None
    rpm: float | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random key (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def load_keys(path: str) -> list[ApiKey]:
    """The keys of a keys file; a bad file is an ``InvalidRequest`` naming ``--keys-file``."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except OSError as exc:
        raise InvalidRequest(f"--keys-file: cannot read {path!r}: {exc.strerror}", field="keys_file") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"--keys-file: {path!r} is not JSON: {exc}", field="keys_file") from exc
    entries = raw.get("keys") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise InvalidRequest(f'--keys-file: {path!r} must hold {{"keys": [{{"name": ..., "sha256": ...}}, ...]}}',
                             field="keys_file")
    keys: list[ApiKey] = []
    for i, entry in enumerate(entries):
        keys.append(_entry(entry, f"--keys-file: {path!r} entry {i}"))
    names = [k.name for k in keys]
    if len(set(names)) != len(names):
        raise InvalidRequest(f"--keys-file: {path!r} names a key twice; names must be unique", field="keys_file")
    return keys


def _entry(entry: object, where: str) -> ApiKey:
    if not isinstance(entry, dict):
        raise InvalidRequest(f"{where}: expected an object with name and sha256", field="keys_file")
    name, digest = entry.get("name"), entry.get("sha256")
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest(f"{where}: name must be a non-empty string", field="keys_file")
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InvalidRequest(f"{where}: sha256 must be 64 lowercase hex digits (the key's SHA-256)",
                             field="keys_file")
    limits: dict[str, float | None] = {}
    for field in ("budget_usd", "rpm"):
        value = entry.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not value >= 0 or value == float("inf")):
            raise InvalidRequest(f"{where}: {field} must be a number >= 0; got {value!r}", field="keys_file")
        limits[field] = None if value is None else float(value)
    unknown = set(entry) - {"name", "sha256", "budget_usd", "rpm"}
    if unknown:
        raise InvalidRequest(f"{where}: unknown fields {sorted(unknown)}; allowed: name, sha256, budget_usd, rpm",
                             field="keys_file")
    return ApiKey(name=name.strip(), sha256=digest, budget_usd=limits["budget_usd"], rpm=limits["rpm"])


def add_key(path: str, name: str, *, budget_usd: float | None = None, rpm: float | None = None) -> str:
    """Make a key named ``name``, add its hash to the keys file (created if missing), return the key."""
    keys = load_keys(path) if os.path.exists(path) else []
    if any(k.name == name for k in keys):
        raise InvalidRequest(f"--new-key: {path!r} already has a key named {name!r}", field="new_key")
    key = new_key()
    entry = _entry({"name": name, "sha256": hash_key(key),
                    **({"budget_usd": budget_usd} if budget_usd is not None else {}),
                    **({"rpm": rpm} if rpm is not None else {})}, "--new-key")
    keys.append(entry)
    rows = [{k: v for k, v in vars(e).items() if v is not None} for e in keys]
    atomic_write(path, (json.dumps({"keys": rows}, indent=2) + "\n").encode("utf-8"))
    os.chmod(path, 0o600)
    return key


def presented_key(authorization: str | None) -> str | None:
    """The key in an ``Authorization`` header: a bearer token, or the password of Basic auth (or the
    whole credential when it has no ``:``). None when there is none."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        return (password if sep else user) or None
    return None


class KeyRing:
    """The accepted keys. ``match`` compares the presented key's hash with every stored one in
    constant time (all of them, always), so timing tells nothing about which key is close."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self.keys = list(keys)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def match(self, presented: str | None) -> ApiKey | None:
        digest = hash_key(presented or "")
        found: ApiKey | None = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.sha256) and presented:
                found = key
        return found


class RateWindow:
    """Requests per minute for one key: a sliding 60-second window."""

    def __init__(self, rpm: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rpm = rpm
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> float | None:
        """Count one request and return None, or return the seconds until one fits (not counted)."""
        now = self._clock()
        with self._lock:
            while self._times and now - self._times[0] >= 60.0:
                self._times.popleft()
            if len(self._times) < self.rpm:
                self._times.append(now)
                return None
            if not self._times:  # rpm 0: never
                return 60.0
            return max(0.001, 60.0 - (now - self._times[0]))
