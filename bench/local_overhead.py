"""What imagegen's local provider costs over calling diffusers yourself, and cold load vs warm call.

The same small SD 1.x pipeline (built from configs with random weights by ``bench/_tiny.py``
and saved as a diffusers folder, so nothing is downloaded) runs on CPU, same prompt, seed,
steps and size, interleaved round by round:

- ``diffusers``: ``StableDiffusionPipeline.from_pretrained(folder)`` then ``pipe(...)`` (PIL
  image), and again with the PNG encoding that imagegen's result holds.
- ``imagegen``: ``Client("diffusers:<folder>").generate(...)`` through ``imagegen-diffusers``.

Cold is a fresh interpreter's imports + load + first call (what a user's first image costs),
and, in-process, a new pipeline / new client's first call with imports already done; warm is
the median of later calls. Both sides run on the same threads: ``--threads N`` (default 1) pins this
process (and the fresh ones it starts) to N cores, so torch's own setting for the raw call and the provider's
choice (the cores the process may use) are both N, and the ratio measures imagegen's overhead, not a thread
count. On a shared machine a second thread spin-waits and made these calls up to 30x slower.

    python bench/local_overhead.py                          # 64x64, 4 steps, 30 rounds
    python bench/local_overhead.py --size 128 --steps 8 --json out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _tiny import diffusers, tiny_sd_folder
from remote_overhead import machine, stats

PROMPT = "a red fox in fresh snow"


def pin_threads(n: int) -> None:
    """Run this process (and the interpreters it starts) on ``n`` cores with ``n`` torch threads, so the raw side
    and the provider (which uses as many threads as the process has cores) compute with the same threads."""
    import torch

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cores:
        os.sched_setaffinity(0, cores[:n])
    torch.set_num_threads(n)


def has_imagegen_diffusers() -> bool:
    return importlib.util.find_spec("imagegen_diffusers") is not None


def raw_pipeline(folder: str) -> Any:
    pipe = diffusers().StableDiffusionPipeline.from_pretrained(folder, safety_checker=None,
                                                               requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def raw_call(pipe: Any, args: argparse.Namespace, encode: bool) -> Any:
    import torch

    image = pipe(PROMPT, num_inference_steps=args.steps, guidance_scale=args.guidance, height=args.size,
                 width=args.size, generator=torch.Generator("cpu").manual_seed(args.seed)).images[0]
    if not encode:
        return image
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def imagegen_client(folder: str) -> Any:
    import imagegen

    return imagegen.Client(f"diffusers:{folder}", retry=False, fallback=False)


def imagegen_call(client: Any, args: argparse.Namespace) -> Any:
    return client.generate(PROMPT, size=f"{args.size}x{args.size}", steps=args.steps, guidance=args.guidance,
                           seed=args.seed)


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


COLD_RAW = """
import time; t0 = time.perf_counter()
import sys, torch; torch.set_num_threads({threads}); sys.path.insert(0, {bench!r})
import local_overhead as lo, argparse
args = argparse.Namespace(**{args!r})
lo.raw_call(lo.raw_pipeline({folder!r}), args, encode=True)
print(time.perf_counter() - t0)
"""

COLD_IMAGEGEN = """
import time; t0 = time.perf_counter()
import sys, torch; torch.set_num_threads({threads}); sys.path.insert(0, {bench!r})
import local_overhead as lo, argparse
args = argparse.Namespace(**{args!r})
lo.imagegen_call(lo.imagegen_client({folder!r}), args)
print(time.perf_counter() - t0)
"""


def cold_process_s(template: str, folder: str, args: argparse.Namespace) -> float:
    """A fresh interpreter's imports + load + first call: what a user's first image costs."""
    fields = {k: getattr(args, k) for k in ("size", "steps", "guidance", "seed")}
    code = template.format(threads=args.threads or torch_threads(), bench=os.path.dirname(os.path.abspath(__file__)),
                           args=fields, folder=folder)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def fresh_import_s(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def same_pixels(a: bytes, b: bytes) -> float:
    """Largest per-channel difference between two encoded images (0 = identical)."""
    import numpy as np
    from PIL import Image

    pa = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.int16)
    pb = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.int16)
    return float(np.abs(pa - pb).max()) if pa.shape == pb.shape else float("inf")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--width", type=int, default=32, help="UNet/VAE first-block channels of the tiny model")
    ap.add_argument("--model", help="an existing diffusers SD 1.x folder instead of the tiny one")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a shared machine more threads spin-wait; 0 = torch's choice)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        pin_threads(args.threads)
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                              "torch": torch.__version__, "threads": torch.get_num_threads(),
                              "args": {k: v for k, v in vars(args).items() if k != "json"}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or tiny_sd_folder(os.path.join(tmp, "tiny-sd"), width=args.width)
        cold: dict[str, float] = {}
        load_s, pipe = timed(lambda: raw_pipeline(folder))
        first_s, _ = timed(lambda: raw_call(pipe, args, encode=True))
        cold["diffusers"] = load_s + first_s
        calls: dict[str, Any] = {"diffusers pipe() -> PIL": lambda: raw_call(pipe, args, encode=False),
                                 "diffusers pipe() + PNG encode": lambda: raw_call(pipe, args, encode=True)}
        local = has_imagegen_diffusers()
        if local:
            client = imagegen_client(folder)
            cold["imagegen"], _ = timed(lambda: imagegen_call(client, args))
            calls["imagegen generate"] = lambda: imagegen_call(client, args)
        names = list(calls)
        samples: dict[str, list[float]] = {n: [] for n in names}
        for i in range(args.rounds):
            for name in names[i % len(names):] + names[:i % len(names)]:
                samples[name].append(timed(calls[name])[0])
        report["warm"] = {n: stats(s) for n, s in samples.items()}
        report["cold_s"] = cold
        report["cold_process_s"] = {"diffusers": cold_process_s(COLD_RAW, folder, args)}
        if local:
            report["cold_process_s"]["imagegen"] = cold_process_s(COLD_IMAGEGEN, folder, args)
        if local:
            r = imagegen_call(client, args)
            report["max_pixel_diff_vs_raw"] = same_pixels(r.images[0].data, raw_call(pipe, args, encode=True))
            report["imagegen_threads"] = r.images[0].info["local"]["settings"].get("threads")
            client.close()
    report["import_s"] = {m: fresh_import_s(m) for m in ["diffusers"] + (["imagegen_diffusers"] if local else [])}
    warm = {n: s["median_ms"] / 1e3 for n, s in report["warm"].items()}
    fresh = report["cold_process_s"]
    ratios = {"cold process / warm, diffusers (target >= 10)": fresh["diffusers"]
              / warm["diffusers pipe() + PNG encode"],
              "cold in-process / warm, diffusers": cold["diffusers"] / warm["diffusers pipe() + PNG encode"]}
    if local:
        ratios["imagegen / diffusers + PNG (target <= 1.05)"] = (warm["imagegen generate"]
                                                                 / warm["diffusers pipe() + PNG encode"])
        ratios["imagegen / diffusers PIL only"] = warm["imagegen generate"] / warm["diffusers pipe() -> PIL"]
        ratios["cold process / warm, imagegen (target >= 10)"] = fresh["imagegen"] / warm["imagegen generate"]
        ratios["cold in-process / warm, imagegen"] = cold["imagegen"] / warm["imagegen generate"]
    report["ratios"] = ratios
    print_report(report, args, local)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return report


def print_report(r: dict[str, Any], args: argparse.Namespace, local: bool) -> None:
    print(f"# local overhead, {r['date']}\n{r['machine']}, torch {r['torch']} ({r['threads']} threads; imagegen's "
          f"provider: {r.get('imagegen_threads')})")
    print(f"{args.size}x{args.size}, {args.steps} steps, guidance {args.guidance}, seed {args.seed}, "
          f"{args.rounds} interleaved rounds")
    if not local:
        print("imagegen side: not measured (imagegen-diffusers is not installed)")
    print(f"| {'call':32} | median ms | p95 ms |\n|{'-' * 34}|----------:|-------:|")
    for name, s in r["warm"].items():
        print(f"| {name:32} | {s['median_ms']:9.1f} | {s['p95_ms']:6.1f} |")
    for name, s in r["cold_s"].items():
        print(f"cold in-process (load + first call), {name}: {s * 1e3:.0f} ms")
    for name, s in r["cold_process_s"].items():
        print(f"cold fresh process (imports + load + first call), {name}: {s * 1e3:.0f} ms")
    for m, s in r["import_s"].items():
        print(f"fresh-interpreter import {m}: {s * 1e3:.0f} ms")
    if "max_pixel_diff_vs_raw" in r:
        print(f"largest pixel difference, imagegen vs raw: {r['max_pixel_diff_vs_raw']:.0f} (0-255)")
    for name, v in r["ratios"].items():
        print(f"{name}: {v:.3f}x")


if __name__ == "__main__":
    main()
