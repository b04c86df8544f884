"""A fresh process's first image (the README's first command) against a bare ``import torch, diffusers``.

Each round starts two fresh interpreters on the same cores, interleaved:

- ``bare``: ``import torch, diffusers`` and nothing else: the floor any local first image pays;
- ``first image``: ``imagegen.generate("a red circle on a blue background", seed=1)`` on the embedded model, what
  ``imagegen generate`` does, with its phases timed inside the process: importing imagegen, the provider and its
  model's configs, the pipeline classes diffusers imports lazily on first use (they bring transformers' modeling
  and processing utilities, scipy, peft and accelerate), loading the weights (``load_s``: configs, tokenizer,
  weights, scheduler, moves), and the denoising itself.

The ratio is first image / bare. What is left beyond the bare imports is the lazy imports (libraries' own) plus
``load_s`` (imagegen's and diffusers' loading work), which is what this benchmark watches.

    python bench/cold_start.py                  # 5 rounds, 1 thread
    python bench/cold_start.py --rounds 3 --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from remote_overhead import machine

BARE = """
import json, time; t0 = time.perf_counter()
import torch, diffusers
print(json.dumps({"total": time.perf_counter() - t0}))
"""

FIRST = """
import json, time; t0 = time.perf_counter()
import torch, diffusers
t1 = time.perf_counter()
import imagegen
t2 = time.perf_counter()
from imagegen_diffusers import DiffusersProvider
provider = DiffusersProvider("imagegen-mini")
provider.info()
t3 = time.perf_counter()
import diffusers as d
d.StableDiffusionPipeline, d.DPMSolverMultistepScheduler
t4 = time.perf_counter()
r = imagegen.generate("a red circle on a blue background", seed=1, provider=provider)
t5 = time.perf_counter()
print(json.dumps({"total": t5 - t0, "import torch, diffusers": t1 - t0, "import imagegen": t2 - t1,
       "provider and configs": t3 - t2, "diffusers' lazy pipeline imports": t4 - t3,
       "load (load_s)": r.timings.get("load_s", 0.0), "denoise (gpu_s)": r.timings["gpu_s"],
       "generate, rest": t5 - t4 - r.timings.get("load_s", 0.0) - r.timings["gpu_s"]}))
"""


def fresh(code: str, threads: int) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "HF_HUB_OFFLINE": "1", "IMAGEGEN_LEDGER": os.devnull}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="cores (and torch threads) for both sides (default 1)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):  # both sides on the same cores; the children inherit it
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
    bare: list[float] = []
    first: list[dict[str, float]] = []
    for i in range(args.rounds):
        runs = [("bare", BARE), ("first", FIRST)]
        for name, code in (runs if i % 2 == 0 else runs[::-1]):
            sample = fresh(code, args.threads)
            (bare.append(sample["total"]) if name == "bare" else first.append(sample))
    phases = {k: statistics.median(s[k] for s in first) for k in first[0]}
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(), "threads": args.threads,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None, "rounds": args.rounds,
        "bare_s": statistics.median(bare), "first_image_s": phases}
    beyond = phases["total"] - phases["import torch, diffusers"]
    report["ratios"] = {"first image / bare import torch, diffusers": phases["total"] / report["bare_s"],
                        "beyond the bare imports, s": beyond,
                        "load_s share of the first image": phases["load (load_s)"] / phases["total"]}
    print(f"# cold start, {report['date']}\n{report['machine']}, {args.threads} thread(s), load average "
          f"{report['load_average']}, medians of {args.rounds} fresh processes each\n")
    print("| phase of the first image | s |\n|---|---:|")
    for k, v in phases.items():
        print(f"| {k} | {v:.2f} |")
    print(f"\nbare `import torch, diffusers`: {report['bare_s']:.2f} s\n")
    print("| ratio | value |\n|---|---:|")
    for k, v in report["ratios"].items():
        print(f"| {k} | {v:.2f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return report


if __name__ == "__main__":
    main()
