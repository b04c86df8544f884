"""Budgets: reserve before, settle after, release on failure; never overshoot, even across processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from imagegen import Budget, BudgetExceeded, Capabilities, Client, Cost, InvalidRequest, Ledger, TransientError
from imagegen.provider import CostItem
from imagegen.testing import FakeProvider

ONE = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({"seed"}))


def priced(price: float | None = 0.04, **kw) -> FakeProvider:
    return FakeProvider(capabilities=ONE, price_per_image=price, **kw)


class NoEstimate(FakeProvider):
    """Knows its price only after the call, like a provider billing by usage."""

    estimate_cost = None  # type: ignore[assignment]


def test_a_call_that_would_pass_the_cap_is_refused_before_anything_is_sent():
    fake = priced(0.04)
    with pytest.raises(BudgetExceeded, match="budget"):
        Client(fake, budget_usd=0.03, retry=False).generate("x")
    assert fake.calls == []


def test_spend_is_settled_to_the_real_cost():
    client = Client(priced(0.04), budget_usd=0.1, retry=False)
    client.generate("x", n=2)
    assert client.budget.spent == pytest.approx(0.08)
    with pytest.raises(BudgetExceeded):
        client.generate("x")


def test_a_failed_call_releases_its_reservation():
    client = Client(priced(0.04, script=[TransientError("503")]), budget_usd=0.04, retry=False)
    with pytest.raises(TransientError):
        client.generate("x")
    assert client.budget.spent == 0.0
    assert client.generate("x").cost.usd == pytest.approx(0.04)


def test_split_requests_keep_the_images_the_budget_allowed():
    result = Client(priced(0.04), budget_usd=0.1, retry=False).generate("x", n=3, seed=1)
    assert result.seeds == [1, 2]
    assert any(w.startswith("partial: 2 of 3") for w in result.warnings)
    assert [a.status for a in result.attempts].count("refused") == 1


def test_fifty_concurrent_calls_never_overshoot():
    fake = priced(0.04, latency=0.01)
    client = Client(fake, budget_usd=1.0, retry=False)

    async def main():
        return await asyncio.gather(*(client.agenerate("x") for _ in range(50)), return_exceptions=True)

    outcomes = asyncio.run(main())
    ok = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(ok) == 25 and all(isinstance(o, BudgetExceeded) for o in outcomes if o not in ok)
    assert len(fake.calls) == 25 and sum(r.cost.usd for r in ok) == pytest.approx(1.0)


def test_fifty_calls_from_threads_sharing_a_ledger_never_overshoot(tmp_path):
    fake = priced(0.05, latency=0.005)
    client = Client(fake, budget_usd=1.0, ledger=tmp_path / "l.sqlite", retry=False)
    refused = []

    def one():
        try:
            client.generate("x")
        except BudgetExceeded:
            refused.append(1)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake.calls) == 20 and len(refused) == 30
    assert client.ledger.spent() == pytest.approx(1.0)


def test_the_same_ledger_file_carries_the_spend_to_a_new_client(tmp_path):
    path = tmp_path / "l.sqlite"
    Client(priced(0.3), budget_usd=1.0, ledger=path, retry=False).generate("x", n=3)
    fresh = priced(0.3)
    with pytest.raises(BudgetExceeded):
        Client(fresh, budget_usd=1.0, ledger=path, retry=False).generate("x")
    assert fresh.calls == []


def test_budget_since_starts_a_fresh_window(tmp_path):
    path = tmp_path / "l.sqlite"
    Client(priced(0.9), budget_usd=1.0, ledger=path, retry=False).generate("x")
    client = Client(priced(0.9), budget_usd=1.0, ledger=path, retry=False, budget_since="2999-01-01")
    assert client.generate("x").cost.usd == pytest.approx(0.9)


def test_processes_sharing_a_ledger_never_overshoot(tmp_path):
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    script = textwrap.dedent(f"""
        from imagegen import BudgetExceeded, Capabilities, Client
        from imagegen.testing import FakeProvider
        caps = Capabilities(default_size=(64, 64), max_images_per_call=1)
        client = Client(FakeProvider(capabilities=caps, price_per_image=0.05, latency=0.002), budget_usd=1.0,
                        ledger={str(path)!r}, retry=False)
        for _ in range(15):
            try:
                client.generate("x")
            except BudgetExceeded:
                pass
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    ledger = Ledger(path)
    ok = [e for e in ledger.entries() if e.status == "ok"]
    assert len(ok) == 20 and sum(e.cost_usd for e in ok) == pytest.approx(1.0)
    assert len([e for e in ledger.entries() if e.status == "refused"]) == 25


