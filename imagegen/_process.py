"""Whether a process on this machine is still running: how the ledger and atomic writes tell what a dead
process left behind (a reservation, a temp file) from what a live one is still using."""

from __future__ import annotations

import os

__all__ = ["alive"]


def alive(pid: int) -> bool:
    """True unless process ``pid`` certainly ended (on Windows, where asking would kill it: always True)."""
    if pid == os.getpid() or os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError included: it runs, as someone else
        return True
    return True
