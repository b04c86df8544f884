"""``openai`` SDK exceptions and undecodable answers -> imagegen's error taxonomy.

| what happened | imagegen error |
| --- | --- |
| 429 ``insufficient_quota`` (no credit left) | ``ProviderUnavailable``: never retried; a fallback takes over |
| 429 (rate limit) | ``RateLimited``, ``retry_after`` from ``retry-after-ms`` / ``retry-after`` |
| 500-599, 408, 409, timeouts, connection errors, a truncated or non-JSON body, invalid base64 | ``TransientError`` |
| 400 with a content-policy code (``content_policy_violation``, ``moderation_blocked``) | ``ContentPolicyError`` |
| 401, 403 | ``AuthenticationError`` |
| 404 ``model_not_found``, or a 4xx saying the model is gone | ``ProviderUnavailable`` naming it (a chain falls back) |
| any other 4xx | ``InvalidRequest`` with the API's message (and ``field`` from its ``param``) |

OpenAI answers a used-up quota with 429 and ``"type"``/``"code"`` ``insufficient_quota``, "You exceeded your
current quota, please check your plan and billing details" (https://platform.openai.com/docs/guides/error-codes/api-errors,
checked 2026-12-02).

Messages never carry an API key: known secrets and anything shaped like a key are cut out (imagegen's
one scrubber), from our messages and from the SDK exception kept as ``__cause__``.
"""

from __future__ import annotations

import binascii
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

__all__ = ["POLICY_CODES", "STALE_HINT", "map_error"]

#: ``error.code`` values OpenAI (and Azure OpenAI) use when a prompt or image is refused.
POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked", "content_filter",
                          "ResponsibleAIPolicyViolation"})
#: ... and the words of such a refusal, for servers that send no code (not "moderation": a 400 about the
#: ``moderation`` parameter is a bad request, not a refusal).
_POLICY_TEXT = re.compile(r"safety system|content polic|content filter", re.I)
#: The API's ``param`` names -> imagegen's field names.
_FIELDS = {"size": "size", "quality": "quality", "style": "style", "n": "n", "prompt": "prompt", "image": "image",
           "image[]": "image", "mask": "mask", "model": "model"}
_OPTION_PARAMS = ("background", "output_format", "output_compression", "moderation", "input_fidelity", "user")
#: How OpenAI says a model is gone: a 404 ``model_not_found``, or a message saying the model "has been
#: deprecated" or "does not exist". OpenAI's deprecations page does not name the error (checked 2026-12-02);
#: these are the answers third-party write-ups quote, e.g. "The model `dall-e-3` has been deprecated. Learn
#: more: https://platform.openai.com/docs/deprecations" with code ``model_not_found``.
_GONE_TEXT = re.compile(r"has been deprecated|has been shut ?down|does not exist|no longer (available|supported)",
                        re.I)
#: Where a "model is gone" message sends the user.
STALE_HINT = ("imagegen's built-in model data may be stale: `imagegen models --live` compares it with what the "
              "vendor serves now")


def map_error(exc: BaseException, *, label: str, secrets: Iterable[str | None] = ()) -> ImageGenError | None:
    """The imagegen error for ``exc``, or None when it is nothing this module knows (a bug: let it crash)."""
    found = list(secrets)
    if isinstance(exc, json.JSONDecodeError):  # before ValueError: it is one
        return TransientError(f"OpenAI sent a truncated or non-JSON body ({exc.msg} at character {exc.pos})",
                              provider=label)
    if isinstance(exc, binascii.Error):
        return TransientError(f"OpenAI sent an image that is not valid base64: {exc}", provider=label)
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return TransientError("timeout: OpenAI did not answer in time", provider=label)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f"{type(cause).__name__}: {scrub(str(cause), found)[:200]}" if cause is not None else exc.message
        return TransientError(f"connection to OpenAI failed ({detail})", provider=label)
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, label, found)
    if isinstance(exc, openai.APIResponseValidationError):
        return TransientError(f"OpenAI sent a response that does not match its schema: {exc.message}",
                              provider=label)
    if isinstance(exc, openai.OpenAIError):
        return ProviderUnavailable(f"the openai SDK could not make the call: {scrub(str(exc), found)[:300]}",
                                   provider=label)
    return None


def _status_error(exc: Any, label: str, secrets: list[str | None]) -> ImageGenError:
    status = int(exc.status_code)
    body = exc.body if isinstance(exc.body, Mapping) else {}
    api_message = body.get("message") if isinstance(body.get("message"), str) else None
    if api_message is None:
        api_message = exc.body if isinstance(exc.body, str) and exc.body else exc.message
    code = exc.code or None
    param = exc.param or None
    text = scrub(str(api_message), secrets).strip()[:500]
    kind = code or getattr(exc, "type", None) or ""
    message = f"{status}{' ' + kind if kind else ''}: {text}"
    request_id = getattr(exc, "request_id", None)
    if request_id:
        message += f" (request id {request_id})"
    answer: dict[str, Any] = {"status": status, "code": code, "provider_request_id": request_id, "provider": label}
    if status == 429 and "insufficient_quota" in (code, getattr(exc, "type", None)):
        return ProviderUnavailable(f"{message} (the account's quota is used up: add credit in OpenAI's billing "
                                   "settings; retrying cannot help)", **answer)
    if status == 429:
        headers = getattr(getattr(exc, "response", None), "headers", None)
        return RateLimited(message, retry_after=retry_after_seconds(headers), **answer)
    if status in (401, 403):
        return AuthenticationError(message, **answer)
    if status < 500 and (code == "model_not_found" or (param == "model" and _GONE_TEXT.search(text))
                         or (status == 404 and _GONE_TEXT.search(text))):
        model = label.partition(":")[2]
        return ProviderUnavailable(f"OpenAI no longer serves {model!r} ({message}); {STALE_HINT}", **answer)
    if status >= 500 or status in (408, 409):  # the SDK, too, treats 408 and 409 as worth another try
        return TransientError(message, **answer)
    if status == 400 and (code in POLICY_CODES or _POLICY_TEXT.search(text)):
        return ContentPolicyError(message, **answer)
    return InvalidRequest(message, field=_field(param), **answer)


def _field(param: str | None) -> str | None:
    if not param:
        return None
    if param in _FIELDS:
        return _FIELDS[param]
    if param in _OPTION_PARAMS:
        return f"provider_options.{param}"
    return None
