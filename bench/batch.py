"""Batch throughput: ``imagegen.batch.run`` in this process vs on Ray with 1 and 2 workers, same machine.

Every round runs the same items (fresh output folders, so nothing is skipped) three ways, in rotated
order so whatever else the machine does hits each alike:

- ``in-process``: ``run(items, ...)`` on one ``Client`` here;
- ``ray, 1 worker`` and ``ray, 2 workers``: ``run(items, ..., ray=True, workers=N)`` on a local Ray
  instance (one CPU per worker, so each worker's torch gets one thread; workers at the driver's priority,
  ``RAY_worker_niceness=0``, where Ray's default is nice 15). On a machine with GPUs each worker gets one
  (two workers share a single GPU), so the 2-worker / 1-worker ratio is then the GPU scaling.

Each run reports its wall time (imports aside: Ray is started and the model loaded in this process once,
before the rounds; each Ray run starts its workers and loads the model in them, as a real batch does) and
its **steady rate**: images
per second between the moment every worker has finished its first item and the last item, the rate a
long batch settles at. Local models run on the embedded ``diffusers:imagegen-mini`` (nothing is
downloaded). ``--cloud`` adds the same comparison for a cloud-like provider (a ``FakeProvider`` that
waits ``--latency`` seconds a call, ``--concurrency`` at a time): in-process against Ray tasks.

``--gpu-json`` reads a ``bench/gpu.py --json`` report and projects images per second on 1 to 8 GPUs
from its per-GPU s/image and the 2-worker scaling measured here: a projection, labelled as one.

    python bench/batch.py                                   # 40 items, 4 steps, 2 rounds
    python bench/batch.py --items 80 --rounds 3 --cloud --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from remote_overhead import machine

MODEL = "diffusers:imagegen-mini"
PROMPT = "a red circle on a blue background"


def timed_run(run: Callable[..., list[Any]], items: list[dict[str, Any]], out: str, pool: int,
              **options: Any) -> dict[str, float]:
    """One batch: wall seconds, images made, and the steady rate (after every worker's first item)."""
    finished: list[float] = []
    t0 = time.perf_counter()
    done = run(items, out_dir=out, on_done=lambda i, d: finished.append(time.perf_counter()), **options)
    wall = time.perf_counter() - t0
    made = sum(getattr(d, "made", 0) for d in done)
    if made != len(items):
        raise SystemExit(f"a run made {made} of {len(items)} images: {[d for d in done if not hasattr(d, 'made')]}")
    finished.sort()
    warm = finished[pool - 1:]
    steady = (len(warm) - 1) / (warm[-1] - warm[0]) if len(warm) > 1 and warm[-1] > warm[0] else float("nan")
    return {"wall_s": wall, "images_per_s": made / wall, "steady_images_per_s": steady}


def rounds(contenders: dict[str, tuple[int, dict[str, Any]]], items: list[dict[str, Any]], n: int,
           tmp: str) -> dict[str, dict[str, float]]:
    from imagegen.batch import run

    names = list(contenders)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for r in range(n):
        for name in names[r % len(names):] + names[:r % len(names)]:
            out = os.path.join(tmp, f"{name.replace(' ', '-').replace(',', '')}-{r}")
            pool, options = contenders[name]
            samples[name].append(timed_run(run, items, out, pool, **options))
            shutil.rmtree(out, ignore_errors=True)
    return {name: {key: statistics.median(s[key] for s in runs) for key in runs[0]} | {"n": len(runs)}
            for name, runs in samples.items()}


def projection(gpu_report: dict[str, Any], efficiency: float) -> list[dict[str, Any]]:
    """Images/s on N GPUs, one worker each: N x the per-GPU rate x the per-worker scaling measured here."""
    rows = []
    for row in gpu_report.get("rows", []):
        if "s_per_image" not in row or "preset" not in row.get("variant", ""):
            continue
        per_gpu = 1.0 / row["s_per_image"]
        for gpus in (1, 2, 4, 8):
            rows.append({"model": row["model"], "variant": row["variant"], "batch": row["batch"], "gpus": gpus,
                         "images_per_s": per_gpu * gpus * (efficiency if gpus > 1 else 1.0)})
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cloud", action="store_true", help="also compare a cloud-like provider: in-process vs Ray tasks")
    ap.add_argument("--latency", type=float, default=0.1, help="--cloud: seconds per call (default 0.1)")
    ap.add_argument("--concurrency", type=int, default=4, help="--cloud: calls at once (default 4)")
    ap.add_argument("--gpu-json", help="a bench/gpu.py --json report to project cluster throughput from")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    import ray

    from imagegen.provider import Capabilities
    from imagegen.testing import FakeProvider

    cpus = max(2, os.cpu_count() or 2)
    # Ray runs its workers at nice 15 so its own daemons stay responsive; on a machine shared with other work
    # that alone made a worker's images 10-20x slower than this process's. Same priority, same race.
    os.environ.setdefault("RAY_worker_niceness", "0")
    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                              "ray": ray.__version__, "ray_start_s": time.perf_counter() - t0,
                              "ray_worker_niceness": os.environ["RAY_worker_niceness"],  # noqa: SIM112
                              "args": {k: v for k, v in vars(args).items() if k != "json"}}
    items = [{"prompt": PROMPT, "seed": i, "steps": args.steps} for i in range(args.items)]
    with tempfile.TemporaryDirectory() as warmup:  # imports and the in-process model load, before any round
        from imagegen.batch import run

        t0 = time.perf_counter()
        run(items[:1], out_dir=warmup, provider=MODEL)
        report["in_process_warmup_s"] = time.perf_counter() - t0
    gpus = float(ray.cluster_resources().get("GPU", 0.0))  # type: ignore[no-untyped-call]
    one, two = (1.0, 1.0 if gpus >= 2 else 0.5) if gpus >= 1 else (0.0, 0.0)  # 2 workers share 1 GPU if need be
    report["gpus_per_worker"] = {"ray, 1 worker": one, "ray, 2 workers": two}
    local = {"in-process": (1, {"provider": MODEL, "concurrency": 1}),
             "ray, 1 worker": (1, {"provider": MODEL, "ray": True, "workers": 1, "gpus_per_worker": one}),
             "ray, 2 workers": (2, {"provider": MODEL, "ray": True, "workers": 2, "gpus_per_worker": two})}
    with tempfile.TemporaryDirectory() as tmp:
        report["local"] = rounds(local, items, args.rounds, tmp)
        if args.cloud:
            caps = Capabilities(default_size=(64, 64), max_images_per_call=1)
            fake = FakeProvider(latency=args.latency, capabilities=caps)
            cloud = {"in-process": (1, {"provider": fake, "concurrency": args.concurrency}),
                     "ray tasks": (1, {"provider": fake, "ray": True, "concurrency": args.concurrency})}
            report["cloud"] = rounds(cloud, [{"prompt": f"item {i}"} for i in range(args.items)], args.rounds, tmp)
            report["cloud_ideal_s"] = args.items * args.latency / args.concurrency
    ray.shutdown()
    steady = {name: r["steady_images_per_s"] for name, r in report["local"].items()}
    report["ratios"] = {"ray 1 worker / in-process (steady)": steady["ray, 1 worker"] / steady["in-process"],
                        "ray 2 workers / in-process (steady)": steady["ray, 2 workers"] / steady["in-process"],
                        "ray 2 workers / 1 worker (steady; 2.0 = linear)": steady["ray, 2 workers"]
                        / steady["ray, 1 worker"]}
    if args.cloud:
        report["ratios"]["ray tasks / in-process, cloud wall"] = (report["cloud"]["ray tasks"]["wall_s"]
                                                                 / report["cloud"]["in-process"]["wall_s"])
    if args.gpu_json:
        with open(args.gpu_json) as fh:
            efficiency = report["ratios"]["ray 2 workers / 1 worker (steady; 2.0 = linear)"] / 2
            report["projection"] = projection(json.load(fh), min(1.0, efficiency))
    print_report(report)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return report


