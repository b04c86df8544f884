"""Score a trained imagegen-mini folder on the 50 held-out captions and record the result in its training.json.

    python providers/diffusers/training/evaluate_mini.py providers/diffusers/imagegen_diffusers/mini/weights

First it picks how the model samples best, on a validation set (50 captions of the training distribution, seeds
from 1000) rather than the held-out captions: the guidance cutoff (the share of steps that keep classifier-free
guidance) that scores best at guidance 7, then the guidance that scores best with that cutoff. Both go to the
folder's `imagegen.json`, which imagegen-diffusers reads as the model's defaults. Then it scores the held-out
captions with the same protocol as the tests (caption i with seed i, 20 DPM-Solver++ steps, the recommended cutoff)
at the recommended guidance, at 1 and at 7, and at 7 guiding every step; the checker reads colour, shape, background
and corner from the pixels.
"""

# diffusers ships without complete type information, so strict mypy would only restate that here:
# mypy: disable-error-code="attr-defined,no-untyped-call,operator,arg-type,no-any-return"
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch
from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imagegen_diffusers.guidance import cutoff_kwargs
from imagegen_diffusers.mini import checker, scenes

STEPS = 20
GUIDANCE_CANDIDATES = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
CUTOFF_CANDIDATES = (1.0, 0.5, 0.4, 0.3, 0.2)


def load(folder: Path) -> Any:
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def validation_specs(count: int = 50, seed: int = 1000) -> list[scenes.Spec]:
    """Single-object captions of the training distribution: no held-out triple, none of the test captions."""
    rng = random.Random(seed)
    held = set(scenes.held_out_triples())
    specs: list[scenes.Spec] = []
    while len(specs) < count:
        colour, shape = rng.choice(list(scenes.COLOURS)), rng.choice(scenes.SHAPES)
        background = rng.choice([c for c in scenes.COLOURS if c != colour])
        if (colour, shape, background) in held:
            continue
        corner = rng.choice(scenes.CORNERS) if rng.random() < 0.5 else None
        specs.append(scenes.Spec((scenes.Thing(colour, shape),), background=background, corner=corner))
    return specs


def score(
    pipe: Any, specs: list[scenes.Spec], guidance: float, cutoff: float = 1.0, first_seed: int = 0
) -> dict[str, Any]:
    start = time.time()
    generators = [torch.Generator().manual_seed(first_seed + i) for i in range(len(specs))]
    images = pipe(
        [s.caption for s in specs],
        num_inference_steps=STEPS,
        guidance_scale=guidance,
        generator=generators,
        **cutoff_kwargs(pipe, cutoff),
    ).images
    verdicts = [checker.check(im, s) for im, s in zip(images, specs, strict=True)]
    cornered = [v for v, s in zip(verdicts, specs, strict=True) if s.corner is not None]
    return {
        "colour_accuracy": sum(v.colour for v in verdicts) / len(verdicts),
        "shape_accuracy": sum(v.shape for v in verdicts) / len(verdicts),
        "background_accuracy": sum(bool(v.background) for v in verdicts) / len(verdicts),
        "corner_accuracy": sum(bool(v.position) for v in cornered) / max(1, len(cornered)),
        "all_correct": sum(v.ok for v in verdicts) / len(verdicts),
        "seconds_for_50_images": round(time.time() - start, 1),
    }


def pick_sampling(pipe: Any) -> tuple[float, float, dict[str, dict[str, float]]]:
    """(guidance, cutoff) with the most fully correct validation images: first the cutoff at guidance 7 (ties: the
    later cutoff, closer to plain guidance), then the guidance at that cutoff (ties: the lower guidance)."""
    specs = validation_specs()
    by_cutoff = {f"{c:g}": score(pipe, specs, 7.0, c, first_seed=1000)["all_correct"] for c in CUTOFF_CANDIDATES}
    cutoff = max(CUTOFF_CANDIDATES, key=lambda c: (by_cutoff[f"{c:g}"], c))
    by_guidance = {f"{g:g}": score(pipe, specs, g, cutoff, first_seed=1000)["all_correct"] for g in GUIDANCE_CANDIDATES}
    guidance = max(GUIDANCE_CANDIDATES, key=lambda g: (by_guidance[f"{g:g}"], -g))
    return guidance, cutoff, {"cutoff_at_guidance_7": by_cutoff, f"guidance_at_cutoff_{cutoff:g}": by_guidance}


def evaluate(folder: Path) -> dict[str, Any]:
    pipe = load(folder)
    guidance, cutoff, validation = pick_sampling(pipe)
    recommended = {"steps": STEPS, "guidance": guidance, "guidance_cutoff": cutoff}
    (folder / "imagegen.json").write_text(json.dumps(recommended, indent=2) + "\n")
    specs = scenes.held_out_specs()
    results: dict[str, Any] = {
        "captions": len(specs),
        "steps": STEPS,
        "sampler": "DPMSolverMultistepScheduler",
        "recommended_guidance": guidance,
        "recommended_guidance_cutoff": cutoff,
        "validation_all_correct": validation,
    }
    for g in dict.fromkeys((guidance, 1.0, 7.0)):
        results[f"guidance_{g:g}"] = score(pipe, specs, g, cutoff)
    results["guidance_7_every_step"] = score(pipe, specs, 7.0)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = evaluate(args.folder)
    record_path = args.folder / "training.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    record["evaluation"] = results
    record_path.write_text(json.dumps(record, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
