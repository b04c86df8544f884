"""imagegen: one call, many image models.

    import imagegen
    r = imagegen.generate("a red fox in snow", provider="openai:gpt-image-2", size="16:9")
    r.images[0].save("fox.png")
"""

from ._version import __version__ as __version__
from .budget import Budget
from .catalog import Difference, ModelInfo
from .client import DEFAULT_FALLBACK, Client, agenerate, astream, generate, stream
from .compare import Comparison
from .errors import (
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
from .ledger import Ledger, LedgerEntry, LedgerTotal
from .metadata import ImageMetadata, read_metadata
from .params import GenerateParams, LoRA, Size
from .prompt import Prompt
from .provider import Capabilities, PartialImage, ProgressEvent, Provider, ProviderRequest, ProviderResponse
from .registry import live_differences, models, providers, register_provider
from .result import Attempt, Cost, GeneratedImage, GenerationResult, GenerationWarning
from .retry import RetryPolicy
from .settings import HiresSettings, ImageSettings, ModelRef

__all__ = [
    "DEFAULT_FALLBACK",
    "AllProvidersFailed",
    "Attempt",
    "AuthenticationError",
    "Budget",
    "BudgetExceeded",
    "Capabilities",
    "Client",
    "Comparison",
    "ContentPolicyError",
    "Cost",
    "Difference",
    "GenerateParams",
    "GeneratedImage",
    "GenerationResult",
    "GenerationWarning",
    "HiresSettings",
    "ImageGenError",
    "ImageMetadata",
    "ImageSettings",
    "InvalidRequest",
    "Ledger",
    "LedgerEntry",
    "LedgerTotal",
    "LoRA",
    "ModelInfo",
    "ModelRef",
    "PartialImage",
    "ProgressEvent",
    "Prompt",
    "Provider",
    "ProviderRequest",
    "ProviderResponse",
    "ProviderUnavailable",
    "RateLimited",
    "RetryPolicy",
    "Size",
    "TransientError",
    "UnsupportedFeature",
    "agenerate",
    "astream",
    "generate",
    "live_differences",
    "models",
    "providers",
    "read_metadata",
    "register_provider",
    "stream",
]
