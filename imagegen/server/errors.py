"""imagegen's errors as HTTP answers: one status per error class, in each protocol's own error shape.

OpenAI: ``{"error": {"message", "type", "param", "code"}}`` with the status its SDKs map to their own
exception classes (400 ``BadRequestError``, 401 ``AuthenticationError``, 404 ``NotFoundError``, 413,
429 ``RateLimitError`` with ``Retry-After``, 5xx ``InternalServerError``). AUTOMATIC1111: the body its
``api_middleware`` writes for every exception, ``{"error": <class name>, "detail", "body", "errors"}``.
Errors the server's own provider raised upstream (the vendor refused our key, timed out) are 5xx: the
client's request and key were fine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    AllProvidersFailed,
    AuthenticationError,
    BudgetExceeded,
    ContentPolicyError,
    ImageGenError,
    InvalidRequest,
    ProviderUnavailable,
    RateLimited,
    TransientError,
    UnsupportedFeature,
)
from .service import ClientGone, QueueFull, Refused

__all__ = ["HTTPError", "PayloadTooLarge", "a1111_body", "http_error", "openai_body"]


class PayloadTooLarge(InvalidRequest):
    """A request body (or an image in it) over the server's limit: 413."""


@dataclass
class HTTPError:
    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    name: str = "HTTPException"
    headers: dict[str, str] = field(default_factory=dict)


def http_error(exc: BaseException) -> HTTPError:
    """The HTTP answer for an error raised while serving a request."""
    if isinstance(exc, AllProvidersFailed) and exc.errors:
        last = http_error(exc.errors[-1])
        return HTTPError(last.status, exc.message, last.type, last.code, last.param, type(exc).__name__, last.headers)
    if not isinstance(exc, ImageGenError):
        return HTTPError(500, f"internal error: {type(exc).__name__}", "server_error", "internal_error",
                         name=type(exc).__name__)
    name = type(exc).__name__
    message = exc.message or str(exc)
    param = getattr(exc, "field", None)
    if isinstance(exc, ClientGone):  # nobody reads it; nginx's 499 says what happened
        return HTTPError(499, message, "client_closed_request", "client_closed_request", None, name)
    if isinstance(exc, Refused):
        status = exc.status or 401
        return HTTPError(status, message, "invalid_request_error", exc.code, None, name,
                         {"WWW-Authenticate": "Bearer"} if status == 401 else {})
    if isinstance(exc, PayloadTooLarge):
        return HTTPError(413, message, "invalid_request_error", "request_too_large", param, name)
    if isinstance(exc, InvalidRequest):
        if param == "model" and "not served" in message:
            return HTTPError(404, message, "invalid_request_error", "model_not_found", "model", name)
        return HTTPError(400, message, "invalid_request_error", exc.code or "invalid_value", param, name)
    if isinstance(exc, UnsupportedFeature):
        return HTTPError(400, message, "invalid_request_error", "unsupported_value", param, name)
    if isinstance(exc, ContentPolicyError):
        return HTTPError(400, message, "invalid_request_error", "content_policy_violation", None, name)
    if isinstance(exc, BudgetExceeded):
        return HTTPError(429, message, "insufficient_quota", "insufficient_quota", None, name,
                         {"x-should-retry": "false"})
    if isinstance(exc, RateLimited):
        headers = {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        code = exc.code if isinstance(exc, QueueFull) or exc.code == "rate_limit_exceeded" else "upstream_rate_limited"
        return HTTPError(429, message, "requests", code, None, name, headers)
    if isinstance(exc, AuthenticationError):
        return HTTPError(502, f"the server's provider refused its credentials: {message}", "server_error",
                         "upstream_authentication_failed", None, name)
    if isinstance(exc, TransientError):
        return HTTPError(502, message, "server_error", "upstream_error", None, name)
    if isinstance(exc, ProviderUnavailable):
        return HTTPError(503, message, "server_error", "provider_unavailable", None, name)
    return HTTPError(500, message, "server_error", exc.code or "provider_error", None, name)


def openai_body(error: HTTPError) -> dict[str, Any]:
    return {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}


def a1111_body(error: HTTPError) -> dict[str, Any]:
    return {"error": error.name, "detail": error.message, "body": "", "errors": error.message}
