"""Loosely typed handles to the heavy modules, imported on first use.

diffusers builds its classes through untyped decorators and torch is large: both are reached through these
functions, typed ``Any``, so ``import imagegen_diffusers`` stays light and the typed code around them needs
no blanket ignores.
"""

from __future__ import annotations

from typing import Any

__all__ = ["diffusers", "torch"]


def torch() -> Any:
    import torch as module

    return module


def diffusers() -> Any:
    import diffusers as module

    return module
