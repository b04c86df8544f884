"""What imagegen costs over calling the OpenAI client yourself, and over LiteLLM.

Everything talks to a 127.0.0.1 server (``bench/_server.py``, its own process) that speaks the
OpenAI images API and returns a ~1 MB base64 PNG, so the network and the model are out of the
picture and only client-side work is left. In one run, interleaved (each round calls every
contender once, in a rotating order, so load from the rest of the machine hits all alike):

- ``httpx``: bare ``httpx`` POST + ``json.loads`` + ``base64`` decode: the floor.
- ``openai``: the raw ``openai`` client, ``images.generate(response_format="b64_json")``, plus
  the ``b64decode`` a caller needs to hold the image bytes (also shown without it).
- ``imagegen``: ``imagegen.generate(..., provider="openai:dall-e-3")`` through the default client,
  returning the result (PNGs may still be base64 inside), and again reading ``images[0].data``.
  Without ``imagegen-openai`` installed it runs through a minimal stand-in provider defined here
  (raw ``AsyncOpenAI`` + decode), which measures the core alone; the table says which.
- the async APIs, each awaited on the caller's own event loop: ``AsyncOpenAI`` and
  ``Client.agenerate`` (the sync ``imagegen.generate`` hands the call to a loop thread; these don't).
- ``litellm``: ``litellm.image_generation(model="openai/dall-e-3", api_base=...)`` (it rejects
  ``response_format`` for dall-e-3; the server sends base64 anyway).

Then cold ``import`` times (fresh interpreters), and N concurrent async calls at a fixed server
latency with a per-provider limit, against the ideal ``ceil(N / limit) * latency``.

    python bench/remote_overhead.py                 # 40 rounds, 1 MB image, 64 calls @ 200 ms / 16
    python bench/remote_overhead.py --json out.json
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
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _server import serve

PROMPT = "a red fox in fresh snow, golden hour, 35mm photo"
MODEL = "dall-e-3"
SIZE = "1024x1024"
API_KEY = "sk-bench-not-a-real-key"


def stats(samples: list[float]) -> dict[str, float]:
    """Median and p95 (nearest rank) in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {"median_ms": statistics.median(ordered) * 1e3, "p95_ms": p95 * 1e3, "n": len(ordered)}


def has_imagegen_openai() -> bool:
    import importlib.util

    return importlib.util.find_spec("imagegen_openai") is not None


class StandInOpenAI:
    """The least a provider can do: one ``AsyncOpenAI`` call, ``json.loads``, lazy base64 PNGs.

    Used only when ``imagegen-openai`` is not installed, so the core's own overhead can still be
    measured; the real provider should cost about the same."""

    name = "openai"

    def __init__(self, model: str, base_url: str) -> None:
        import openai

        self.model = model
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)

    def capabilities(self) -> Any:
        from imagegen import Capabilities

        return Capabilities(sizes=frozenset({(1024, 1024), (1792, 1024), (1024, 1792)}), default_size=(1024, 1024),
                            max_images_per_call=1, operations=frozenset({"txt2img"}),
                            supports=frozenset({"quality", "style"}))

    async def generate(self, req: Any) -> Any:
        from imagegen import Cost, GeneratedImage, ProviderResponse

        # the raw HTTP response and one json.loads: openai's pydantic response models would only be
        # thrown away, and the PNGs stay base64 until someone reads their bytes
        raw = await self._client.images.with_raw_response.generate(
            model=self.model, prompt=req.prompt, n=req.n, size=f"{req.width}x{req.height}",
            response_format="b64_json")
        body = json.loads(raw.http_response.content)
        images = [GeneratedImage.from_base64(item["b64_json"], revised_prompt=item.get("revised_prompt"))
                  for item in body.get("data") or []]
        return ProviderResponse(images=images, cost=Cost(usd=0.04 * len(images), source="price-table"))

    async def aclose(self) -> None:
        await self._client.close()


