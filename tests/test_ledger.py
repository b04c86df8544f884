"""Ledger: one row per attempt, durable, versioned, safe across threads and processes."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from imagegen import (
    Capabilities,
    Client,
    ImageGenError,
    InvalidRequest,
    Ledger,
    LedgerEntry,
    RetryPolicy,
    TransientError,
)
from imagegen.ledger import SCHEMA_VERSION
from imagegen.testing import FakeClock, FakeProvider

SMALL = Capabilities(default_size=(64, 64), max_images_per_call=2, supports=frozenset({"seed"}))


def entry(**fields) -> LedgerEntry:
    base = {"request_id": "r", "provider": "fake", "model": "m", "status": "ok", "n": 1, "cost_usd": 0.01}
    return LedgerEntry(**{**base, **fields})


def test_new_file_is_wal_and_carries_the_schema_version(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    assert ledger.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(tmp_path / "l.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ImageGenError, match="newer"):
        Ledger(path)


def test_every_attempt_gets_a_row_with_its_fields(tmp_path):
    clock = FakeClock()
    fake = FakeProvider(capabilities=SMALL, price_per_image=0.02, script=[TransientError("503")])
    client = Client(fake, ledger=tmp_path / "l.sqlite", retry=RetryPolicy(sleep=clock.sleep, clock=clock))
    result = client.generate("x", n=3, seed=4, size="64x64")
    rows = client.ledger.entries(request_id=result.request_id)
    assert sorted((r.status, r.attempt, r.seeds) for r in rows) == [
        ("error", 1, [4, 5]), ("ok", 1, [6]), ("ok", 2, [4, 5])]
    ok = [r for r in rows if r.status == "ok"]
    assert sum(r.cost_usd for r in ok) == pytest.approx(0.06) and {r.cost_source for r in ok} == {"price-table"}
    err = next(r for r in rows if r.status == "error")
    assert (err.error, err.cost_usd, err.operation, err.size) == ("TransientError", None, "txt2img", "64x64")
    assert all(r.latency_s is not None and r.latency_s >= 0 for r in rows)


def test_rows_are_in_the_file_when_generate_returns(tmp_path):
    path = tmp_path / "l.sqlite"
    result = Client(FakeProvider(capabilities=SMALL), ledger=path, retry=False).generate("x", size="64x64")
    conn = sqlite3.connect(path)  # a separate reader, as another process would be
    assert conn.execute("SELECT status FROM attempts WHERE request_id = ?", (result.request_id,)).fetchall() == [
        ("ok",)]


def test_summary_totals_by_provider_model_and_day(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    day1, day2 = 1_767_225_600.0, 1_767_312_000.0  # 2026-01-01 and 2026-01-02 UTC
    for e in [entry(ts=day1, n=2, cost_usd=0.08), entry(ts=day1, status="error", error="TransientError",
                                                          cost_usd=None),
              entry(ts=day2), entry(ts=day2, model="other", cost_usd=None)]:
        ledger.record(e)
    rows = {(r.provider, r.model, r.day): r for r in ledger.summary()}
    first = rows[("fake", "m", "2026-01-01")]
    assert (first.attempts, first.ok, first.errors, first.images, first.usd) == (2, 1, 1, 2, pytest.approx(0.08))
    assert rows[("fake", "other", "2026-01-02")].unknown_cost == 1
    by_day = ledger.summary(by=["day"])
    assert [(r.day, r.usd) for r in by_day] == [("2026-01-01", pytest.approx(0.08)),
                                                ("2026-01-02", pytest.approx(0.01))]
    assert [r.attempts for r in ledger.summary(by=[], since="2026-01-02")] == [2]


def test_summary_rejects_unknown_groupings(tmp_path):
    with pytest.raises(InvalidRequest, match="by"):
        Ledger(tmp_path / "l.sqlite").summary(by=["colour"])


def test_csv_export_has_one_row_per_attempt(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.record(entry(seeds=[1, 2], size="64x64"))
    ledger.record(entry(status="error", error="RateLimited", cost_usd=None))
    buf = io.StringIO()
    assert ledger.to_csv(buf) == 2
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["status"] for r in rows] == ["ok", "error"]
    assert rows[0]["seeds"] == "[1, 2]" and rows[0]["size"] == "64x64" and rows[0]["time"].endswith("+00:00")
    path = tmp_path / "costs.csv"
    ledger.to_csv(path)
    assert path.read_text().splitlines()[0].startswith("time,day,request_id,provider,model,status")


def test_concurrent_threads_lose_no_rows(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")

    def work(k):
        for i in range(25):
            ledger.record(entry(request_id=f"{k}-{i}"))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({e.request_id for e in ledger.entries()}) == 200


def test_concurrent_processes_lose_no_rows(tmp_path):
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    script = textwrap.dedent(f"""
        import sys
        from imagegen import Ledger, LedgerEntry
        ledger = Ledger({str(path)!r})
        for i in range(50):
            ledger.record(LedgerEntry(request_id=f"{{sys.argv[1]}}-{{i}}", provider="p", model="m", status="ok",
                                      cost_usd=0.01))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(k)]) for k in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    ledger = Ledger(path)
    assert len({e.request_id for e in ledger.entries()}) == 200
    assert ledger.spent() == pytest.approx(2.0)


def test_bad_date_bounds_name_the_parameter(tmp_path):
    with pytest.raises(InvalidRequest, match="since"):
        Ledger(tmp_path / "l.sqlite").entries(since="last tuesday")
