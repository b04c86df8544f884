"""imagegen.batch on a local Ray instance (2 CPUs): a pool of warm actors for local models, Ray tasks for
cloud ones, one coordinator for budget and limits, items that survive a lost worker or a killed driver."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from imagegen import BudgetExceeded, Capabilities, Ledger, read_metadata
from imagegen.batch import BadItems, ItemDone, run
from imagegen.cluster import Coordinator, Settings
from imagegen.retry import RetryPolicy
from imagegen.testing import FakeClock, FakeProvider

CAPS = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({"seed"}))


def events(log) -> list[dict]:
    if not os.path.exists(log):
        return []
    with open(log, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def pngs(directory) -> list[str]:
    return sorted(f for f in os.listdir(directory) if f.endswith(".png"))


def test_forty_items_over_two_actors_of_the_embedded_model_make_forty_images_once(ray_local, tmp_path):
    book = tmp_path / "ledger.sqlite"
    items = [{"prompt": "a red circle on a blue background", "seed": i, "steps": 1} for i in range(40)]
    done = run(items, out_dir=tmp_path / "out", provider="diffusers:imagegen-mini", ledger=book, ray=True, workers=2,
               gpus_per_worker=0)
    assert all(isinstance(d, ItemDone) for d in done)
    assert len(pngs(tmp_path / "out")) == 40 and len({d.name for d in done}) == 40
    assert len({d.worker for d in done}) == 2
    assert [read_metadata(d.paths[0]).seed for d in done] == list(range(40))
    with Ledger(book) as ledger:
        assert [e.status for e in ledger.entries()] == ["ok"] * 40


def test_killing_an_actor_mid_run_still_yields_every_image_once(ray_local, tmp_path):
    seen: list[str] = []
    victim: list[str] = []

    def kill_the_other(index, outcome):
        if outcome.worker not in seen:
            seen.append(outcome.worker)
        if len(seen) == 2 and not victim:  # both are working: the first one is in the middle of its next item
            victim.append(seen[0])
            ray_local.kill(ray_local.get_actor(seen[0]), no_restart=True)

    provider = FakeProvider(capabilities=CAPS, latency=0.1, local=True)
    done = run([f"item {i}" for i in range(40)], out_dir=tmp_path, provider=provider, ray=True, workers=2,
               on_done=kill_the_other)
    assert victim and all(isinstance(d, ItemDone) for d in done)
    assert len(pngs(tmp_path)) == 40 and len({d.name for d in done}) == 40
    assert victim[0] not in {d.worker for d in done[-10:]}  # the last items came from the others


def test_four_concurrent_tasks_never_pass_one_budget(ray_local, tmp_path):
    book, log = tmp_path / "ledger.sqlite", tmp_path / "calls.jsonl"
    provider = FakeProvider(capabilities=CAPS, price_per_image=0.04, latency=0.05, log=log)
    done = run([f"item {i}" for i in range(20)], out_dir=tmp_path / "out", provider=provider, budget_usd=0.5,
               ledger=book, ray=True, concurrency=4)
    assert sum(isinstance(d, ItemDone) for d in done) == 12
    assert sum(isinstance(d, BudgetExceeded) for d in done) == 8
    assert len([e for e in events(log) if e["event"] == "end"]) == 12
    with Ledger(book) as ledger:
        assert ledger.spent() == pytest.approx(0.48)


def test_a_providers_concurrency_limit_holds_across_tasks(ray_local, tmp_path):
    log = tmp_path / "calls.jsonl"
    provider = FakeProvider(capabilities=CAPS, latency=0.1, log=log)
    run([f"item {i}" for i in range(6)], out_dir=tmp_path / "out", provider=provider, max_concurrency=1,
        ray=True, concurrency=4)
    running, most = 0, 0
    for e in events(log):
        running += 1 if e["event"] == "start" else -1
        most = max(most, running)
    assert most == 1 and len(events(log)) == 12
    assert len({e["pid"] for e in events(log)}) > 1  # the calls really came from several processes


def test_a_bad_item_fails_before_ray_does_any_work(ray_local, tmp_path):
    log = tmp_path / "calls.jsonl"
    with pytest.raises(BadItems, match="item 3: steps"):
        run(["a", "b", {"prompt": "c", "steps": 0}], out_dir=tmp_path / "out",
            provider=FakeProvider(log=log), ray=True)
    assert not log.exists() and not (tmp_path / "out").exists()


DRIVER = textwrap.dedent("""
    import sys
    import ray
    from imagegen.batch import run
    from imagegen.testing import FakeProvider
    from imagegen.provider import Capabilities

    ray.init(address=sys.argv[1], log_to_driver=False)
    caps = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({"seed"}))
    run([f"item {i}" for i in range(40)], out_dir=sys.argv[2], ray=True, concurrency=2,
        provider=FakeProvider(capabilities=caps, latency=0.2, log=sys.argv[3]))
""")


def test_a_rerun_after_the_driver_is_killed_makes_only_the_missing_images(ray_local, tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    address = ray_local.get_runtime_context().gcs_address
    proc = subprocess.Popen([sys.executable, str(script), address, str(out), str(tmp_path / "first.jsonl")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not (out.exists() and len(pngs(out)) >= 8):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "the driver made no images in time"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    there = set(pngs(out))
    assert 8 <= len(there) < 40
    log = tmp_path / "second.jsonl"
    done = run([f"item {i}" for i in range(40)], out_dir=out, ray=True, concurrency=2,
               provider=FakeProvider(capabilities=CAPS, log=log))
    remade = [e["prompt"] for e in events(log) if e["event"] == "start"]
    assert sorted(remade) == sorted(d.prompt for d in done if not d.skipped)
    assert len(remade) == 40 - len(there) == len(set(remade))
    assert len(pngs(out)) == 40


# -- the coordinator alone --------------------------------------------------------------------------------

def test_the_coordinator_paces_calls_to_one_provider_across_workers():
    coordinator = Coordinator(Settings(rpm=60, retry=RetryPolicy(clock=FakeClock())))

    async def three() -> list[float]:
        return [await coordinator.pace("fake:a") for _ in range(3)] + [await coordinator.pace("fake:b")]

    assert asyncio.run(three()) == [0.0, 1.0, 2.0, 0.0]


def test_the_slots_of_a_lost_worker_go_back_to_the_others():
    coordinator = Coordinator(Settings(max_concurrency=1))

    async def scenario() -> None:
        await coordinator.acquire("fake:a", "lost")
        waiting = asyncio.ensure_future(coordinator.acquire("fake:a", "alive"))
        await asyncio.sleep(0)
        assert not waiting.done()
        await coordinator.forget("lost")
        await asyncio.wait_for(waiting, 10)

    asyncio.run(scenario())


def test_a_ledger_path_that_is_a_folder_fails_naming_it_before_ray_runs(ray_local, tmp_path):
    from imagegen import InvalidRequest

    log = tmp_path / "calls.jsonl"
    with pytest.raises(InvalidRequest) as info:
        run(["a"], out_dir=tmp_path / "out", provider=FakeProvider(log=log), ledger=tmp_path, ray=True)
    assert info.value.field == "ledger" and not log.exists()