def print_report(r: dict[str, Any]) -> None:
    a = r["args"]
    print(f"# batch throughput, {r['date']}\n{r['machine']}, Ray {r['ray']} (started in {r['ray_start_s']:.1f}s)")
    print(f"\n{a['items']} items of {MODEL}, {a['steps']} steps, median of {a['rounds']} rounds\n")
    print("| run | wall s | images/s (wall) | images/s (steady) |\n|---|---:|---:|---:|")
    for name, x in r["local"].items():
        print(f"| {name} | {x['wall_s']:.2f} | {x['images_per_s']:.2f} | {x['steady_images_per_s']:.2f} |")
    if "cloud" in r:
        print(f"\ncloud-like: {a['items']} calls of {a['latency']}s, {a['concurrency']} at a time "
              f"(ideal {r['cloud_ideal_s']:.2f}s)\n")
        print("| run | wall s | images/s |\n|---|---:|---:|")
        for name, x in r["cloud"].items():
            print(f"| {name} | {x['wall_s']:.2f} | {x['images_per_s']:.2f} |")
    print("\n| ratio | value |\n|---|---:|")
    for name, value in r["ratios"].items():
        print(f"| {name} | {value:.2f}x |")
    if r.get("projection"):
        print("\nprojection (not a measurement): per-GPU rate from bench/gpu.py x GPUs x the scaling above\n")
        print("| model | variant | batch | GPUs | images/s |\n|---|---|---:|---:|---:|")
        for x in r["projection"]:
            print(f"| {x['model']} | {x['variant']} | {x['batch']} | {x['gpus']} | {x['images_per_s']:.2f} |")


if __name__ == "__main__":
    main()
