"""Optimization presets: how to run a model on a device, as a pure function of a ``DeviceInfo``.

``choose_settings(device, preset, family=..., width=..., height=..., batch=...)`` decides the dtype, the
attention kernel, channels-last, fused QKV projections, ``torch.compile``, VAE slicing/tiling and CPU
offload, from the device's kind, compute capability and free memory against an estimate of what the model
needs. Nothing here touches torch, so every branch is testable with a made-up device.

Presets:

- ``auto`` (default): half precision on CUDA (bfloat16 on Ampere and newer, float16 before), SDPA attention,
  channels-last and fused QKV; memory savers only as far as free memory requires; VAE tiling for large images.
- ``quality``: float32 on CUDA when it fits with room to spare, else as ``auto``; no fused kernels.
- ``fast``: as ``auto``, without the large-image VAE tiling, and larger batches.
- ``max``: as ``fast``, plus ``torch.compile`` of the UNet (CUDA only; the first call compiles).
- ``low-memory``: every saver: attention and VAE slicing, VAE tiling, and model CPU offload on CUDA
  (sequential offload when even the UNet does not fit).

On Apple MPS: float16 with attention slicing. On CPU: float32 and nothing else (no compile: first calls
stay fast), on as many threads as the process has cores. When CUDA runs out of memory anyway, ``LADDER``
lists the steps the provider takes, in order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from imagegen.provider import InvalidRequest

from .device import DeviceInfo, GiB

__all__ = ["FAMILIES", "LADDER", "PRESETS", "Settings", "apply_rung", "call_settings", "choose_settings", "next_rung"]

PRESETS: tuple[str, ...] = ("auto", "quality", "fast", "max", "low-memory")
FAMILIES: tuple[str, ...] = ("sd1", "sd2", "sdxl")
DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")
#: Out-of-memory steps, in order: each is tried once, then the next (offload rungs on CUDA only).
LADDER: tuple[str, ...] = ("vae-slicing", "attention-slicing", "model-offload", "sequential-offload", "smaller-batch")

#: Half-precision bytes of all weights (UNet, VAE, text encoders) when the model's own size is unknown.
_WEIGHTS_HALF = {"sd1": 2.0 * GiB, "sd2": 2.6 * GiB, "sdxl": 6.5 * GiB}
#: The UNet's share of those weights: what has to fit at once under model offload.
_UNET_SHARE = {"sd1": 0.80, "sd2": 0.68, "sdxl": 0.76}
#: Activation memory per image and megapixel in half precision: the UNet with classifier-free guidance,
#: and a whole-image VAE decode. Rough, on the safe side; a tiled decode needs about one tile's worth.
_UNET_PER_MP = 0.8 * GiB
_VAE_PER_MP = 3.0 * GiB
_VAE_TILE = 0.5 * GiB
#: CUDA context, allocator slack and fragmentation.
_RESERVE = 0.5 * GiB
#: Images larger than this many megapixels get VAE tiling under "auto", whatever the memory.
_LARGE_MP = 2.0


@dataclass(frozen=True)
class Settings:
    """How a model runs: chosen once per loaded model, reported with every result."""

    preset: str
    device: str
    dtype: str
    attention: str = "sdpa"  # "sdpa" (PyTorch scaled-dot-product attention) or "sliced"
    channels_last: bool = False
    fused_qkv: bool = False
    compile_unet: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    offload: str = "none"  # "none", "model" or "sequential"
    max_batch: int = 4
    threads: int | None = None  # CPU: torch threads while generating (None: leave torch's setting)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def savers(self) -> list[str]:
        """The memory savers in effect, by ladder name."""
        on = [("vae-slicing", self.vae_slicing or self.vae_tiling), ("attention-slicing", self.attention == "sliced"),
              ("model-offload", self.offload == "model"), ("sequential-offload", self.offload == "sequential")]
        return [name for name, active in on if active]


def choose_settings(device: DeviceInfo, preset: str = "auto", *, family: str = "sd1", width: int | None = None,
                    height: int | None = None, batch: int = 1, params: int | None = None,
                    dtype: str | None = None) -> Settings:
    """The settings ``preset`` picks for a ``family`` model on ``device``, for images of ``width`` x
    ``height`` made ``batch`` at a time. ``params``: the model's parameter count when known (else a
    per-family estimate). ``dtype`` forces a dtype ("float16", ...) instead of the preset's choice."""
    if preset not in PRESETS:
        raise InvalidRequest(f"preset: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}", field="preset")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}; got {family!r}")
    if dtype is not None and dtype not in DTYPES:
        raise InvalidRequest(f"dtype: expected one of {', '.join(DTYPES)} (or None for the preset's choice); "
                             f"got {dtype!r}", field="dtype")
    side = {"sd1": 512, "sd2": 768, "sdxl": 1024}[family]
    mp = (width or side) * (height or side) / 1e6
    need = _Need(family, params, mp, max(1, batch))
    if device.kind == "cpu":
        return _cpu(device, preset, need, dtype)
    if device.kind == "mps":
        return _mps(device, preset, need, dtype)
    return _cuda(device, preset, need, dtype)


