"""The error taxonomy: one class per thing a caller can act on differently.

Retry layers look at the class only: ``RateLimited`` and ``TransientError`` are retried,
everything else is final for that provider (and may trigger fallback in a ``Client``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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

    ``provider`` names the provider spec that raised it (``"openai:dall-e-3"``) when known,
    and ``images`` holds finished images that must not be lost with the error.
    """

    retryable: bool = False

    def __init__(self, message: str = "", *, provider: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.details = details
        self.images: list[GeneratedImage] = []

    def __str__(self) -> str:
        return f"[{self.provider}] {self.message}" if self.provider else self.message


class InvalidRequest(ImageGenError, ValueError):
    """Bad parameters, caught before anything is sent or spent. ``field`` names the parameter."""

    def __init__(self, message: str, *, field: str | None = None, provider: str | None = None,
                 **details: Any) -> None:
        super().__init__(message, provider=provider, **details)
        self.field = field


class UnsupportedFeature(ImageGenError):
    """The provider cannot do what was asked, and the policy says not to work around it."""

    def __init__(self, message: str, *, field: str | None = None, provider: str | None = None,
                 **details: Any) -> None:
        super().__init__(message, provider=provider, **details)
        self.field = field


class AuthenticationError(ImageGenError):
    """401/403 or a missing key: never retried."""


class ContentPolicyError(ImageGenError):
    """The provider refused the prompt or image: not retried; fallback only when asked."""


class RateLimited(ImageGenError):
    """429 or quota: retried after ``retry_after`` seconds when the provider says how long."""

    retryable = True

    def __init__(self, message: str = "rate limited", *, retry_after: float | None = None,
                 provider: str | None = None, **details: Any) -> None:
        super().__init__(message, provider=provider, **details)
        self.retry_after = retry_after


class TransientError(ImageGenError):
    """5xx, timeouts, connection resets, truncated or undecodable bodies: retried."""

    retryable = True


class ProviderUnavailable(ImageGenError):
    """Not installed, no GPU, model missing: the message says what to do."""


class BudgetExceeded(ImageGenError):
    """Refused before any money was spent."""


class AllProvidersFailed(ImageGenError):
    """Every provider in the chain failed; ``attempts`` lists each try with its error."""

    def __init__(self, message: str, *, attempts: Sequence[Attempt] = (), **details: Any) -> None:
        super().__init__(message, **details)
        self.attempts = list(attempts)
