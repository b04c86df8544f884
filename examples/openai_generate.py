"""OpenAI's image models through imagegen: the same prompt from GPT Image 2.6 Sunburst and GPT Image 2.

    OPENAI_API_KEY=sk-... python examples/openai_generate.py [out_dir]

It makes one 16:9 image with gpt-image-2.6-sunburst (sent at exactly 1360x768: the gpt-image-2 family takes
any size in 16 px steps) and one square image with gpt-image-2 at medium quality, both billed by tokens (the
cost comes from the usage the API reports), and saves both as PNGs with their metadata; a few cents at
OpenAI's list prices. ``OPENAI_BASE_URL`` points it at Azure OpenAI or another compatible server. With no
key set, it shows what it would send (sizes, calls, and the most it can cost where the price table knows) and exits 0.
"""

from __future__ import annotations

import os
import sys

import imagegen
from imagegen.normalize import normalize

PROMPT = "a red fox in fresh snow, golden hour, 35mm photo"
JOBS = [
    ("openai:gpt-image-2.6-sunburst", imagegen.GenerateParams(size="16:9", quality="low")),
    ("openai:gpt-image-2", imagegen.GenerateParams(size="1:1", quality="medium")),
]


def dry_run() -> None:
    """What imagegen would send for each job, without sending it (no key needed)."""
    from imagegen_openai import OpenAIProvider

    for spec, params in JOBS:
        provider = OpenAIProvider(spec.partition(":")[2])
        plan = normalize(PROMPT, params, provider.capabilities(), provider=spec)
        estimates = [provider.estimate_cost(req).usd for req in plan.requests]
        usd = "unknown" if None in estimates else f"${sum(e or 0.0 for e in estimates):.3f}"
        print(f"{spec}: {len(plan.requests)} call(s) at {plan.size[0]}x{plan.size[1]}, quality {params.quality}; "
              f"at most {usd}")
        for warning in plan.warnings:
            print("  warning:", warning)


def main(out_dir: str = "out/openai") -> None:
    if "openai" not in imagegen.providers():
        print("imagegen-openai is not installed: pip install -e providers/openai")
        return
    if not os.environ.get("OPENAI_API_KEY"):
        print("No OPENAI_API_KEY set; showing what would be sent instead of generating:")
        dry_run()
        return
    with imagegen.Client() as client:
        for spec, params in JOBS:
            result = client.generate(PROMPT, params, provider=spec)
            paths = result.save(out_dir, prefix=f"fox-{result.model}")
            usd = "unknown" if result.cost.usd is None else f"${result.cost.usd:.3f} ({result.cost.source})"
            print(f"{spec} made {len(result.images)} image(s), {usd}: {', '.join(paths)}")
            for image in result.images:
                if image.revised_prompt:
                    print("  revised prompt:", image.revised_prompt)
            for warning in result.warnings:
                print("  warning:", warning)


if __name__ == "__main__":
    main(*sys.argv[1:])
