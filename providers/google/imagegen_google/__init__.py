"""imagegen-google: Imagen (Vertex AI) and Gemini image models for imagegen, via the official google-genai SDK.

    import imagegen
    r = imagegen.generate("a red fox", provider="google:gemini-2.5-flash-image")           # GOOGLE_API_KEY
    r = imagegen.generate("a red fox", provider="google:imagen-4.0-generate-001", n=6)      # Vertex AI

Heavy imports (``google.genai``) happen on first use, not on import.
"""

from .models import MODELS, ModelSpec, model_spec
from .options import GoogleOptions
from .pricing import PRICE_SOURCES, PRICES, PRICES_AS_OF
from .provider import DEFAULT_GEMINI_MODEL, DEFAULT_IMAGEN_MODEL, GoogleProvider

__all__ = [
    "DEFAULT_GEMINI_MODEL",
    "DEFAULT_IMAGEN_MODEL",
    "MODELS",
    "PRICES",
    "PRICES_AS_OF",
    "PRICE_SOURCES",
    "GoogleOptions",
    "GoogleProvider",
    "ModelSpec",
    "model_spec",
]