# -- sequential calls ---------------------------------------------------------------------------

def contenders(base_url: str, with_litellm: bool) -> tuple[dict[str, Callable[[], Any]], str]:
    import httpx
    import openai

    import imagegen

    http = httpx.Client(timeout=60)
    raw = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)

    def bare_httpx() -> bytes:
        r = http.post(f"{base_url}/images/generations", headers={"Authorization": f"Bearer {API_KEY}"},
                      json={"model": MODEL, "prompt": PROMPT, "n": 1, "size": SIZE, "response_format": "b64_json"})
        r.raise_for_status()
        return base64.b64decode(json.loads(r.content)["data"][0]["b64_json"])

    def raw_openai_response() -> Any:
        return raw.images.generate(model=MODEL, prompt=PROMPT, n=1, size=SIZE, response_format="b64_json")

    def raw_openai() -> bytes:
        return base64.b64decode(raw_openai_response().data[0].b64_json)  # type: ignore[index,arg-type]

    if has_imagegen_openai():
        os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"] = base_url, API_KEY
        spec: Any = f"openai:{MODEL}"
        how = "imagegen-openai provider"
    else:
        spec = StandInOpenAI(MODEL, base_url)
        how = "stand-in provider (imagegen-openai not installed): core overhead only"

    def via_imagegen() -> imagegen.GenerationResult:
        return imagegen.generate(PROMPT, provider=spec, size=SIZE)

    def via_imagegen_bytes() -> bytes:
        return via_imagegen().images[0].data

    calls: dict[str, Callable[[], Any]] = {
        "httpx + json + b64decode": bare_httpx,
        "openai (response object only)": raw_openai_response,
        "openai + b64decode": raw_openai,
        "imagegen.generate": via_imagegen,
        "imagegen.generate + .data": via_imagegen_bytes,
    }
    # the async APIs on the caller's own loop: no thread hand-off on either side
    loop = asyncio.new_event_loop()
    araw = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)
    aclient = imagegen.Client(spec if isinstance(spec, str) else StandInOpenAI(MODEL, base_url))

    async def raw_async() -> Any:
        return await araw.images.generate(model=MODEL, prompt=PROMPT, n=1, size=SIZE, response_format="b64_json")

    calls["openai async (own loop)"] = lambda: loop.run_until_complete(raw_async())
    calls["imagegen agenerate (own loop)"] = lambda: loop.run_until_complete(aclient.agenerate(PROMPT, size=SIZE))
    if with_litellm:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        def via_litellm() -> Any:
            return litellm.image_generation(prompt=PROMPT, model=f"openai/{MODEL}", api_base=base_url,
                                            api_key=API_KEY, n=1, size=SIZE)

        calls["litellm.image_generation"] = via_litellm
    return calls, how


def check_same_image(calls: dict[str, Callable[[], Any]]) -> None:
    """Every contender must really fetch and decode the image, or the timings mean nothing."""
    reference = calls["httpx + json + b64decode"]()
    for label in ("openai + b64decode", "imagegen.generate + .data"):
        if calls[label]() != reference:
            raise SystemExit(f"{label} returned different bytes from the bare httpx call")


def run_sequential(calls: dict[str, Callable[[], Any]], rounds: int, warmup: int) -> dict[str, list[float]]:
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            t0 = time.perf_counter()
            calls[name]()
            samples[name].append(time.perf_counter() - t0)
    return samples


# -- concurrency --------------------------------------------------------------------------------

