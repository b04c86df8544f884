"""What the command is waiting for, on stderr: each phase by name, with a bar and ETA where the total is known.

Phases: ``importing`` (a provider's libraries), ``setting up`` and ``loading`` a model, ``denoising i/n``,
``waiting for`` a remote provider, ``retrying in Ns``, ``saving``. A provider names its own phases through
``ProgressEvent`` stages (``import``, ``load``, ``denoise``, ``generate``; see ``imagegen.provider``);
``Watched`` adds one ``attempt`` event per call and the one-time ``prepare``.

On a terminal the display is one live line (rich). Anywhere else it is quiet unless asked for, and then
prints one plain line per phase, never per step, so a log file stays readable.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ._wrapped import Wrapped
from .provider import ProgressEvent, Provider, ProviderRequest, ProviderResponse

__all__ = ["Display", "Watched", "describe"]


class _WhenCounted(ProgressColumn):
    """``inner``, but only for a phase whose total is known (no ``0/?`` or empty bar while loading), and for
    an ETA only once there is one (no ``-:--:--``)."""

    def __init__(self, inner: ProgressColumn) -> None:
        super().__init__()
        self.inner = inner

    def render(self, task: Task) -> Any:
        eta_unknown = isinstance(self.inner, TimeRemainingColumn) and task.time_remaining is None
        return Text("") if task.total is None or eta_unknown else self.inner.render(task)


def describe(event: ProgressEvent, label: str) -> str:
    """The phase an event from provider ``label`` stands for, as a person reads it."""
    stage = event.stage
    if stage == "attempt":
        return f"waiting for {label}" + (f" (attempt {event.step})" if event.step > 1 else "")
    if stage == "import":
        return f"importing {event.detail or label}"
    if stage == "load":
        return f"loading {event.detail or label}"
    if stage == "denoise":
        return f"denoising {label}" + (f" (image {event.image_index + 1})" if event.image_index else "")
    if stage == "generate":
        return f"receiving from {label}"
    return f"{stage} {label}" + (f": {event.detail}" if event.detail else "")


class Display:
    """The progress display of one command. ``enabled=False`` shows nothing and costs nothing."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self.shown: list[str] = []  # every phase shown, in order (what a plain log prints)
        self._lock = threading.Lock()
        self._label = ""
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                  _WhenCounted(BarColumn()), _WhenCounted(MofNCompleteColumn()),
                                  TimeElapsedColumn(), _WhenCounted(TimeRemainingColumn()),
                                  console=console, transient=True, disable=not self.live)
        self._task = self._progress.add_task("starting", total=None)

    def phase(self, text: str, *, step: int = 0, total: int | None = None) -> None:
        """Enter (or advance) a phase. A new phase restarts the clock; the same one moves its bar."""
        with self._lock:
            new = not self.shown or self.shown[-1] != text
            if new:
                self.shown.append(text)
            if new:
                self._progress.reset(self._task, description=text, total=total, completed=step)
            else:
                self._progress.update(self._task, total=total, completed=step)
            if new and self.enabled and not self.live:
                counted = f" ({total} steps)" if total else ""
                self.console.print(f"{text}{counted}", markup=False, highlight=False, soft_wrap=True)

    def event(self, event: ProgressEvent, label: str) -> None:
        """A provider's ``ProgressEvent``; ``label`` is its ``name:model``."""
        self._label = label
        total = event.total or None
        self.phase(describe(event, label), step=event.step if total else 0, total=total)

    def watch(self, provider: Provider) -> Watched:
        return Watched(provider, self)

    async def sleep(self, seconds: float) -> None:
        """A ``RetryPolicy`` sleep that says what it waits for: the retry of the last provider seen."""
        who = f" {self._label}" if self._label else ""
        self.phase(f"retrying{who} in {seconds:.0f}s" if seconds >= 1 else f"retrying{who}")
        await asyncio.sleep(seconds)

    def __enter__(self) -> Display:
        if self.live:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self._progress.stop()


class Watched(Wrapped):
    """A provider whose phases show on a ``Display``: its one-time ``prepare`` ("setting up"), one
    ``attempt`` event per call (so remote waits and retries show) and the provider's own events."""

    def __init__(self, provider: Provider, display: Display) -> None:
        super().__init__(provider)
        self._display = display
        self._calls = 0

    def _setting_up(self) -> None:
        self._display.phase(f"setting up {self.label}")

    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        self._calls += 1
        self._display.event(ProgressEvent("attempt", self._calls, 0, req.index), self.label)
        user = req.progress

        def both(event: ProgressEvent) -> None:
            self._display.event(event, self.label)
            if user is not None:
                user(event)

        req.progress = both
        return await self._client.generate(req)
