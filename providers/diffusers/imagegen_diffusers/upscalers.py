"""Upscalers for hires fix and ``imagegen upscale``: latent interpolation and Lanczos built in, ESRGAN-family
model files through spandrel (an optional extra).

The names are AUTOMATIC1111's (``modules/shared.py``, ``latent_upscale_modes``; ``modules/upscaler.py`` for
Lanczos and Nearest), matched in any case: ``latent`` (bilinear), ``latent (antialiased)``, ``latent (bicubic)``,
``latent (bicubic antialiased)``, ``latent (nearest)``, ``latent (nearest-exact)``, ``lanczos``, ``nearest``. Anything
else is a path to a model file (``.pth``, ``.pt``, ``.safetensors``: ESRGAN, Real-ESRGAN, SwinIR, ...), loaded
with spandrel's ``ModelLoader`` when ``imagegen-diffusers[upscalers]`` is installed; its output is resized to the
target with Lanczos, as A1111 does with a 4x model asked for 2x.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagegen.provider import InvalidRequest, ProviderUnavailable

from ._lazy import torch

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["DEFAULT", "LATENT_MODES", "MODEL_SUFFIXES", "PIXEL_FILTERS", "Upscaler", "resolve_upscaler",
           "upscale_image", "upscale_latents"]

#: A1111's default hires upscaler.
DEFAULT = "latent"
#: name -> (torch interpolation mode, antialias)
LATENT_MODES = {
    "latent": ("bilinear", False), "latent (antialiased)": ("bilinear", True),
    "latent (bicubic)": ("bicubic", False), "latent (bicubic antialiased)": ("bicubic", True),
    "latent (nearest)": ("nearest", False), "latent (nearest-exact)": ("nearest-exact", False),
}
#: name -> PIL resampling filter name
PIXEL_FILTERS = {"lanczos": "LANCZOS", "nearest": "NEAREST"}
MODEL_SUFFIXES = (".pth", ".pt", ".safetensors", ".ckpt")
EXTRA = "imagegen-diffusers[upscalers]"


@dataclass(frozen=True)
class Upscaler:
    """``kind`` is "latent" (works on the latents, before decoding), "pixel" (a PIL filter) or "model" (a file)."""

    name: str
    kind: str
    path: str | None = None

    @property
    def label(self) -> str:
        """What metadata records: A1111's spelling for the built-in ones, the file name for a model."""
        if self.kind == "model":
            assert self.path is not None
            return os.path.splitext(os.path.basename(self.path))[0]
        return self.name[0].upper() + self.name[1:]


def resolve_upscaler(name: str | None, *, field: str = "hires") -> Upscaler:
    """The upscaler called ``name`` (None: ``latent``), checked before any work; a model file needs spandrel."""
    key = (name or DEFAULT).strip()
    lowered = " ".join(key.lower().split())
    if lowered in LATENT_MODES:
        return Upscaler(lowered, "latent")
    if lowered in PIXEL_FILTERS:
        return Upscaler(lowered, "pixel")
    path = os.path.abspath(os.path.expanduser(key))
    if not os.path.isfile(path) or not path.lower().endswith(MODEL_SUFFIXES):
        names = ", ".join([*LATENT_MODES, *PIXEL_FILTERS])
        raise InvalidRequest(f"{field}: unknown upscaler {name!r}; use one of {names}, or the path of an upscaler "
                             f"model file ({', '.join(MODEL_SUFFIXES)})", field=field)
    if importlib.util.find_spec("spandrel") is None:
        raise ProviderUnavailable(f"{field}: upscaler model {name!r} needs spandrel, which is not installed: "
                                  f"pip install '{EXTRA}' (or use the built-in 'latent' or 'lanczos')")
    return Upscaler(path, "model", path)


def upscale_latents(latents: Any, width: int, height: int, upscaler: Upscaler, factor: int) -> Any:
    """Latents interpolated to the latent size of ``width`` x ``height`` (``factor``: the VAE's)."""
    mode, antialias = LATENT_MODES[upscaler.name]
    return torch().nn.functional.interpolate(latents, size=(height // factor, width // factor), mode=mode,
                                             antialias=antialias)


def upscale_image(image: PILImage.Image, width: int, height: int, upscaler: Upscaler, device: str = "cpu",
                  models: dict[str, Any] | None = None) -> PILImage.Image:
    """``image`` at ``width`` x ``height`` through a PIL filter or an upscaler model (cached in ``models``)."""
    from PIL import Image

    if upscaler.kind == "pixel":
        return image.resize((width, height), getattr(Image.Resampling, PIXEL_FILTERS[upscaler.name]))
    if upscaler.kind != "model" or upscaler.path is None:
        raise ValueError(f"{upscaler.name} upscales latents, not images")
    model = (models or {}).get(upscaler.path)
    if model is None:
        model = load_model(upscaler.path, device)
        if models is not None:
            models[upscaler.path] = model
    enlarged = _run_model(model, image, device)
    return enlarged if enlarged.size == (width, height) else enlarged.resize((width, height),
                                                                              Image.Resampling.LANCZOS)


def load_model(path: str, device: str = "cpu") -> Any:
    """An image-to-image upscaler model from ``path``, through spandrel's architecture detection."""
    try:
        import spandrel
    except ImportError:
        raise ProviderUnavailable(f"upscaler model {path!r} needs spandrel, which is not installed: "
                                  f"pip install '{EXTRA}'") from None
    try:
        model = spandrel.ModelLoader(torch().device(device)).load_from_file(path)
    except Exception as exc:  # unknown architecture, corrupt file
        raise InvalidRequest(f"hires: cannot load upscaler model {path} ({type(exc).__name__}: {exc})".splitlines()[0],
                             field="hires") from exc
    if not isinstance(model, spandrel.ImageModelDescriptor):
        raise InvalidRequest(f"hires: {path} is a {type(model).__name__}, not an image upscaler model", field="hires")
    return model.to(torch().device(device)).eval()


def _run_model(model: Any, image: PILImage.Image, device: str) -> PILImage.Image:
    import numpy as np
    from PIL import Image

    t = torch()
    pixels = t.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    with t.inference_mode():
        out = model(pixels.to(device)).clamp(0, 1)
    array = (out[0].permute(1, 2, 0).float().cpu().numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(array)