@dataclass(frozen=True)
class _Need:
    family: str
    params: int | None
    mp: float
    batch: int

    def weights(self, dtype: str) -> float:
        half = self.params * 2 if self.params else _WEIGHTS_HALF[self.family]
        return half * _scale(dtype)

    def tier(self, free: int | None, dtype: str, *, offload: bool) -> int:
        """0: everything fits; 1: with VAE slicing/tiling; 2: plus attention slicing; 3: with model
        offload; 4: only sequential offload (1-2 without offload when offload is not possible)."""
        if free is None:
            return 0
        room = free - _RESERVE
        f = _scale(dtype)
        weights = self.weights(dtype)
        unet_act = self.batch * self.mp * _UNET_PER_MP * f
        vae_full = self.batch * self.mp * _VAE_PER_MP * f
        vae_small = min(self.mp * _VAE_PER_MP, _VAE_TILE) * f
        if weights + unet_act + vae_full <= room:
            return 0
        if weights + unet_act + vae_small <= room:
            return 1
        if weights + unet_act / 2 + vae_small <= room or not offload:
            return 2
        if weights * _UNET_SHARE[self.family] + unet_act / 2 + vae_small <= room:
            return 3
        return 4


def _scale(dtype: str) -> float:
    return 2.0 if dtype == "float32" else 1.0


def _gib(n: float | None) -> str:
    return "unknown" if n is None else f"{n / GiB:.1f} GiB"


def _with_tier(s: Settings, tier: int) -> Settings:
    return replace(s, vae_slicing=s.vae_slicing or tier >= 1, vae_tiling=s.vae_tiling or tier >= 1,
                   attention="sliced" if tier >= 2 else s.attention,
                   offload="sequential" if tier >= 4 else "model" if tier >= 3 else s.offload,
                   max_batch=1 if tier >= 3 else 2 if tier >= 1 else s.max_batch)


_TIER_WORDS = ("no memory savers needed", "VAE slicing and tiling", "attention and VAE slicing",
               "model CPU offload", "sequential CPU offload")


def cpu_threads(device: DeviceInfo) -> int | None:
    """Threads for a CPU run: the cores this process may use; None when they are unknown. Never the machine's
    load: a thread count that followed it would change the summation order between two runs of one seed, and
    with it the last bits of the pixels (replay promises the same image)."""
    return device.cpu_cores


def _cpu(device: DeviceInfo, preset: str, need: _Need, dtype: str | None) -> Settings:
    dt = dtype or "float32"
    low = preset == "low-memory"
    tier = max(need.tier(device.free_memory, dt, offload=False), 2 if low else 0)
    threads = cpu_threads(device)
    s = _with_tier(Settings(preset, device.torch_device, dt, max_batch=1 if low else 4, threads=threads), tier)
    using = f", {threads} thread(s) of {device.cpu_cores} cores" if threads is not None else ""
    return replace(s, reason=f"cpu: {dt}, no compile (first calls stay fast){using}; {need.weights(dt) / GiB:.1f} "
                             f"GiB of weights, {_gib(device.free_memory)} free: {_TIER_WORDS[tier]}")