def test_a_dead_processes_reservation_is_charged_at_its_estimate(tmp_path):
    path = tmp_path / "l.sqlite"
    script = textwrap.dedent(f"""
        import sys
        from imagegen import Ledger
        Ledger({str(path)!r}).reserve(0.25, 1.0, request_id="lost", provider="p", model="m")
        print("reserved", flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "reserved"
    ledger = Ledger(path)
    assert ledger.spent() == pytest.approx(0.25)  # still in flight: held
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    ledger.reserve(0.0, 1.0, request_id="next", provider="p", model="m")  # reaps on the next reservation
    lost = [e for e in ledger.entries() if e.request_id == "lost"]
    assert [(e.status, e.cost_usd, e.cost_source) for e in lost] == [("interrupted", 0.25, "estimate")]
    assert ledger.spent() == pytest.approx(0.25)


def test_unknown_estimates_are_refused_by_default_before_anything_is_sent():
    fake = NoEstimate(capabilities=ONE, price_per_image=0.5)
    with pytest.raises(BudgetExceeded, match="cannot be bounded ahead.*unknown_cost='allow'"):
        Client(fake, budget_usd=1.0, retry=False).generate("x")
    assert fake.calls == []


def test_unknown_estimates_run_with_a_warning_when_allowed():
    fake = NoEstimate(capabilities=ONE, price_per_image=0.5)
    client = Client(fake, budget_usd=1.0, retry=False, unknown_cost="allow")
    result = client.generate("x")
    assert any(w.startswith("cost:") and "no cost estimate" in w for w in result.warnings)
    assert client.budget.spent == pytest.approx(0.5)  # counted once known
    client.generate("x")
    with pytest.raises(BudgetExceeded):  # the budget is used up: even unknown calls stop
        client.generate("x")
    assert len(fake.calls) == 2


def test_the_refusal_says_why_the_cost_cannot_be_bounded():
    class Unbounded(FakeProvider):
        def estimate_cost(self, req):
            return Cost(usd=None, items=[CostItem("input image tokens cannot be counted ahead", 1, None, None)])

    with pytest.raises(BudgetExceeded, match=r"\(input image tokens cannot be counted ahead\)"):
        Client(Unbounded(capabilities=ONE), budget_usd=1.0, retry=False).generate("x")


def test_an_unknown_policy_name_is_refused():
    with pytest.raises(InvalidRequest, match="'refuse'.*'allow'") as info:
        Client(FakeProvider(), budget_usd=1.0, unknown_cost="warn")
    assert info.value.field == "unknown_cost"


def test_a_success_without_a_price_is_charged_its_estimate(tmp_path):
    class PriceAfterUnknown(FakeProvider):
        async def generate(self, req):
            response = await super().generate(req)
            response.cost = Cost(usd=None)
            return response

    client = Client(PriceAfterUnknown(capabilities=ONE, price_per_image=0.2), budget_usd=1.0,
                    ledger=tmp_path / "l.sqlite", retry=False)
    result = client.generate("x")
    assert result.cost.usd is None
    assert [(e.cost_usd, e.cost_source) for e in client.ledger.entries()] == [(0.2, "estimate")]


def test_budget_repr_and_remaining():
    budget = Budget(2.0)
    hold = budget.reserve(Cost(usd=0.5), request_id="r", provider="p", model="m")
    assert budget.remaining == pytest.approx(1.5) and "limit_usd=2.0" in repr(budget)
    assert hold.known
