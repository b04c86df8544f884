"""Configuration is checked where it is given: NaN and infinity in any float setting, wrong types, a ledger
path that is not a ledger, a provider chain of the wrong things and a scorer that returns nonsense are each
an ``InvalidRequest`` naming the setting, never a raw ``sqlite3``/``TypeError``/``ValueError``."""

from __future__ import annotations

import asyncio
import io
import json
import math
import sqlite3

import pytest
from PIL import Image

from imagegen import Budget, Capabilities, Client, InvalidRequest, Ledger, RetryPolicy, TransientError
from imagegen.testing import FakeProvider

ONE = Capabilities(default_size=(64, 64), max_images_per_call=4)


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, True, "5"])
def test_a_client_timeout_must_be_finite_seconds(value):
    with pytest.raises(InvalidRequest) as info:
        Client(FakeProvider(), timeout=value)
    assert info.value.field == "timeout"


@pytest.mark.parametrize("name", ["initial", "multiplier", "max_wait", "max_retry_after", "total_timeout"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_retry_settings_refuse_nan_and_infinity(name, value):
    with pytest.raises(InvalidRequest, match=f"retry.{name}") as info:
        RetryPolicy(**{name: value})
    assert info.value.field == "retry"


@pytest.mark.parametrize("value", [math.nan, math.inf, -0.5, True])
def test_a_budget_must_be_finite_dollars(value):
    with pytest.raises(InvalidRequest) as info:
        Client(FakeProvider(), budget_usd=value)
    assert info.value.field == "budget_usd"


@pytest.mark.parametrize("since", [math.nan, math.inf, [1], True, "yesterday"])
def test_budget_since_must_be_a_time(since, tmp_path):
    with pytest.raises(InvalidRequest) as info:
        Client(FakeProvider(), budget_usd=1, ledger=tmp_path / "l.sqlite", budget_since=since)
    assert info.value.field == "budget_since"


def test_budget_since_nan_cannot_switch_the_ledger_budget_off(tmp_path):
    path = tmp_path / "l.sqlite"
    Client(FakeProvider(capabilities=ONE, price_per_image=0.9), budget_usd=1, ledger=path).generate("x")
    with pytest.raises(InvalidRequest):
        Budget(1.0, ledger=Ledger(path), since=math.nan)


@pytest.mark.parametrize("rpm", [math.nan, math.inf])
def test_rpm_must_be_finite(rpm):
    with pytest.raises(InvalidRequest) as info:
        Client(FakeProvider(), rpm=rpm)
    assert info.value.field == "rpm"


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["folder", "text file", "png"])
def test_a_ledger_path_that_is_not_a_ledger_is_refused_naming_the_ledger(kind, tmp_path):
    path = tmp_path / "ledger"
    if kind == "folder":
        path.mkdir()
    elif kind == "text file":
        path.write_text("hello, I am notes.txt\n" * 50)
    else:
        path.write_bytes(_png_bytes())
    with pytest.raises(InvalidRequest) as info:
        Client(FakeProvider(), ledger=path)
    assert info.value.field == "ledger" and str(path) in str(info.value)


def test_a_truncated_ledger_is_refused_naming_the_ledger(tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path):
        pass
    with Client(FakeProvider(capabilities=ONE, price_per_image=0.01), ledger=path) as client:
        for _ in range(3):
            client.generate("x")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InvalidRequest) as info:
        Ledger(path).summary()
    assert info.value.field == "ledger"


def test_a_database_of_another_schema_is_refused_naming_the_ledger(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE attempts (x TEXT)")
        conn.execute("PRAGMA user_version = 2")
    with pytest.raises(InvalidRequest) as info:
        Ledger(path).summary()
    assert info.value.field == "ledger"


def test_a_row_no_imagegen_wrote_is_refused_naming_the_ledger(tmp_path):
    path = tmp_path / "l.sqlite"
    with Client(FakeProvider(capabilities=ONE, price_per_image=0.01), ledger=path) as client:
        client.generate("x")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE attempts SET seeds = ?", ("{not json",))
    with pytest.raises(InvalidRequest) as info:
        Ledger(path).entries()
    assert info.value.field == "ledger"
    json.dumps([t.usd for t in Ledger(path).summary()])  # totals do not read the seeds: still fine


@pytest.mark.parametrize("provider", [5, [None], [5], [""], ["fake:x", object()], {"fake": 1}])
def test_a_provider_chain_of_the_wrong_things_is_refused_naming_the_provider(provider):
    fake = FakeProvider()
    with pytest.raises(InvalidRequest) as info:
        Client(fake, retry=False).generate("x", provider=provider)
    assert info.value.field == "provider" and fake.calls == []


def test_a_client_built_with_a_wrong_chain_is_refused():
    with pytest.raises(InvalidRequest) as info:
        Client(5)  # type: ignore[arg-type]
    assert info.value.field == "provider"


@pytest.mark.parametrize("scores", ["abc", [math.nan, 1.0], ["1", "2"], {"a": 1, "b": 2}, 3])
def test_a_scorer_returning_nonsense_is_refused_and_the_images_are_kept(scores):
    fake = FakeProvider(capabilities=ONE)
    with pytest.raises(InvalidRequest) as info:
        Client(fake, retry=False).generate("x", n=2, select=1, scorer=lambda images, prompt: scores)
    assert info.value.field == "scorer"
    assert len(info.value.images) == 2 and info.value.request_id  # paid-for images travel with the error


def test_a_scorer_that_raises_is_said_to_have_raised():
    def broken(images, prompt):
        raise ZeroDivisionError("oops")

    with pytest.raises(InvalidRequest, match="scorer: raised ZeroDivisionError: oops") as info:
        Client(FakeProvider(capabilities=ONE), retry=False).generate("x", n=2, select=1, scorer=broken)
    assert len(info.value.images) == 2


class Hangs(FakeProvider):
    """Answers never: the hung call ``total_timeout`` must cut off."""

    async def generate(self, req):
        self.calls.append(req)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_total_timeout_bounds_a_hung_attempt_without_a_client_timeout():
    hangs = Hangs(capabilities=ONE)
    client = Client(hangs, retry=RetryPolicy(attempts=3, total_timeout=0.2))
    with pytest.raises(TransientError, match=r"retry\.total_timeout") as info:
        client.generate("x")
    assert len(hangs.calls) == 1  # no retry starts once the time is up
    assert [a.status for a in info.value.attempts] == ["error"]


def test_the_client_timeout_still_wins_when_it_is_shorter():
    client = Client(Hangs(capabilities=ONE), timeout=0.1, retry=RetryPolicy(attempts=1, total_timeout=60))
    with pytest.raises(TransientError, match=r"within 0\.1s \(timeout\)"):
        client.generate("x")
