"""imagegen-openai: OpenAI's image models (DALL·E 2, DALL·E 3, GPT Image) for imagegen, via the official openai SDK.

    import imagegen
    r = imagegen.generate("a red fox", provider="openai:dall-e-3", size="16:9")        # OPENAI_API_KEY
    r = imagegen.generate("a red fox", provider="openai:gpt-image-1", quality="high", n=2)

``openai`` itself is imported on first use (the first call), not on import.
"""

from .models import GENERIC, MODELS, ModelSpec, model_spec
from .options import OpenAIOptions
from .pricing import PRICES_ENV, PriceTable, builtin_prices, load_prices
from .provider import DEFAULT_MODEL, OpenAIProvider

__all__ = [
    "DEFAULT_MODEL",
    "GENERIC",
    "MODELS",
    "PRICES_ENV",
    "ModelSpec",
    "OpenAIOptions",
    "OpenAIProvider",
    "PriceTable",
    "builtin_prices",
    "load_prices",
    "model_spec",
]
