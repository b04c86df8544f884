"""``google.genai`` and transport errors -> imagegen's error taxonomy.

The SDK raises ``errors.ClientError``/``ServerError`` (``.code``: HTTP status, ``.status``: the
``google.rpc.Code`` name such as ``RESOURCE_EXHAUSTED``), and lets its transport's own exceptions
through (``httpx2``/``httpx``, or ``aiohttp`` when that is installed). Messages never carry a key:
``secrets`` and anything shaped like a key are cut out of anything taken from a response (imagegen's
one scrubber). A mapped error carries the HTTP status as ``status`` and the ``google.rpc.Code`` name
as ``code``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from imagegen.provider import (
    AuthenticationError,
    ContentPolicyError,
    ImageGenError,
    InvalidRequest,
    ProviderUnavailable,
    RateLimited,
    TransientError,
    retry_after_seconds,
    scrub,
)

__all__ = ["map_error"]

_TRANSIENT_STATUSES = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED", "CANCELLED", "UNKNOWN"}
_AUTH_STATUSES = {"UNAUTHENTICATED", "PERMISSION_DENIED"}
_INVALID_STATUSES = {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"}
#: Imagen and Gemini refuse prompts with a 400 whose message says why; these words mark a refusal.
_POLICY = re.compile(r"responsible ai|safety|sensitive words|prohibited|violat|blocked|harmful|policy", re.I)


def map_error(exc: BaseException, *, label: str, secrets: Iterable[str | None] = ()) -> ImageGenError | None:
    """The imagegen error for ``exc``, or None when it is not one this module knows (a bug: let it crash)."""
    secrets = list(secrets)
    from google.genai import errors as genai_errors

    if isinstance(exc, genai_errors.APIError):
        return _api_error(exc, label, secrets)
    name = type(exc).__name__
    module = type(exc).__module__
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or "Timeout" in name:
        return TransientError(f"timeout talking to Google: {name}", provider=label)
    if module.startswith(("httpx", "httpx2", "aiohttp", "h11", "h2", "anyio")) or isinstance(exc, (OSError,
                                                                                                  EOFError)):
        detail = scrub(str(exc), secrets)[:200]
        return TransientError(f"connection to Google failed: {name}: {detail}", provider=label)
    if module.startswith("google.auth"):
        return _auth_error(exc, label, secrets)
    if isinstance(exc, json.JSONDecodeError) or (module.startswith("pydantic") and name == "ValidationError"):
        # the SDK raises APIError for any non-2xx answer, so a body it cannot parse came with a 2xx: the call
        # most likely ran and was billed (status 200 tells imagegen to count it at its estimate)
        return TransientError(f"Google sent a truncated or undecodable response ({name})", provider=label,
                              status=200)
    return None


def _api_error(exc: Any, label: str, secrets: list[str | None]) -> ImageGenError:
    code = int(exc.code or 0)
    status = str(exc.status or "").upper()
    text = scrub(str(exc.message or exc.details or ""), secrets)[:500]
    message = f"{code} {status}: {text}".strip().rstrip(":")
    answer: dict[str, Any] = {"provider": label, "status": code or None, "code": status or None}
    if code == 429 or status == "RESOURCE_EXHAUSTED":
        return RateLimited(message, retry_after=_retry_after(exc), **answer)
    if code in (401, 403) or status in _AUTH_STATUSES:
        return AuthenticationError(message, **answer)
    if code == 408 or code >= 500 or status in _TRANSIENT_STATUSES:
        return TransientError(message, **answer)
    if code == 404 or status == "NOT_FOUND":
        model = label.partition(":")[2]
        return ProviderUnavailable(f"Google does not serve {model!r} here: {message} (is the model id right, and "
                                   "enabled for this project/region? imagegen's built-in model data may be stale: "
                                   "`imagegen models --live` compares it with what Google lists now)", **answer)
    if _POLICY.search(text):
        return ContentPolicyError(message, **answer)
    return InvalidRequest(message, field=_field_of(text), **answer)


def _field_of(text: str) -> str | None:
    lowered = text.lower()
    for needle, field in (("aspect", "size"), ("image_size", "size"), ("sampleimagesize", "size"),
                          ("seed", "seed"), ("negative", "negative_prompt"), ("samplecount", "n"),
                          ("guidance", "guidance")):
        if needle in lowered:
            return field
    return None


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is not None and hasattr(headers, "get"):
        after = retry_after_seconds(headers)
        if after is not None:
            return after
    details = exc.details if isinstance(exc.details, Mapping) else {}
    error = details.get("error", details)
    for item in (error.get("details") or []) if isinstance(error, Mapping) else []:
        if isinstance(item, Mapping) and str(item.get("@type", "")).endswith("RetryInfo"):
            delay = str(item.get("retryDelay", ""))
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", delay)
            if match:
                return float(match[1])
    return None


def _auth_error(exc: BaseException, label: str, secrets: list[str | None]) -> ImageGenError:
    name = type(exc).__name__
    detail = scrub(str(exc), secrets)[:300]
    if name == "DefaultCredentialsError":
        return ProviderUnavailable(
            f"no Google Cloud credentials found for Vertex AI ({detail}); run `gcloud auth application-default "
            "login`, set GOOGLE_APPLICATION_CREDENTIALS, or use an API key", provider=label)
    if name == "TransportError":
        return TransientError(f"could not reach Google's token service: {detail}", provider=label)
    return AuthenticationError(f"Google credentials were refused ({name}): {detail}", provider=label)
