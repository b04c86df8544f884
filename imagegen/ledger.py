"""``Ledger``: a durable record of every provider attempt and what it cost, in one SQLite file.

SQLite in WAL mode lets many threads and processes append and read at once; each write is one
short ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``, so a crash (even a power cut)
leaves either the whole row or none, and a row is on disk before the result returns. The schema
is versioned with ``PRAGMA user_version``. Budget reservations live in the same file, which is
what makes a budget hold across processes that share the ledger (see ``imagegen.budget``).

    ledger = Ledger("imagegen-ledger.sqlite")
    for row in ledger.summary():           # totals by provider, model and UTC day
        print(row.provider, row.model, row.day, row.usd)
    ledger.to_csv("costs.csv")
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import json
import math
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import IO, Any, TypeVar

from ._process import alive
from .checks import check_timeout
from .errors import BudgetExceeded, ImageGenError, InvalidRequest

__all__ = ["SCHEMA_VERSION", "Ledger", "LedgerEntry", "LedgerTotal"]

F = TypeVar("F", bound=Callable[..., Any])

SCHEMA_VERSION = 2
#: Budget comparisons allow this much float rounding (25 x $0.04 must fit a $1 cap).
EPSILON_USD = 1e-9

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id          INTEGER PRIMARY KEY,
    ts          REAL NOT NULL,
    day         TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    operation   TEXT,
    n           INTEGER NOT NULL DEFAULT 0,
    size        TEXT,
    attempt     INTEGER NOT NULL DEFAULT 1,
    status      TEXT NOT NULL,
    error       TEXT,
    message     TEXT,
    cost_usd    REAL,
    cost_source TEXT,
    latency_s   REAL,
    seeds       TEXT,
    user        TEXT
);
CREATE INDEX IF NOT EXISTS attempts_day ON attempts(day);
CREATE INDEX IF NOT EXISTS attempts_request ON attempts(request_id);
CREATE TABLE IF NOT EXISTS reservations (
    id          INTEGER PRIMARY KEY,
    ts          REAL NOT NULL,
    request_id  TEXT NOT NULL,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    amount      REAL NOT NULL,
    pid         INTEGER NOT NULL,
    host        TEXT NOT NULL,
    scope       TEXT,
    user        TEXT,
    charge      INTEGER NOT NULL DEFAULT 1
);
"""
#: What each schema version adds to the one before it (a ledger file is upgraded in place).
_MIGRATIONS = {
    2: ("ALTER TABLE attempts ADD COLUMN user TEXT", "ALTER TABLE reservations ADD COLUMN scope TEXT",
        "ALTER TABLE reservations ADD COLUMN user TEXT",
        "ALTER TABLE reservations ADD COLUMN charge INTEGER NOT NULL DEFAULT 1"),
}

_GROUPS = ("provider", "model", "day", "user")
_DEFAULT_GROUPS = ("provider", "model", "day")


@dataclass
class LedgerEntry:
    """One attempt as stored. ``status`` is "ok", "error", "refused" (budget) or "interrupted"
    (the process died mid-call; it is charged its estimate, since the provider may have billed).
    ``user`` is who the attempt was for (``generate(user=...)``; on a server, the API key's name)."""

    request_id: str
    provider: str
    model: str
    status: str
    operation: str | None = None
    n: int = 0
    size: str | None = None
    attempt: int = 1
    error: str | None = None
    message: str | None = None
    cost_usd: float | None = None
    cost_source: str | None = None
    latency_s: float | None = None
    seeds: list[int | None] = field(default_factory=list)
    user: str | None = None
    ts: float = field(default_factory=time.time)
    id: int | None = None

    @property
    def day(self) -> str:
        return _day(self.ts)


@dataclass
class LedgerTotal:
    """Totals for one group of ``Ledger.summary``; a field not grouped by is None."""

    provider: str | None
    model: str | None
    day: str | None
    attempts: int
    ok: int
    errors: int
    images: int
    usd: float
    unknown_cost: int  # successful attempts whose price is unknown (not included in usd)
    user: str | None = None


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%Y-%m-%d")