async def concurrent_walls(base_url: str, calls: int, limit: int, reps: int, *, latency_s: float = 0.0,
                           with_fake: bool = False) -> dict[str, list[float]]:
    """Wall time of ``calls`` concurrent requests with at most ``limit`` in flight: imagegen's
    ``Client(max_concurrency=limit)`` against raw ``AsyncOpenAI`` behind an ``asyncio.Semaphore``."""
    import openai

    import imagegen

    walls: dict[str, list[float]] = {"openai + asyncio.Semaphore": [], "imagegen Client(max_concurrency)": []}
    raw = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)
    if has_imagegen_openai():
        os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"] = base_url, API_KEY
        spec: Any = f"openai:{MODEL}"
    else:
        spec = StandInOpenAI(MODEL, base_url)
    client = imagegen.Client(spec, max_concurrency=limit, retry=False)
    sem = asyncio.Semaphore(limit)

    async def one_raw() -> None:
        async with sem:
            r = await raw.images.generate(model=MODEL, prompt=PROMPT, n=1, size=SIZE, response_format="b64_json")
            base64.b64decode(r.data[0].b64_json)  # type: ignore[index,arg-type]

    async def raw_batch() -> None:
        await asyncio.gather(*(one_raw() for _ in range(calls)))

    async def imagegen_batch() -> None:
        results = await asyncio.gather(*(client.agenerate(PROMPT, size=SIZE) for _ in range(calls)))
        assert len(results) == calls and all(r.images for r in results)

    await raw_batch()  # warm the connection pools
    await imagegen_batch()
    for _ in range(reps):
        for name, batch in (("openai + asyncio.Semaphore", raw_batch),
                            ("imagegen Client(max_concurrency)", imagegen_batch)):
            t0 = time.perf_counter()
            await batch()
            walls[name].append(time.perf_counter() - t0)
    await raw.close()
    await client.aclose()
    if with_fake:  # the SDK's scheduling alone: no HTTP, no JSON, no base64
        from _server import make_png

        from imagegen.testing import FakeProvider

        png = make_png(1, side=1024)  # made once: the fake's own PNG painting is not the SDK's cost
        fake = FakeProvider(latency=latency_s, capabilities=StandInOpenAI(MODEL, base_url).capabilities(),
                            handler=lambda req: [png] * req.n)
        fake_client = imagegen.Client(fake, max_concurrency=limit, retry=False)
        walls["imagegen Client + FakeProvider (no HTTP)"] = []
        for _ in range(reps):
            t0 = time.perf_counter()
            await asyncio.gather(*(fake_client.agenerate(PROMPT, size=SIZE) for _ in range(calls)))
            walls["imagegen Client + FakeProvider (no HTTP)"].append(time.perf_counter() - t0)
    if isinstance(spec, StandInOpenAI):  # a client closes only the providers it built itself
        await spec.aclose()
    return walls


# -- cold imports -------------------------------------------------------------------------------

IMPORT_SNIPPET = "import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"


