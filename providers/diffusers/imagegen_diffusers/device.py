"""What the model will run on: a plain description (``DeviceInfo``) and the probe that fills it in.

Everything that decides how to run (``presets.choose_settings``) reads only a ``DeviceInfo``, so every
decision can be tested with a made-up device; ``probe_device`` is the one place that asks torch.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from imagegen.provider import InvalidRequest, ProviderUnavailable

from ._lazy import torch

__all__ = ["DeviceInfo", "GiB", "probe_device"]

GiB = 1024**3
KINDS = ("cuda", "mps", "cpu")
_DEVICE = re.compile(r"^(cuda|mps|cpu)(?::(\d+))?$")


@dataclass(frozen=True)
class DeviceInfo:
    """A device as the presets see it: ``kind`` ("cuda", "mps" or "cpu"), its name, memory in bytes
    (``None`` when unknown), for CUDA the compute capability (``(8, 0)`` for an A100), and for the CPU the
    cores this process may use and how busy the machine is (the 1-minute load average)."""

    kind: str
    name: str = ""
    total_memory: int | None = None
    free_memory: int | None = None
    compute_capability: tuple[int, int] | None = None
    index: int = 0
    cpu_cores: int | None = None
    cpu_load: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"DeviceInfo.kind must be one of {', '.join(KINDS)}; got {self.kind!r}")

    @property
    def torch_device(self) -> str:
        """The string torch takes: ``"cuda:0"``, ``"mps"`` or ``"cpu"``."""
        return f"cuda:{self.index}" if self.kind == "cuda" else self.kind

    def describe(self) -> str:
        parts = [self.torch_device]
        if self.name:
            parts.append(self.name)
        if self.free_memory is not None and self.total_memory:
            parts.append(f"{self.free_memory / GiB:.1f} of {self.total_memory / GiB:.1f} GiB free")
        if self.compute_capability is not None:
            parts.append(f"compute {self.compute_capability[0]}.{self.compute_capability[1]}")
        if self.cpu_cores is not None:
            load = f", load {self.cpu_load:.1f}" if self.cpu_load is not None else ""
            parts.append(f"{self.cpu_cores} cores{load}")
        return ", ".join(parts)


def parse_device(value: str | None) -> tuple[str | None, int]:
    """``"cuda:1"`` -> ("cuda", 1); None or "auto" -> (None, 0). Raises ``InvalidRequest`` otherwise."""
    if value is None or value == "auto":
        return None, 0
    m = _DEVICE.match(value.strip().lower()) if isinstance(value, str) else None
    if m is None:
        raise InvalidRequest(f"device: expected 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N'; got {value!r}",
                             field="device")
    return m[1], int(m[2] or 0)


def probe_device(requested: str | None = None) -> DeviceInfo:
    """Describe the device to run on: ``requested`` ("cuda:1", "cpu", ...) or the best one present."""
    kind, index = parse_device(requested)
    t = torch()
    if kind in (None, "cuda") and t.cuda.is_available():
        if kind is None:
            index = int(t.cuda.current_device())
        if index >= t.cuda.device_count():
            raise ProviderUnavailable(f"device cuda:{index} does not exist; this machine has "
                                      f"{t.cuda.device_count()} CUDA device(s)")
        free, total = t.cuda.mem_get_info(index)
        major, minor = t.cuda.get_device_capability(index)
        return DeviceInfo("cuda", str(t.cuda.get_device_name(index)), int(total), int(free), (int(major), int(minor)),
                          index)
    if kind == "cuda":
        raise ProviderUnavailable(
            f"device='cuda' was asked for, but PyTorch {t.__version__} sees no CUDA GPU (a CPU-only build of torch, "
            "no driver, or CUDA_VISIBLE_DEVICES hides it); install a CUDA build of torch, or use device='cpu'")
    mps = getattr(t.backends, "mps", None)
    if kind in (None, "mps") and mps is not None and mps.is_available():
        total = int(t.mps.recommended_max_memory()) if hasattr(t.mps, "recommended_max_memory") else None
        used = int(t.mps.driver_allocated_memory()) if hasattr(t.mps, "driver_allocated_memory") else 0
        return DeviceInfo("mps", "Apple MPS", total, None if total is None else max(0, total - used))
    if kind == "mps":
        raise ProviderUnavailable("device='mps' was asked for, but PyTorch sees no Apple MPS device; use device='cpu'")
    total, free = _host_memory()
    return DeviceInfo("cpu", "CPU", total, free, cpu_cores=_cores(), cpu_load=_load())


def _cores() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def _load() -> float | None:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def _host_memory() -> tuple[int | None, int | None]:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return int(os.sysconf("SC_PHYS_PAGES") * page), int(os.sysconf("SC_AVPHYS_PAGES") * page)
    except (AttributeError, ValueError, OSError):
        return None, None