def _ts(value: dt.datetime | dt.date | str | float | None, field: str = "since") -> float | None:
    """A bound for queries: a unix time, a datetime, a date or an ISO date string (UTC); anything else (NaN,
    a list, a bool) is an ``InvalidRequest`` naming ``field``."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InvalidRequest(f"{field}: a unix time must be a finite number; got {value!r}", field=field)
        return float(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRequest(f"{field}: expected an ISO date like '2026-01-31'; got {value!r}",
                                 field=field) from None
    if not isinstance(value, dt.date):
        raise InvalidRequest(f"{field}: expected a date, a datetime, an ISO date string or a unix time; got "
                             f"{type(value).__name__} {value!r:.60}", field=field)
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()


def _guarded(method: F) -> F:
    """Run a ``Ledger`` method so that a file SQLite cannot use (a folder, a text file, a PNG, a corrupt or
    foreign database) is an ``InvalidRequest`` naming the ledger, never a raw ``sqlite3`` error."""

    @functools.wraps(method)
    def run(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None

    return run  # type: ignore[return-value]


@dataclass
class Reservation:
    """Money set aside for one call until it is settled or released."""

    amount: float
    id: int | None = None


class Ledger:
    """Append-only attempt log plus live budget reservations, safe across threads and processes."""

    @_guarded
    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidRequest(f"ledger: expected a file path; got {type(path).__name__}", field="ledger")
        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            raise InvalidRequest(f"ledger: {self.path} is a folder; give the path of a ledger file (it is created "
                                 "when missing)", field="ledger")
        self._timeout = check_timeout(timeout, "ledger timeout") or 30.0
        self._local = threading.local()
        self._host = socket.gethostname()
        self._closed = False
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self._migrate()

    # -- connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise ImageGenError(f"ledger {self.path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before reading so check-then-insert is atomic."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ImageGenError(f"ledger {self.path} has schema {version}, newer than this imagegen "
                                    f"understands ({SCHEMA_VERSION}); upgrade imagegen")
            if version < SCHEMA_VERSION:
                fresh = conn.execute("SELECT name FROM sqlite_master WHERE name = 'attempts'").fetchone() is None
                if fresh:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                else:
                    for step in range(version + 1, SCHEMA_VERSION + 1):
                        for statement in _MIGRATIONS[step]:
                            conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    @_guarded
    def schema_version(self) -> int:
        return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close every connection this object opened (in this process)."""
        self._closed = True
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.path!r})"

    def _unusable(self, exc: BaseException) -> InvalidRequest:
        return InvalidRequest(f"ledger: {self.path} cannot be used as an imagegen ledger ({type(exc).__name__}: "
                              f"{exc}); point --ledger/ledger= at another file, or move this one away",
                              field="ledger")

    # -- writing -----------------------------------------------------------------------------

    @_guarded
    def record(self, entry: LedgerEntry) -> None:
        """Append one attempt."""
        with self._write() as conn:
            self._insert(conn, entry)

    @staticmethod
    def _insert(conn: sqlite3.Connection, e: LedgerEntry) -> None:
        cur = conn.execute(
            "INSERT INTO attempts (ts, day, request_id, provider, model, operation, n, size, attempt, status, "
            "error, message, cost_usd, cost_source, latency_s, seeds, user) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (e.ts, e.day, e.request_id, e.provider, e.model, e.operation, e.n, e.size, e.attempt, e.status,
             e.error, e.message, e.cost_usd, e.cost_source, e.latency_s, json.dumps(list(e.seeds)), e.user))
        e.id = cur.lastrowid

    @_guarded
    def reserve(self, amount: float, limit_usd: float, *, request_id: str, provider: str, model: str,
                since: float | None = None, unknown: bool = False, user: str | None = None,
                scope: str | None = None, charge: bool = True) -> Reservation:
        """Set ``amount`` aside if spent + reserved + amount stays within ``limit_usd``; else
        raise ``BudgetExceeded``. An ``unknown`` cost needs some budget left. Reservations of
        processes that died are settled first.

        ``scope=None`` is the whole ledger's budget; ``scope="alice"`` is the budget of the user
        ``alice`` alone (her attempts and her scoped reservations). ``charge``: whether this
        reservation, if its process dies, is charged as an attempt (one reservation per call is;
        the others a call holds only release)."""
        with self._write() as conn:
            self._reap(conn)
            spent = self._spent(conn, since, scope)
            if over_budget(spent, amount, limit_usd, unknown):
                whose = f"{scope}'s " if scope is not None else ""
                raise BudgetExceeded(
                    f"budget: this call may cost ${amount:.4f} but ${spent:.4f} of {whose}${limit_usd:.2f} "
                    f"budget is spent or reserved (ledger {self.path})",
                    provider=f"{provider}:{model}", spent_usd=spent, limit_usd=limit_usd, estimate_usd=amount)
            cur = conn.execute(
                "INSERT INTO reservations (ts, request_id, provider, model, amount, pid, host, scope, user, charge) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)", (time.time(), request_id, provider, model, amount, os.getpid(),
                                                self._host, scope, user, int(charge)))
            return Reservation(amount=amount, id=cur.lastrowid)

    @_guarded
    def release(self, reservation: Reservation | None) -> None:
        """Drop ``reservation`` without recording anything (another budget records the attempt)."""
        if reservation is None or reservation.id is None:
            return
        with self._write() as conn:
            conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))

    @_guarded
    def settle(self, reservation: Reservation | None, entry: LedgerEntry) -> None:
        """Drop ``reservation`` and append ``entry`` in one transaction: spend is never counted
        twice or not at all, even by another process reading in between."""
        with self._write() as conn:
            if reservation is not None and reservation.id is not None:
                conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))
            self._insert(conn, entry)

    def _reap(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute("SELECT id, ts, request_id, provider, model, amount, pid, user, charge FROM reservations "
                            "WHERE host = ?", (self._host,)).fetchall()
        for rid, ts, request_id, provider, model, amount, pid, user, charge in rows:
            if alive(pid):
                continue
            conn.execute("DELETE FROM reservations WHERE id = ?", (rid,))
            if not charge:
                continue
            self._insert(conn, LedgerEntry(
                request_id=request_id, provider=provider, model=model, status="interrupted",
                error="Interrupted", message=f"process {pid} ended during the call; charged at its estimate",
                cost_usd=amount, cost_source="estimate", ts=ts, user=user))

    @staticmethod
    def _spent(conn: sqlite3.Connection, since: float | None, scope: str | None = None) -> float:
        """Recorded plus reserved dollars: the whole ledger's (``scope=None``) or one user's."""
        where: list[str] = ["ts >= ?"] if since is not None else []
        args: list[Any] = [since] if since is not None else []
        spent_where, held_where = list(where), list(where)
        spent_args, held_args = list(args), list(args)
        if scope is None:
            held_where.append("scope IS NULL")
        else:
            spent_where.append("user = ?")
            spent_args.append(scope)
            held_where.append("scope = ?")
            held_args.append(scope)
        spent = conn.execute(f"SELECT COALESCE(SUM(cost_usd), 0) FROM attempts {_clause(spent_where)}",
                             spent_args).fetchone()[0]
        held = conn.execute(f"SELECT COALESCE(SUM(amount), 0) FROM reservations {_clause(held_where)}",
                            held_args).fetchone()[0]
        return float(spent) + float(held)

    # -- reading -----------------------------------------------------------------------------

    @_guarded
    def spent(self, since: dt.datetime | dt.date | str | float | None = None, *, user: str | None = None) -> float:
        """Dollars recorded (plus those reserved by calls in flight) since ``since``; with ``user``, that
        user's alone."""
        return self._spent(self._conn(), _ts(since), user)

    @_guarded
    def entries(self, *, request_id: str | None = None, since: dt.datetime | dt.date | str | float | None = None,
                until: dt.datetime | dt.date | str | float | None = None) -> list[LedgerEntry]:
        """Attempts in the order they were written."""
        where, args = _where(since, until)
        if request_id is not None:
            where.append("request_id = ?")
            args.append(request_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        cur = self._conn().execute(
            "SELECT id, ts, request_id, provider, model, operation, n, size, attempt, status, error, message, "
            f"cost_usd, cost_source, latency_s, seeds, user FROM attempts {clause} ORDER BY id", args)
        try:
            return [LedgerEntry(id=r[0], ts=r[1], request_id=r[2], provider=r[3], model=r[4], operation=r[5], n=r[6],
                                size=r[7], attempt=r[8], status=r[9], error=r[10], message=r[11], cost_usd=r[12],
                                cost_source=r[13], latency_s=r[14], seeds=json.loads(r[15] or "[]"), user=r[16])
                    for r in cur.fetchall()]
        except (TypeError, ValueError) as exc:  # a row no imagegen wrote: seeds that are not JSON, ...
            raise self._unusable(exc) from None

    @_guarded
    def summary(self, by: Sequence[str] = _DEFAULT_GROUPS, *, since: dt.datetime | dt.date | str | float | None = None,
                until: dt.datetime | dt.date | str | float | None = None) -> list[LedgerTotal]:
        """Totals grouped by any of "provider", "model", "day" (UTC) and "user", sorted by those keys."""
        keys = list(by)
        bad = [k for k in keys if k not in _GROUPS]
        if bad:
            raise InvalidRequest(f"by: cannot group by {bad}; choose from {', '.join(_GROUPS)}", field="by")
        where, args = _where(since, until)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        group = f"GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else ""
        select = ", ".join([
            *keys, "COUNT(*)", "SUM(status = 'ok')", "SUM(status NOT IN ('ok'))",
            "COALESCE(SUM(CASE WHEN status = 'ok' THEN n ELSE 0 END), 0)", "COALESCE(SUM(cost_usd), 0)",
            "SUM(status = 'ok' AND cost_usd IS NULL)"])
        rows = self._conn().execute(f"SELECT {select} FROM attempts {clause} {group}", args).fetchall()
        out = []
        for row in rows:
            named = dict(zip(keys, row[:len(keys)], strict=True))
            attempts, ok, errors, images, usd, unknown = row[len(keys):]
            if attempts == 0:
                continue
            out.append(LedgerTotal(provider=named.get("provider"), model=named.get("model"), day=named.get("day"),
                                   attempts=int(attempts), ok=int(ok or 0), errors=int(errors or 0),
                                   images=int(images), usd=float(usd), unknown_cost=int(unknown or 0),
                                   user=named.get("user")))
        return out

    @_guarded
    def to_csv(self, dest: str | os.PathLike[str] | IO[str], *,
               since: dt.datetime | dt.date | str | float | None = None,
               until: dt.datetime | dt.date | str | float | None = None) -> int:
        """Write every attempt (with an ISO ``time`` and ``day`` column) as CSV; returns the row count."""
        columns = ["time", "day"] + [f.name for f in fields(LedgerEntry) if f.name not in ("ts",)]
        entries = self.entries(since=since, until=until)

        def write(fh: IO[str]) -> None:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for e in entries:
                row: dict[str, Any] = asdict(e)
                row.pop("ts")
                row["seeds"] = json.dumps(e.seeds)
                row["time"] = dt.datetime.fromtimestamp(e.ts, tz=dt.timezone.utc).isoformat()
                row["day"] = e.day
                writer.writerow(row)

        if isinstance(dest, (str, os.PathLike)):
            with open(dest, "w", newline="", encoding="utf-8") as fh:
                write(fh)
        else:
            write(dest)
        return len(entries)


def over_budget(used: float, amount: float, limit_usd: float, unknown: bool = False) -> bool:
    """True when ``amount`` more would pass the cap (or, for an unknown cost, nothing is left)."""
    if unknown:
        return used >= limit_usd - EPSILON_USD
    return used + amount > limit_usd + EPSILON_USD


def _clause(where: list[str]) -> str:
    return f"WHERE {' AND '.join(where)}" if where else ""


def _where(since: Any, until: Any) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if (lo := _ts(since)) is not None:
        where.append("ts >= ?")
        args.append(lo)
    if (hi := _ts(until, "until")) is not None:
        where.append("ts < ?")
        args.append(hi)
    return where, args
