"""Score a trained imagegen-mini folder on the 50 held-out captions and record the result in its training.json.

    python providers/diffusers/training/evaluate_mini.py providers/diffusers/imagegen_diffusers/mini/weights

Same protocol as the tests: caption i with seed i, 20 DPM-Solver++ steps, guidance 7 and 1; the checker reads
colour, shape, background and corner from the pixels.
"""

# diffusers ships without complete type information, so strict mypy would only restate that here:
# mypy: disable-error-code="attr-defined,no-untyped-call,operator,arg-type,no-any-return"
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imagegen_diffusers.mini import checker, scenes


def evaluate(folder: Path, steps: int = 20, guidances: tuple[float, ...] = (7.0, 1.0)) -> dict[str, Any]:
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    specs = scenes.held_out_specs()
    results: dict[str, Any] = {"captions": len(specs), "steps": steps, "sampler": "DPMSolverMultistepScheduler"}
    for guidance in guidances:
        start = time.time()
        generators = [torch.Generator().manual_seed(i) for i in range(len(specs))]
        images = pipe([s.caption for s in specs], num_inference_steps=steps, guidance_scale=guidance,
                      generator=generators).images
        verdicts = [checker.check(im, s) for im, s in zip(images, specs, strict=True)]
        cornered = [v for v, s in zip(verdicts, specs, strict=True) if s.corner is not None]
        results[f"guidance_{guidance:g}"] = {
            "colour_accuracy": sum(v.colour for v in verdicts) / len(verdicts),
            "shape_accuracy": sum(v.shape for v in verdicts) / len(verdicts),
            "background_accuracy": sum(bool(v.background) for v in verdicts) / len(verdicts),
            "corner_accuracy": sum(bool(v.position) for v in cornered) / len(cornered),
            "all_correct": sum(v.ok for v in verdicts) / len(verdicts),
            "seconds_for_50_images": round(time.time() - start, 1),
        }
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
