"""Build prompts from parts: [subject], [action], [environment], [style], [quality], [params].

    python examples/prompt_builder.py [OUT_DIR]

Styles, quality levels and negative prompts come from curated presets (see imagegen.prompt);
a ``Prompt`` goes anywhere a prompt string does, and ``kwargs()`` carries its negative prompt
and params.
"""

from __future__ import annotations

import sys

import imagegen
from imagegen.prompt import NEGATIVE_PRESETS, QUALITY_PRESETS, STYLE_PRESETS
from imagegen.testing import FakeProvider


def main(out_dir: str = "out/prompts") -> None:
    base = imagegen.Prompt("a red fox", action="leaping over a fallen log", environment="snowy pine forest at dawn",
                           quality="high", params={"size": "16:9", "seed": 11})
    print("styles:", ", ".join(STYLE_PRESETS), "\nquality:", ", ".join(QUALITY_PRESETS),
          "\nnegative presets:", ", ".join(NEGATIVE_PRESETS))
    provider = "diffusers:imagegen-mini" if "diffusers" in imagegen.providers() else FakeProvider("stand-in")
    # each style with the negatives that suit it: a photo keeps paintings out, a painted style keeps photos out
    for style, negative in (("photo", ["default", "photo"]), ("watercolor", ["default", "art"]),
                            ("pixel art", ["default", "art"])):
        prompt = base.with_(style=style, negative=negative)
        print(f"\n[{style}] {prompt}\n  negative: {prompt.negative_prompt}")
        result = imagegen.generate(prompt, provider=provider, **prompt.kwargs())
        print(f"  saved {result.save(out_dir, prefix=style.replace(' ', '-'))} at {result.image.width}x"
              f"{result.image.height}")
        for warning in result.warnings:
            print("  warning:", warning)


if __name__ == "__main__":
    main(*sys.argv[1:])
