"""What A1111-style model hashes cost: the first hash of a checkpoint against a warm call, side by side.

A checkpoint is hashed whole (SHA-256) for its ``Model hash``, so an image's metadata must not cost that on
every call. ``imagegen.hashing`` keeps each digest in memory and in a cache file keyed by path, size and
modification time. Each round, on a fresh file of ``--size-mb`` random bytes:

- ``cold``: the first ``model_hash`` of the file (reads and hashes it all; the bytes are in the OS page cache
  after writing, so this is the hashing itself, not the disk);
- ``warm``: the same call again in the same process (the memory cache);
- ``warm, new process``: the same call with the memory cache emptied, as a fresh interpreter starts (the
  cache file is read instead).

    python bench/hash_cache.py                   # 256 MB, 5 rounds
    python bench/hash_cache.py --size-mb 16 --rounds 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from remote_overhead import machine

from imagegen import hashing


def _timed(path: str) -> float:
    """Seconds one ``model_hash(path)`` takes."""
    t0 = time.perf_counter()
    hashing.model_hash(path)
    return time.perf_counter() - t0


def run(size_mb: int, rounds: int, folder: str) -> dict[str, object]:
    os.environ[hashing.CACHE_ENV] = os.path.join(folder, "hashes.json")
    cold: list[float] = []
    warm: list[float] = []
    disk: list[float] = []
    block = os.urandom(1024 * 1024)
    for i in range(rounds):
        path = os.path.join(folder, f"model-{i}.safetensors")  # a new path each round: never in the cache yet
        with open(path, "wb") as fh:
            for k in range(size_mb):
                fh.write(block[(k + i) % 256:] + block[:(k + i) % 256])  # every MiB (and every round) different
        cold.append(_timed(path))
        warm.append(_timed(path))
        hashing._memory.clear()  # what a fresh interpreter starts with
        hashing._disk = None
        disk.append(_timed(path))
        os.remove(path)
    med = {name: statistics.median(samples) for name, samples in
           (("cold", cold), ("warm", warm), ("warm, new process", disk))}
    return {
        "machine": machine(), "size_mb": size_mb, "rounds": rounds,
        "median_s": med,
        "ratios": {"cold / warm": med["cold"] / med["warm"],
                   "cold / warm, new process": med["cold"] / med["warm, new process"],
                   "cold MB/s": size_mb / med["cold"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        report = run(args.size_mb, args.rounds, folder)
    med = report["median_s"]
    assert isinstance(med, dict)
    print(f"{report['machine']}\nmodel_hash of a {args.size_mb} MB file, median of {args.rounds} rounds:\n")
    print("| call | median | ")
    print("|---|---|")
    for name, seconds in med.items():
        print(f"| {name} | {seconds * 1e3:.3f} ms |")
    ratios = report["ratios"]
    assert isinstance(ratios, dict)
    print()
    for name, value in ratios.items():
        print(f"{name}: {value:,.0f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