def _mps(device: DeviceInfo, preset: str, need: _Need, dtype: str | None) -> Settings:
    dt = dtype or ("float32" if preset == "quality" and need.tier(device.free_memory, "float32", offload=False) == 0
                   else "float16")
    low = preset == "low-memory"
    tier = max(need.tier(device.free_memory, dt, offload=False), 2 if low else 0)
    s = _with_tier(Settings(preset, device.torch_device, dt, attention="sliced", max_batch=1 if low else 4), tier)
    return replace(s, reason=f"mps: {dt} with attention slicing; {_gib(device.free_memory)} free: "
                             f"{_TIER_WORDS[tier]}")


def _cuda(device: DeviceInfo, preset: str, need: _Need, dtype: str | None) -> Settings:
    cc = device.compute_capability or (0, 0)
    half = "bfloat16" if cc >= (8, 0) else "float16"
    why = f"{half} (compute {cc[0]}.{cc[1]}{', Ampere or newer' if half == 'bfloat16' else ''})"
    dt = dtype or half
    if dtype is None and preset == "quality":
        # float32 only when the whole model and a full-size decode fit with a quarter to spare
        room = (device.free_memory or 0) / 1.25
        if device.free_memory is not None and need.tier(int(room), "float32", offload=True) == 0:
            dt, why = "float32", "float32 (quality, fits in memory)"
    elif dtype is not None:
        why = f"{dtype} (asked for)"
    low = preset == "low-memory"
    speedy = preset in ("auto", "fast", "max")
    tier = max(need.tier(device.free_memory, dt, offload=True), 3 if low else 0)
    s = Settings(preset, device.torch_device, dt, attention="sdpa", channels_last=tier < 3, fused_qkv=speedy,
                 compile_unet=preset == "max", max_batch=8 if preset in ("fast", "max") else 1 if low else 4)
    s = _with_tier(s, tier)
    if preset in ("auto", "quality") and need.mp > _LARGE_MP:
        s = replace(s, vae_tiling=True)
    extras = [w for w, on in (("channels-last", s.channels_last), ("fused QKV", s.fused_qkv),
                              ("torch.compile UNet", s.compile_unet)) if on]
    return replace(s, reason=f"cuda: {why}, SDPA{', ' if extras else ''}{', '.join(extras)}; needs about "
                             f"{need.weights(dt) / GiB:.1f} GiB of weights, {_gib(device.free_memory)} free: "
                             f"{_TIER_WORDS[tier]}")


def call_settings(s: Settings, width: int, height: int) -> Settings:
    """``s`` adjusted for one call: VAE tiling for a large image under the presets that want it."""
    large = width * height / 1e6 > _LARGE_MP
    if s.vae_tiling or not large or s.preset not in ("auto", "quality", "low-memory"):
        return s
    return replace(s, vae_tiling=True)


def next_rung(s: Settings, batch: int) -> str | None:
    """The next out-of-memory step for settings ``s`` making ``batch`` images at once, or None when
    nothing is left to try."""
    for rung in LADDER:
        if rung == "vae-slicing" and not (s.vae_slicing and s.vae_tiling):
            return rung
        if rung == "attention-slicing" and s.attention != "sliced":
            return rung
        if rung == "model-offload" and s.device.startswith("cuda") and s.offload == "none":
            return rung
        if rung == "sequential-offload" and s.device.startswith("cuda") and s.offload != "sequential":
            return rung
        if rung == "smaller-batch" and batch > 1:
            return rung
    return None


def apply_rung(s: Settings, rung: str, batch: int) -> tuple[Settings, int]:
    """Settings and batch size after taking ``rung``."""
    if rung == "vae-slicing":
        return replace(s, vae_slicing=True, vae_tiling=True), batch
    if rung == "attention-slicing":
        return replace(s, attention="sliced"), batch
    if rung == "model-offload":
        return replace(s, offload="model", channels_last=False), batch
    if rung == "sequential-offload":
        return replace(s, offload="sequential", channels_last=False), batch
    if rung == "smaller-batch":
        smaller = max(1, batch // 2)
        return replace(s, max_batch=smaller), smaller
    raise ValueError(f"unknown rung {rung!r}; known: {', '.join(LADDER)}")
