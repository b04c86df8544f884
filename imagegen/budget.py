"""``Budget``: a dollar cap that concurrent calls can never overshoot.

Before each provider call the provider's ``estimate_cost(req)`` is reserved; the call is refused
with ``BudgetExceeded`` (before any money is spent) when spent + reserved + estimate would pass
the cap. After the call the reservation is settled to the real cost (or released when the call
failed). Check-and-reserve is one atomic step: under a lock in memory, or one SQLite write
transaction when the budget lives in a ``Ledger`` file, which makes the cap hold across every
process sharing that file.

An estimate is an upper bound of what the call can cost (a token-priced model's includes its input text
and the most output tokens its size and quality can produce), so the cap holds by construction. A call
whose cost cannot be bounded (a provider without ``estimate_cost``, or one that returns no amount) follows
``unknown_cost``: ``"refuse"`` (default) raises ``BudgetExceeded`` before anything is sent, saying why;
``"allow"`` (opt in) lets it run while some budget is left, reserving nothing, with a warning, and counts
its real cost afterwards. When a call succeeds but reports no price, its estimate is charged; when it
costs more than was reserved, the result says so (a ``cost`` warning with both amounts).

A budget with ``user`` caps one user's spend (``Client(user_budgets=...)``): it counts only that user's
attempts and reservations in the ledger, so a server can give each API key its own cap beside the
server-wide one; a call holds a reservation in each budget that applies to it.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import dataclass
from typing import Literal

from .errors import BudgetExceeded, InvalidRequest
from .ledger import Ledger, LedgerEntry, Reservation, _ts, over_budget
from .result import Cost

__all__ = ["UNKNOWN_COST_POLICIES", "Budget", "UnknownCostPolicy"]

UnknownCostPolicy = Literal["refuse", "allow"]
UNKNOWN_COST_POLICIES: tuple[UnknownCostPolicy, ...] = ("refuse", "allow")


@dataclass
class Hold:
    """A reservation as the client sees it: how much, and whether the estimate was unknown."""

    reservation: Reservation
    known: bool


class Budget:
    """A spending cap for one ``Client``; pass ``ledger`` to share it with other processes, ``user`` to
    cap one user's spend only."""

    def __init__(self, limit_usd: float, *, ledger: Ledger | None = None,
                 since: dt.datetime | dt.date | str | float | None = None,
                 unknown_cost: UnknownCostPolicy = "refuse", user: str | None = None) -> None:
        if (isinstance(limit_usd, bool) or not isinstance(limit_usd, (int, float)) or not math.isfinite(limit_usd)
                or not limit_usd >= 0):
            raise InvalidRequest(f"budget_usd: must be a finite number of dollars >= 0; got {limit_usd!r}",
                                 field="budget_usd")
        if unknown_cost not in UNKNOWN_COST_POLICIES:
            raise InvalidRequest(f"unknown_cost: must be 'refuse' (calls whose cost cannot be bounded are refused) "
                                 f"or 'allow' (they run while budget is left); got {unknown_cost!r}",
                                 field="unknown_cost")
        self.limit_usd = float(limit_usd)
        self.ledger = ledger
        self.since = _ts(since, "budget_since")
        self.unknown_cost = unknown_cost
        self.user = user
        self._lock = threading.Lock()
        self._spent = 0.0
        self._reserved = 0.0

    @property
    def spent(self) -> float:
        """Dollars spent plus dollars reserved by calls in flight."""
        if self.ledger is not None:
            return self.ledger.spent(self.since, user=self.user)
        with self._lock:
            return self._spent + self._reserved

    @property
    def remaining(self) -> float:
        return max(0.0, self.limit_usd - self.spent)

    def reserve(self, estimate: Cost | None, *, request_id: str, provider: str, model: str,
                user: str | None = None, charge: bool = True) -> Hold:
        """Set the estimate aside or raise ``BudgetExceeded``. ``user``: who the call is for (recorded
        with the reservation); ``charge``: see ``Ledger.reserve``."""
        known = estimate is not None and estimate.usd is not None
        whose = f" {self.user}'s" if self.user is not None else ""
        if not known and self.unknown_cost == "refuse":
            why = "; ".join(i.description for i in (estimate.items if estimate is not None else []) if i.usd is None)
            raise BudgetExceeded(f"budget:{whose} the cost of this {provider}:{model} call cannot be bounded ahead"
                                 f"{' (' + why + ')' if why else ''}, so budget_usd cannot hold it back; pass "
                                 "unknown_cost='allow' to run such calls anyway (their real cost is counted "
                                 "afterwards)", provider=f"{provider}:{model}", limit_usd=self.limit_usd)
        amount = float(estimate.usd) if estimate is not None and estimate.usd is not None else 0.0
        if self.ledger is not None:
            res = self.ledger.reserve(amount, self.limit_usd, request_id=request_id, provider=provider,
                                      model=model, since=self.since, unknown=not known, user=user,
                                      scope=self.user, charge=charge)
            return Hold(res, known)
        with self._lock:
            used = self._spent + self._reserved
            if over_budget(used, amount, self.limit_usd, unknown=not known):
                raise BudgetExceeded(
                    f"budget: this call may cost ${amount:.4f} but ${used:.4f} of{whose or ' the'} "
                    f"${self.limit_usd:.2f} budget is spent or reserved", provider=f"{provider}:{model}",
                    spent_usd=used, limit_usd=self.limit_usd, estimate_usd=amount)
            self._reserved += amount
        return Hold(Reservation(amount=amount), known)

    def settle(self, hold: Hold, entry: LedgerEntry, *, record: bool = True) -> None:
        """Replace the reservation with ``entry.cost_usd`` (0 for a failed call) and, with ``record``,
        write ``entry`` to the ledger in the same step (without: another budget of the call writes it)."""
        if self.ledger is not None:
            if record:
                self.ledger.settle(hold.reservation, entry)
            else:
                self.ledger.release(hold.reservation)
            return
        with self._lock:
            self._reserved -= hold.reservation.amount
            self._spent += entry.cost_usd or 0.0

    def release(self, hold: Hold) -> None:
        """Give a reservation back unspent (another budget of the same call refused it)."""
        if self.ledger is not None:
            self.ledger.release(hold.reservation)
            return
        with self._lock:
            self._reserved -= hold.reservation.amount

    def __repr__(self) -> str:
        where = f", ledger={self.ledger.path!r}" if self.ledger is not None else ""
        who = f", user={self.user!r}" if self.user is not None else ""
        return f"Budget(limit_usd={self.limit_usd}{where}{who})"
