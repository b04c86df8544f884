"""Swap backends in one line: the same request on a cloud model, a local one, or a stand-in.

    python examples/swap_backends.py                       # whatever is available here
    IMAGEGEN_PROVIDER=openai:gpt-image-2.6-sunburst python examples/swap_backends.py

Only PROVIDER changes between backends; imagegen adapts the size, drops what a model cannot do
(with a warning) and writes the same metadata into every PNG.
"""

from __future__ import annotations

import os
import sys

import imagegen


def pick_provider() -> str | imagegen.Provider:
    """A configured cloud model, else the embedded local model, else a FakeProvider stand-in."""
    if spec := os.environ.get("IMAGEGEN_PROVIDER"):
        return spec
    installed = imagegen.providers()
    if os.environ.get("OPENAI_API_KEY") and "openai" in installed:
        return "openai:gpt-image-2.6-sunburst"
    if "diffusers" in installed:
        return "diffusers:imagegen-mini"
    from imagegen.testing import FakeProvider

    return FakeProvider("stand-in")


PROVIDER = pick_provider()  # <- the one line to change: "openai:gpt-image-2", "diffusers:stabilityai/sdxl-turbo", ...


def main(out_dir: str = "out/swap") -> None:
    result = imagegen.generate("a red fox in fresh snow, golden hour, 35mm photo", provider=PROVIDER,
                               size="16:9", seed=7, steps=20, negative_prompt="blurry, low quality")
    paths = result.save(out_dir, prefix="fox")
    print(f"{result.provider}:{result.model} made {len(paths)} image(s): {', '.join(paths)}")
    for warning in result.warnings:
        print("  warning:", warning)


if __name__ == "__main__":
    main(*sys.argv[1:])
