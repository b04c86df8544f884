"""Who a request is for (``user=``): on every ledger row, and capped per user beside the client's budget."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from imagegen import BudgetExceeded, Capabilities, Client, InvalidRequest, Ledger
from imagegen.ledger import SCHEMA_VERSION
from imagegen.testing import FakeProvider

ONE = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({"seed"}))


def priced(price: float = 0.04) -> FakeProvider:
    return FakeProvider(capabilities=ONE, price_per_image=price)


def test_every_ledger_row_names_the_user(tmp_path):
    client = Client(priced(), ledger=tmp_path / "l.sqlite", retry=False)
    result = client.generate("x", n=2, user="alice")
    assert [e.user for e in client.ledger.entries(request_id=result.request_id)] == ["alice", "alice"]


def test_a_user_over_their_own_cap_is_refused_while_others_go_on(tmp_path):
    fake = priced(0.04)
    client = Client(fake, ledger=tmp_path / "l.sqlite", budget_usd=1.0, user_budgets={"alice": 0.05}, retry=False)
    client.generate("x", user="alice")
    with pytest.raises(BudgetExceeded, match="alice"):
        client.generate("x", user="alice")
    assert client.generate("x", user="bob").cost.usd == pytest.approx(0.04)
    assert client.user_budgets["alice"].spent == pytest.approx(0.04)
    assert client.budget.spent == pytest.approx(0.08)
    refused = [e for e in client.ledger.entries() if e.status == "refused"]
    assert [(e.user, e.cost_usd) for e in refused] == [("alice", None)]


def test_the_clients_cap_still_holds_for_a_user_with_room_left(tmp_path):
    client = Client(priced(0.04), ledger=tmp_path / "l.sqlite", budget_usd=0.05, user_budgets={"alice": 10.0},
                    retry=False)
    client.generate("x", user="bob")
    with pytest.raises(BudgetExceeded):
        client.generate("x", user="alice")
    assert client.user_budgets["alice"].spent == 0.0  # its reservation was given back


def test_concurrent_calls_for_one_user_never_pass_their_cap(tmp_path):
    client = Client(priced(0.04), ledger=tmp_path / "l.sqlite", user_budgets={"alice": 0.4}, retry=False)
    outcomes: list[str] = []

    def one() -> None:
        try:
            client.generate("x", user="alice")
            outcomes.append("ok")
        except BudgetExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 10
    assert client.ledger.spent(user="alice") == pytest.approx(0.4)


def test_a_users_cap_counts_what_they_spent_before(tmp_path):
    path = tmp_path / "l.sqlite"
    Client(priced(0.04), ledger=path, retry=False).generate("x", user="alice")
    again = Client(priced(0.04), ledger=path, user_budgets={"alice": 0.05}, retry=False)
    with pytest.raises(BudgetExceeded):
        again.generate("x", user="alice")


def test_summary_groups_by_user(tmp_path):
    client = Client(priced(0.04), ledger=tmp_path / "l.sqlite", retry=False)
    client.generate("x", user="alice")
    client.generate("x", n=2, user="bob")
    totals = {t.user: t.usd for t in client.ledger.summary(by=["user"])}
    assert totals == {"alice": pytest.approx(0.04), "bob": pytest.approx(0.08)}


def test_a_blank_user_names_the_parameter():
    with pytest.raises(InvalidRequest, match="user"):
        Client(priced(), retry=False).generate("x", user=" ")


def test_a_version_1_ledger_is_upgraded_in_place_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE attempts (id INTEGER PRIMARY KEY, ts REAL NOT NULL, day TEXT NOT NULL, request_id TEXT NOT NULL,
            provider TEXT NOT NULL, model TEXT NOT NULL, operation TEXT, n INTEGER NOT NULL DEFAULT 0, size TEXT,
            attempt INTEGER NOT NULL DEFAULT 1, status TEXT NOT NULL, error TEXT, message TEXT, cost_usd REAL,
            cost_source TEXT, latency_s REAL, seeds TEXT);
        CREATE TABLE reservations (id INTEGER PRIMARY KEY, ts REAL NOT NULL, request_id TEXT NOT NULL,
            provider TEXT NOT NULL, model TEXT NOT NULL, amount REAL NOT NULL, pid INTEGER NOT NULL,
            host TEXT NOT NULL);
        INSERT INTO attempts (ts, day, request_id, provider, model, status, cost_usd, seeds)
            VALUES (1.0, '1970-01-01', 'old', 'fake', 'm', 'ok', 0.5, '[]');
        PRAGMA user_version = 1;
    """)
    conn.close()
    ledger = Ledger(path)
    assert ledger.schema_version == SCHEMA_VERSION
    assert [(e.request_id, e.user, e.cost_usd) for e in ledger.entries()] == [("old", None, 0.5)]
    Client(priced(0.04), ledger=ledger, retry=False).generate("x", user="alice")
    assert ledger.spent(user="alice") == pytest.approx(0.04) and ledger.spent() == pytest.approx(0.54)
