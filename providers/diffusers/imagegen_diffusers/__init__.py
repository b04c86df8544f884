"""imagegen-diffusers: local Stable Diffusion (SD 1.x, SD 2.x, SDXL) and the embedded imagegen-mini model.

    import imagegen
    r = imagegen.generate("a red circle on a blue background", provider="diffusers:imagegen-mini", seed=1)
    r = imagegen.generate("a castle", provider="diffusers:/models/sd15.safetensors", steps=20,
                          scheduler="dpm++ 2m karras", seed=1, n=2)

    from imagegen_diffusers import DiffusersProvider
    p = DiffusersProvider("stabilityai/stable-diffusion-xl-base-1.0", preset="fast")

Importing this package imports no torch or diffusers: they load with the first model.
"""

from .cache import CacheKey, PipelineCache
from .device import DeviceInfo, probe_device
from .engine import Cancelled
from .models import MINI, ModelInfo
from .presets import LADDER, PRESETS, Settings, choose_settings
from .provider import FAMILY_DEFAULTS, OPERATIONS, SUPPORTS, DiffusersProvider, shared_cache
from .schedulers import SAMPLERS, Sampler, resolve_sampler, sampler_names

__all__ = [
    "FAMILY_DEFAULTS",
    "LADDER",
    "MINI",
    "OPERATIONS",
    "PRESETS",
    "SAMPLERS",
    "SUPPORTS",
    "CacheKey",
    "Cancelled",
    "DeviceInfo",
    "DiffusersProvider",
    "ModelInfo",
    "PipelineCache",
    "Sampler",
    "Settings",
    "choose_settings",
    "probe_device",
    "resolve_sampler",
    "sampler_names",
    "shared_cache",
]
