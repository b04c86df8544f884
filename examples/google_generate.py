"""Google's Gemini image model through imagegen, with an API key or on Vertex AI.

    GOOGLE_API_KEY=... python examples/google_generate.py [out_dir]
    GOOGLE_GENAI_USE_VERTEXAI=true GOOGLE_CLOUD_PROJECT=my-project GOOGLE_CLOUD_LOCATION=us-central1 \\
        python examples/google_generate.py [out_dir]

Both use gemini-3.1-flash-image (Imagen was shut down on 2026-08-17). Vertex AI uses application-default
credentials (``gcloud auth application-default login``). With neither configured, the script shows what it
would send (sizes, calls, and the cost where imagegen has a price: none is known for this model, so it says
"unknown") and exits 0.
"""

from __future__ import annotations

import os
import sys

import imagegen
from imagegen.normalize import normalize

PROMPT = "a red fox in fresh snow, golden hour, 35mm photo"
PARAMS = imagegen.GenerateParams(size="1920x1080", n=2)
SPEC = "google:gemini-3.1-flash-image"


def configured_spec() -> str | None:
    vertex = os.environ.get("GOOGLE_GENAI_USE_VERTEXAI", "").lower() in ("true", "1") and (
        os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GOOGLE_API_KEY"))
    if vertex or os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY"):
        return SPEC
    return None


def dry_run(spec: str) -> None:
    """What imagegen would send for PARAMS, without sending it."""
    from imagegen_google import GoogleProvider

    provider = GoogleProvider(spec.partition(":")[2], vertexai=True)
    plan = normalize(PROMPT, PARAMS, provider.capabilities(), provider=spec)
    estimates = [provider.estimate_cost(req).usd for req in plan.requests]
    cost = "unknown" if None in estimates else f"${sum(e or 0.0 for e in estimates):.2f}"
    ratio, tier = provider.spec.locate(*plan.size)
    print(f"{spec}: {len(plan.requests)} call(s) of {[r.n for r in plan.requests]} images at "
          f"{plan.size[0]}x{plan.size[1]} (aspect {ratio}, {tier}); estimated {cost}")
    for warning in plan.warnings:
        print("  warning:", warning)


def main(out_dir: str = "out/google") -> None:
    if "google" not in imagegen.providers():
        print("imagegen-google is not installed: pip install -e providers/google")
        return
    spec = configured_spec()
    if spec is None:
        print("No Google credentials configured (GOOGLE_API_KEY, or GOOGLE_GENAI_USE_VERTEXAI=true with "
              "GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION); showing the plan instead of generating:")
        dry_run(SPEC)
        return
    with imagegen.Client(spec) as client:
        result = client.generate(PROMPT, PARAMS)
    paths = result.save(out_dir, prefix="fox")
    usd = "unknown" if result.cost.usd is None else f"${result.cost.usd:.3f}"
    print(f"{result.provider}:{result.model} made {len(result.images)} images ({usd}): {', '.join(paths)}")
    for warning in result.warnings:
        print("  warning:", warning)


if __name__ == "__main__":
    main(*sys.argv[1:])
