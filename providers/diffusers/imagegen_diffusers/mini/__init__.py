"""imagegen-mini: a small text-to-image model trained by this project on procedural scenes.

Its weights live in `weights/` in the standard diffusers layout and load through StableDiffusionPipeline like any
Stable Diffusion checkpoint. This package only holds the scene grammar and the checker; it imports no torch.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"

__all__ = ["WEIGHTS_DIR"]
