"""Best-of-n: generate 8 candidates, keep the 2 that CLIP says match the prompt best.

    pip install "imagegen-sdk[eval]"
    python examples/best_of_n_clip.py [CLIP_MODEL_DIR] [OUT_DIR]

CLIP_MODEL_DIR is a local CLIP model (e.g. a download of openai/clip-vit-base-patch32). Without
one, a tiny random CLIP is built so the example still runs offline; its scores mean nothing.
"""

from __future__ import annotations

import os
import sys
import tempfile

import imagegen
from imagegen.eval import ClipScorer, build_tiny_clip
from imagegen.testing import FakeProvider


def local() -> str | imagegen.Provider:
    return "diffusers:imagegen-mini" if "diffusers" in imagegen.providers() else FakeProvider("stand-in")


def main(clip_dir: str | None = None, out_dir: str = "out/best-of-n") -> None:
    clip_dir = clip_dir or os.environ.get("IMAGEGEN_CLIP")
    if not clip_dir:
        clip_dir = build_tiny_clip(tempfile.mkdtemp(prefix="tiny-clip-"), seed=5)
        print("no CLIP model given: using a tiny random one (scores are meaningless)")
    prompt = "a red circle on a blue background"  # in the embedded model's grammar; at its own size (32x32)
    result = imagegen.generate(prompt, provider=local(), n=8, seed=100, select=2, scorer=ClipScorer(clip_dir))
    for image, path in zip(result.images, result.save(out_dir, prefix="best"), strict=True):
        print(f"kept seed {image.seed} (CLIP score {image.info['score']:.2f}, {image.width}x{image.height}) -> {path}")
    for warning in result.warnings:
        print("  warning:", warning)


if __name__ == "__main__":
    main(*sys.argv[1:])
