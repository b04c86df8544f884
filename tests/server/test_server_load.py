"""Under load, bounded in count (500 requests, 64 at a time) and in time: every accepted request is
answered, 429 comes only from a full queue, ledger rows equal attempts; and a SIGTERM mid-load lets every
admitted request finish and keeps its ledger row."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import textwrap
import time

import httpx

from imagegen import Capabilities, Ledger
from imagegen.testing import FakeProvider, unused_port

SMALL = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({"seed"}))


def test_500_requests_64_at_a_time_are_all_answered_and_recorded(live, tmp_path):
    path = tmp_path / "l.sqlite"
    fake = FakeProvider(capabilities=SMALL, latency=0.02)
    server = live(providers=[fake], max_queue=24, ledger=str(path))

    async def run() -> list[httpx.Response]:
        # a connection per request: reusing a kept-alive one races the server closing it when idle (HTTP/1.1's
        # own race, which a client can only retry), and that is not what this test is about
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:
            gate = asyncio.Semaphore(64)

            async def one(i: int) -> httpx.Response:
                async with gate:
                    return await http.post("/v1/images/generations", json={"prompt": f"p{i}", "size": "64x64"})

            return await asyncio.gather(*(one(i) for i in range(500)))

    responses = asyncio.run(run())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, collections.Counter(statuses)
    ok, full = statuses.count(200), statuses.count(429)
    assert ok + full == 500 and ok >= 24
    for r in responses:
        if r.status_code == 429:  # only a full queue says no
            assert "queue full: 24 requests are in hand" in r.json()["error"]["message"]
            assert int(r.headers["retry-after"]) >= 1
    rows = Ledger(path).entries()
    assert len([e for e in rows if e.status == "ok"]) == ok == len(fake.calls)
    assert len([e for e in rows if e.status == "refused"]) == full
    assert server.service.jobs == {}


SERVE = textwrap.dedent("""
    import sys
    from imagegen.server import ServerConfig, serve
    from imagegen.testing import FakeProvider
    from imagegen import Capabilities
    caps = Capabilities(default_size=(64, 64), max_images_per_call=1)
    serve(ServerConfig(providers=[FakeProvider(capabilities=caps, latency=1.5)], ledger=sys.argv[1], max_queue=64),
          port=int(sys.argv[2]), log_level="warning")
""")


def test_sigterm_mid_load_drains_every_admitted_request_and_its_ledger_rows(tmp_path):
    path, port = tmp_path / "l.sqlite", unused_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(path), str(port)], stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc)

        async def run() -> tuple[list[httpx.Response], bool]:
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                tasks = [asyncio.ensure_future(http.post("/v1/images/generations", json={"prompt": f"p{i}"}))
                         for i in range(24)]
                while (await http.get("/health")).json()["queue"] < 24:  # all 24 admitted and generating
                    await asyncio.sleep(0.02)
                os.kill(proc.pid, signal.SIGTERM)
                await asyncio.sleep(0.3)
                try:
                    async with httpx.AsyncClient(timeout=5) as late:
                        await late.get(f"{url}/health")
                    refused_after = False
                except httpx.ConnectError:
                    refused_after = True
                return list(await asyncio.gather(*tasks)), refused_after

        responses, refused_after = asyncio.run(run())
        # uvicorn exits by re-raising the signal once it has drained
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM), proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [r.status_code for r in responses] == [200] * 24
    assert refused_after  # no new connections once draining began
    assert len([e for e in Ledger(path).entries() if e.status == "ok"]) == 24


def _wait_up(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the server did not start")


def test_the_serve_command_serves_until_sigterm(tmp_path):
    port = unused_port()
    command = [sys.executable, "-c", "import sys; from imagegen.cli import main; sys.exit(main())", "serve",
               "-p", "fake:fake-1", "--alias", "gpt-image-2=fake:fake-1", "--port", str(port),
               "--ledger", str(tmp_path / "l.sqlite"), "--log-level", "warning"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc)
        models = httpx.get(f"{url}/v1/models").json()["data"]
        made = httpx.post(f"{url}/v1/images/generations", json={"model": "gpt-image-2", "prompt": "x"})
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [m["id"] for m in models] == ["gpt-image-2", "fake:fake-1", "fake-1"]
    assert made.status_code == 200
    assert [e.status for e in Ledger(tmp_path / "l.sqlite").entries()] == ["ok"]
