"""A batch process SIGKILLed mid-run leaves only complete images and an honest ledger, and the
rerun pays only for what is missing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from imagegen import Capabilities, Client, Ledger
from imagegen.metadata import read_png_text
from imagegen.testing import FakeProvider

PROMPTS = [f"item {i}" for i in range(12)]
CAPS = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({"seed"}))

BATCH = """
import sys
from imagegen import Capabilities, Client
from imagegen.testing import FakeProvider
caps = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({{"seed"}}))
provider = FakeProvider("cloud", capabilities=caps, price_per_image=0.01, latency=0.3)
client = Client(provider, ledger={ledger!r}, budget_usd=100.0, retry=False)
client.generate_many({prompts!r}, seed=5, out_dir={out!r}, concurrency=2)
"""


def wait_for_pngs(out: str, count: int, proc: subprocess.Popen, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if os.path.isdir(out) and len([f for f in os.listdir(out) if f.endswith(".png")]) >= count:
            return
        assert proc.poll() is None, "the batch ended before it could be killed"
        time.sleep(0.02)
    raise AssertionError("the batch made no progress")


def test_sigkill_mid_batch_loses_nothing_finished_and_the_rerun_does_not_pay_twice(tmp_path):
    out, ledger_path = str(tmp_path / "out"), str(tmp_path / "ledger.sqlite")
    script = textwrap.dedent(BATCH.format(ledger=ledger_path, prompts=PROMPTS, out=out))
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        wait_for_pngs(out, 4, proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    finished = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    assert 4 <= len(finished) < len(PROMPTS)
    ledger = Ledger(ledger_path)
    paid = {e.request_id for e in ledger.entries() if e.status == "ok"}
    for name in finished:  # every file on disk is a whole image, and was paid for exactly once
        path = os.path.join(out, name)
        meta = json.loads(read_png_text(path)["imagegen"])
        assert meta["request_id"] in paid
        assert [e.status for e in ledger.entries(request_id=meta["request_id"])] == ["ok"]

    paid_rows = len([e for e in ledger.entries() if e.status == "ok"])
    with sqlite3.connect(ledger_path) as conn:
        in_flight = conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0]

    rerun_provider = FakeProvider("cloud", capabilities=CAPS, price_per_image=0.01)
    client = Client(rerun_provider, ledger=ledger, budget_usd=100.0, retry=False)
    items = client.generate_many(PROMPTS, seed=5, out_dir=out, concurrency=2)
    assert len(rerun_provider.calls) == len(PROMPTS) - len(finished)
    assert all(len(item.images) == 1 for item in items)
    skipped = [item for item in items if item.cost.source == "skipped"]
    assert len(skipped) == len(finished) and all(item.cost.usd == 0.0 for item in skipped)
    assert len([f for f in os.listdir(out) if f.endswith(".png")]) == len(PROMPTS)
    # calls cut off by the kill were reserved; they are now on record as interrupted, never as ok
    entries = ledger.entries()
    assert {e.status for e in entries} <= {"ok", "interrupted"}
    assert len([e for e in entries if e.status == "interrupted"]) == in_flight
    assert len([e for e in entries if e.status == "ok"]) == paid_rows + len(rerun_provider.calls)
    with sqlite3.connect(ledger_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
