"""What ``imagegen serve`` costs per request over calling the same ``Client`` in-process, and how many
requests per second it answers at 1, 16 and 64 concurrent clients.

The server runs in its own process (``imagegen.server.serve``, uvicorn, no ledger) over a ``FakeProvider``
that answers at once with a 64x64 PNG, so only the server's own work is measured: HTTP, JSON, base64,
the metadata chunks, admission and the client. In one run, interleaved round by round (so load from the
rest of the machine hits both alike):

- ``in-process``: ``Client(FakeProvider).agenerate(...)`` awaited on this process's loop, plus the
  ``b64encode`` a server does for its answer;
- ``server``: ``POST /v1/images/generations`` with ``httpx`` (one kept-alive connection), plus the
  ``b64decode`` of the answer.

Then throughput: N requests at a time from 1, 16 and 64 concurrent ``httpx`` clients.
The LiteLLM proxy is not compared: it needs ``litellm[proxy]``, which is not installed here.

    python bench/server.py                  # 200 rounds, 400 requests per concurrency level
    python bench/server.py --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from typing import Any

import httpx

SERVE = textwrap.dedent("""
    import sys
    from imagegen import Capabilities
    from imagegen.server import ServerConfig, serve
    from imagegen.testing import FakeProvider
    caps = Capabilities(default_size=(64, 64), max_images_per_call=1)
    serve(ServerConfig(providers=[FakeProvider(capabilities=caps)], max_queue=1024, keep_images=0),
          port=int(sys.argv[1]), log_level="error")
""")


def stats(samples: list[float]) -> dict[str, float]:
    """Median and p95 (nearest rank) in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {"median_ms": statistics.median(ordered) * 1e3, "p95_ms": p95 * 1e3, "n": len(ordered)}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not start")


async def sequential(url: str, rounds: int, warmup: int) -> dict[str, list[float]]:
    from imagegen import Capabilities, Client
    from imagegen.testing import FakeProvider

    client = Client(FakeProvider(capabilities=Capabilities(default_size=(64, 64), max_images_per_call=1)))
    times: dict[str, list[float]] = {"in-process": [], "server": []}
    body = {"prompt": "a red fox", "size": "64x64"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def in_process() -> None:
            result = await client.agenerate("a red fox", size="64x64")
            base64.b64encode(result.images[0].data)

        async def served() -> None:
            answer = (await http.post("/v1/images/generations", json=body)).json()
            base64.b64decode(answer["data"][0]["b64_json"])

        order = [("in-process", in_process), ("server", served)]
        for i in range(warmup + rounds):
            for name, call in order if i % 2 else reversed(order):
                t0 = time.perf_counter()
                await call()
                if i >= warmup:
                    times[name].append(time.perf_counter() - t0)
    await client.aclose()
    return times


async def throughput(url: str, concurrency: int, total: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        gate = asyncio.Semaphore(concurrency)
        statuses: list[int] = []

        async def one(i: int) -> None:
            async with gate:
                r = await http.post("/v1/images/generations", json={"prompt": f"p{i}", "size": "64x64"})
                statuses.append(r.status_code)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - t0
    ok = statuses.count(200)
    return {"requests": total, "ok": ok, "seconds": elapsed, "requests_per_s": ok / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    proc, url = start_server()
    try:
        times = asyncio.run(sequential(url, args.rounds, args.warmup))
        levels = [int(c) for c in args.concurrency.split(",")]
        rates = {c: asyncio.run(throughput(url, c, args.requests)) for c in levels}
    finally:
        proc.terminate()
        proc.wait(timeout=60)

    seq = {name: stats(samples) for name, samples in times.items()}
    overhead = seq["server"]["median_ms"] - seq["in-process"]["median_ms"]
    print(f"imagegen serve vs the same Client in-process ({platform.python_version()}, {os.cpu_count()} cores)")
    print(f"{'path':<12} {'median ms':>10} {'p95 ms':>8}")
    for name, row in seq.items():
        print(f"{name:<12} {row['median_ms']:>10.2f} {row['p95_ms']:>8.2f}")
    print(f"server overhead per request (median): {overhead:.2f} ms; "
          f"ratio server / in-process: {seq['server']['median_ms'] / seq['in-process']['median_ms']:.2f}")
    print(f"{'clients':>8} {'requests':>9} {'ok':>5} {'req/s':>8}")
    for c, row in rates.items():
        print(f"{c:>8} {row['requests']:>9} {row['ok']:>5} {row['requests_per_s']:>8.1f}")
    report: dict[str, Any] = {"sequential": seq, "overhead_ms": overhead, "throughput": rates,
                              "ratio": seq["server"]["median_ms"] / seq["in-process"]["median_ms"]}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
