"""A/B compare a cloud model against a local one: same prompts, same seeds, side by side.

    python examples/ab_compare.py [OUT_DIR]

Writes OUT_DIR/grid.png (a labelled contact sheet), OUT_DIR/report.html (self-contained: open it
in a browser, tick the better image per prompt, export the votes as JSON) and comparison.json.
Without an OpenAI key the "cloud" side is a FakeProvider stand-in.
"""

from __future__ import annotations

import os
import sys

import imagegen
from imagegen.testing import FakeProvider


def cloud() -> str | imagegen.Provider:
    if os.environ.get("OPENAI_API_KEY") and "openai" in imagegen.providers():
        return "openai:gpt-image-2.6-sunburst"
    return FakeProvider("cloud-stand-in", price_per_image=0.04)


def local() -> str | imagegen.Provider:
    if "diffusers" in imagegen.providers():
        return "diffusers:imagegen-mini"
    return FakeProvider("local-stand-in")


def main(out_dir: str = "out/ab") -> None:
    prompts = ["a lighthouse in a storm", imagegen.Prompt("a red fox", environment="snowy forest", style="photo")]
    with imagegen.Client() as client:
        # "1:1" lets each model make a square of its own size (1024 px for GPT Image, 32 px for imagegen-mini);
        # a fixed size such as "512x512" would be changed for both, with a warning each
        cmp = client.compare(prompts, providers=[cloud(), local()], seeds=[1, 2], size="1:1")
    paths = cmp.save(out_dir)
    for row in cmp.table():
        cost = "unknown" if row["cost_usd"] is None else f"${row['cost_usd']:.2f}"
        print(f"{row['provider']:32} {row['images']} images, {row['failed']} failed, "
              f"{row['latency_s']:.2f}s mean, {cost}")
        for warning in row["warnings"]:
            print("  warning:", warning)
    print("grid:", paths["grid"], "\nreport:", paths["report"])


if __name__ == "__main__":
    main(*sys.argv[1:])
