"""The error taxonomy: one class per thing a caller can act on differently.

Retry layers look at the class only: ``RateLimited`` and ``TransientError`` are retried,
everything else is final for that provider (and may trigger fallback in a ``Client``).

What an error knows travels in typed attributes, never in a dict read by key: every error has
``provider``, ``images`` (finished images that must not be lost with it), ``attempts`` (every try,
when a ``Client`` raised it) and ``request_id`` (imagegen's id of the request: the one in
``GenerationResult.request_id`` and the ledger); an error mapped from a provider's answer adds
``status`` (the HTTP status), ``code`` (the provider's own error code) and ``provider_request_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from .result import Attempt, GeneratedImage

__all__ = [
    "AllProvidersFailed",
    "AuthenticationError",
    "BudgetExceeded",
    "ContentPolicyError",
    "ImageGenError",
    "InvalidRequest",
    "ProviderUnavailable",
    "RateLimited",
    "TransientError",
    "UnsupportedFeature",
]


class ImageGenError(Exception):
    """Base class of every error imagegen raises on purpose.

    ``provider`` names the provider spec that raised it (``"openai:dall-e-3"``) when known.
    ``status``, ``code`` and ``provider_request_id`` are what the provider answered (an HTTP status,
    its error code such as ``"insufficient_quota"`` or ``"RESOURCE_EXHAUSTED"``, its id of the call).
    """

    retryable: ClassVar[bool] = False

    def __init__(self, message: str = "", *, provider: str | None = None, status: int | None = None,
                 code: str | None = None, provider_request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.code = code
        self.provider_request_id = provider_request_id
        self.request_id: str | None = None
        self.images: list[GeneratedImage] = []
        self.attempts: list[Attempt] = []

    def __str__(self) -> str:
        return f"[{self.provider}] {self.message}" if self.provider else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # keyword-only constructor arguments: rebuild from the state, not by calling __init__ again
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[ImageGenError], args: tuple[object, ...], state: dict[str, object]) -> ImageGenError:
    error = cls.__new__(cls, *args)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class InvalidRequest(ImageGenError, ValueError):
    """Bad parameters, caught before anything is sent or spent. ``field`` names the parameter."""

    def __init__(self, message: str, *, field: str | None = None, provider: str | None = None,
                 status: int | None = None, code: str | None = None,
                 provider_request_id: str | None = None) -> None:
        super().__init__(message, provider=provider, status=status, code=code,
                         provider_request_id=provider_request_id)
        self.field = field


class UnsupportedFeature(ImageGenError):
    """The provider cannot do what was asked, and the policy says not to work around it."""

    def __init__(self, message: str, *, field: str | None = None, provider: str | None = None) -> None:
        super().__init__(message, provider=provider)
        self.field = field


class AuthenticationError(ImageGenError):
    """401/403 or a missing key: never retried."""


class ContentPolicyError(ImageGenError):
    """The provider refused the prompt or image: not retried; fallback only when asked.
    ``reasons`` holds what the provider said about each refused image, when it said anything."""

    def __init__(self, message: str, *, reasons: Sequence[str] = (), provider: str | None = None,
                 status: int | None = None, code: str | None = None,
                 provider_request_id: str | None = None) -> None:
        super().__init__(message, provider=provider, status=status, code=code,
                         provider_request_id=provider_request_id)
        self.reasons = list(reasons)


class RateLimited(ImageGenError):
    """429 or quota: retried after ``retry_after`` seconds when the provider says how long."""

    retryable = True

    def __init__(self, message: str = "rate limited", *, retry_after: float | None = None,
                 provider: str | None = None, status: int | None = None, code: str | None = None,
                 provider_request_id: str | None = None) -> None:
        super().__init__(message, provider=provider, status=status, code=code,
                         provider_request_id=provider_request_id)
        self.retry_after = retry_after


class TransientError(ImageGenError):
    """5xx, timeouts, connection resets, truncated or undecodable bodies: retried."""

    retryable = True


class ProviderUnavailable(ImageGenError):
    """Not installed, no GPU, model missing: the message says what to do."""


class BudgetExceeded(ImageGenError):
    """Refused before any money was spent: ``limit_usd`` is the cap, ``spent_usd`` what was spent or
    reserved when the call was refused, ``estimate_usd`` what the call would have cost (None: unknown)."""

    def __init__(self, message: str, *, limit_usd: float | None = None, spent_usd: float | None = None,
                 estimate_usd: float | None = None, provider: str | None = None) -> None:
        super().__init__(message, provider=provider)
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.estimate_usd = estimate_usd


class AllProvidersFailed(ImageGenError):
    """Every provider in the chain failed; ``attempts`` lists each try with its error, and ``errors``
    the error that ended each provider, in chain order."""

    def __init__(self, message: str, *, attempts: Sequence[Attempt] = (), errors: Sequence[ImageGenError] = (),
                 provider: str | None = None) -> None:
        super().__init__(message, provider=provider)
        self.attempts = list(attempts)
        self.errors = list(errors)