def cold_imports(modules: list[str], reps: int) -> dict[str, list[float]]:
    """Each import in a fresh interpreter, interleaved, ``reps`` times (the OS file cache is warm)."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out: dict[str, list[float]] = {m: [] for m in modules}
    for _ in range(reps):
        for m in modules:
            proc = subprocess.run([sys.executable, "-c", IMPORT_SNIPPET.format(m=m)], capture_output=True, text=True,
                                  env=env, check=True)
            out[m].append(float(proc.stdout.strip().splitlines()[-1]))
    return out


# -- report -------------------------------------------------------------------------------------

def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("imagegen", "imagegen-openai", "openai", "litellm", "httpx", "uvicorn"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40, help="timed calls per contender (default 40)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--image-kb", type=int, default=1024, help="PNG size before base64 (default 1024)")
    ap.add_argument("--concurrent", type=int, default=64, help="concurrent calls (default 64)")
    ap.add_argument("--limit", type=int, default=16, help="max_concurrency (default 16)")
    ap.add_argument("--latency-ms", type=int, default=200, help="server latency for the concurrent run")
    ap.add_argument("--concurrent-reps", type=int, default=5)
    ap.add_argument("--concurrent-kb", default="1024,64",
                    help="PNG sizes for the concurrent run, comma-separated (default 1024,64)")
    ap.add_argument("--import-reps", type=int, default=5)
    ap.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out (it takes seconds to import)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                              "versions": versions(), "args": vars(args)}
    with serve(image_kb=args.image_kb, max_seconds=1800) as (base_url, body_bytes):
        calls, how = contenders(base_url, with_litellm=not args.no_litellm)
        check_same_image(calls)
        samples = run_sequential(calls, args.rounds, args.warmup)
        walls = {}
        for i, kb in enumerate(int(k) for k in args.concurrent_kb.split(",")):
            lat_url = base_url.replace("/v1", f"/lat/{args.latency_ms}/kb/{kb}/v1")
            for name, w in asyncio.run(concurrent_walls(lat_url, args.concurrent, args.limit, args.concurrent_reps,
                                                        latency_s=args.latency_ms / 1000, with_fake=i == 0)).items():
                walls[name if "Fake" in name else f"{name}, {kb} KB"] = w
    modules = ["imagegen", "openai"] + (["imagegen_openai"] if has_imagegen_openai() else [])
    modules += [] if args.no_litellm else ["litellm"]
    imports = cold_imports(modules, args.import_reps)

    seq = {name: stats(s) for name, s in samples.items()}
    med = {name: s["median_ms"] for name, s in seq.items()}
    ratios = {"imagegen.generate / openai (target <= 1.0)": med["imagegen.generate"]
              / med["openai (response object only)"],
              "imagegen + .data / openai + b64decode": med["imagegen.generate + .data"] / med["openai + b64decode"]}
    ratios["imagegen agenerate / openai async, own loop"] = (med["imagegen agenerate (own loop)"]
                                                             / med["openai async (own loop)"])
    if "litellm.image_generation" in med:
        ratios["litellm / imagegen.generate (target >= 1.6)"] = (med["litellm.image_generation"]
                                                                 / med["imagegen.generate"])
    ideal = math.ceil(args.concurrent / args.limit) * args.latency_ms / 1000.0
    conc = {name: {"median_s": statistics.median(w), "max_s": max(w), "ratio_to_ideal": statistics.median(w) / ideal}
            for name, w in walls.items()}
    imp = {m: statistics.median(v) for m, v in imports.items()}
    report.update(imagegen_side=how, response_bytes=body_bytes, sequential=seq, ratios=ratios,
                  concurrent={"ideal_s": ideal, **conc}, imports_s=imp)
    print_report(report, args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return report


def print_report(r: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"# remote overhead, {r['date']}\n{r['machine']}")
    print(" ".join(f"{k}={v}" for k, v in r["versions"].items()))
    print(f"imagegen side: {r['imagegen_side']}")
    print(f"\n{args.rounds} interleaved calls each, {r['response_bytes'] / 1e6:.2f} MB JSON response, "
          "0 ms server latency")
    print(f"| {'client':34} | median ms | p95 ms |\n|{'-' * 36}|----------:|-------:|")
    for name, s in r["sequential"].items():
        print(f"| {name:34} | {s['median_ms']:9.2f} | {s['p95_ms']:6.2f} |")
    for name, v in r["ratios"].items():
        print(f"{name}: {v:.3f}x")
    c = r["concurrent"]
    print(f"\n{args.concurrent} concurrent calls, {args.latency_ms} ms latency, limit {args.limit}: ideal "
          f"{c['ideal_s']:.3f} s ({args.concurrent_reps} reps)")
    for name, v in c.items():
        if name != "ideal_s":
            print(f"| {name:44} | median {v['median_s']:.3f} s | max {v['max_s']:.3f} s "
                  f"| {v['ratio_to_ideal']:.3f}x ideal |")
    print(f"\ncold import (fresh interpreter, median of {args.import_reps}):")
    for m, s in r["imports_s"].items():
        print(f"| import {m:16} | {s * 1e3:8.0f} ms |")


if __name__ == "__main__":
    main()
