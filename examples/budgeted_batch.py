"""A budgeted batch of 100 prompts into a resumable output folder.

    python examples/budgeted_batch.py OUT_DIR [BUDGET_USD]

Every image is saved the moment it is ready (atomically), and the cost ledger lives in the
folder, so the budget covers the folder across runs: run it with $0.50, then again with $1.00,
and the second run loads the first 50 images from disk and pays only for the rest. Calls that
would pass the budget are refused before any money is spent.
"""

from __future__ import annotations

import os
import sys

import imagegen
from imagegen.testing import FakeProvider

SUBJECTS = ["a lighthouse", "a red fox", "a teapot", "a castle", "a sailboat", "a cactus", "an owl", "a bicycle",
            "a volcano", "a robot"]
STYLES = ["watercolor", "pixel art", "oil painting", "3d render", "line art", "photo", "anime", "isometric",
          "concept art", "illustration"]


def provider() -> tuple[str | imagegen.Provider, dict[str, str]]:
    """The provider and its parameters: gpt-image-2 at low quality, 1024x1024 (about $0.006 an image, priced
    before each call from imagegen-openai's table), or a priced stand-in, so the budget has work to do."""
    if os.environ.get("OPENAI_API_KEY") and "openai" in imagegen.providers():
        return "openai:gpt-image-2", {"size": "1024x1024", "quality": "low"}
    return FakeProvider("priced-stand-in", price_per_image=0.01), {"size": "256x256"}


def main(out_dir: str = "out/batch", budget: str = "0.50") -> None:
    prompts = [str(imagegen.Prompt(subject, style=style)) for subject in SUBJECTS for style in STYLES]
    ledger = os.path.join(out_dir, "ledger.sqlite")
    os.makedirs(out_dir, exist_ok=True)
    chosen, params = provider()
    with imagegen.Client(chosen, budget_usd=float(budget), ledger=ledger, max_concurrency=4) as client:
        items = client.generate_many(prompts, seed=1, out_dir=out_dir, skip_existing=True, **params)
    made = [i for i in items if isinstance(i, imagegen.GenerationResult)]
    refused = [i for i in items if isinstance(i, imagegen.BudgetExceeded)]
    failed = [i for i in items if isinstance(i, imagegen.ImageGenError) and not isinstance(i, imagegen.BudgetExceeded)]
    with imagegen.Ledger(ledger) as book:
        spent = book.spent()
    print(f"{len(made)} of {len(prompts)} prompts done, {len(refused)} refused by the budget, {len(failed)} failed; "
          f"spent ${spent:.2f} of ${float(budget):.2f} in {out_dir}")


if __name__ == "__main__":
    main(*sys.argv[1:])
