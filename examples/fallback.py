"""Fallback from cloud to local: the order of ``providers`` is the fallback chain.

    python examples/fallback.py

A failed cloud call (timeouts, 5xx, rate limits after retries, an unavailable provider) moves on
to the next provider; the result says which one answered, every attempt is listed, and a
``fallback:`` warning explains why. Without an OpenAI key, the cloud is a stand-in that answers
503 every time, so the fallback always happens here.
"""

from __future__ import annotations

import os
import sys

import imagegen
from imagegen.testing import FakeProvider


def cloud() -> str | imagegen.Provider:
    if os.environ.get("OPENAI_API_KEY") and "openai" in imagegen.providers():
        return "openai:gpt-image-2.6-sunburst"
    outage = [imagegen.TransientError("503 Service Unavailable")] * 10
    return FakeProvider("cloud-down", name="cloud", script=outage)


def local() -> str | imagegen.Provider:
    return "diffusers:imagegen-mini" if "diffusers" in imagegen.providers() else FakeProvider("local-stand-in")


def main(out_dir: str = "out/fallback") -> None:
    retry = imagegen.RetryPolicy(attempts=2, initial=0.05, max_wait=0.2)  # impatient, for the demo
    with imagegen.Client(providers=[cloud(), local()], retry=retry) as client:
        result = client.generate("a lighthouse in a storm", size="1024x1024", seed=3)
    print(f"answered by {result.provider}:{result.model}; saved {result.save(out_dir, prefix='lighthouse')}")
    for attempt in result.attempts:
        print(f"  attempt: {attempt.provider}:{attempt.model} {attempt.status} {attempt.error or ''}")
    for warning in result.warnings:
        print("  warning:", warning)


if __name__ == "__main__":
    main(*sys.argv[1:])
