"""The progress of a job or a bulk process while the command follows it, on standard error
(standard output keeps the result, for pipes and ``$( … )``):

    Bar     a terminal: rich's live bar — ended/total, the counts by status, rate, ETA
    Lines   anything else (CI logs, pipes, files): a plain line when the status changes
            and every ``every`` seconds, never an animation

Both show the same figures: ``progress_text`` and one ``Rate`` per display.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Protocol, TextIO

from ims.cli_jobs.tally import STATUSES, Rate, Tally, duration

LINE_EVERY = 5.0  # seconds between two plain lines that say the same status
_STYLE = {"queued": "cyan", "processing": "blue", "succeeded": "green", "failed": "red", "canceled": "yellow"}


class Display(Protocol):
    def show(self, tally: Tally) -> None: ...

    def note(self, text: str) -> None: ...

    def close(self) -> None: ...


def pick(stream: TextIO | None = None) -> Display:
    """A live bar on a terminal, plain lines otherwise. The stream itself is asked, not rich's
    guess (which FORCE_COLOR, set by many CI runners, turns into "a terminal")."""
    stream = stream or sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()) or os.environ.get("TERM") == "dumb":
        return Lines(stream)
    from rich.console import Console

    return Bar(Console(file=stream, force_terminal=True))


def counts_text(tally: Tally, markup: bool = False) -> str:
    """``queued 3 · processing 2 · succeeded 40 · failed 1 · canceled 0`` (a bulk; a job: empty)."""
    if tally.kind == "job":
        return ""
    parts = [(s, f"{s} {tally.counts.get(s, 0)}") for s in STATUSES]
    return " · ".join(f"[{_STYLE[s]}]{text}[/]" if markup else text for s, text in parts)


def pace_text(tally: Tally, rate: Rate) -> str:
    """``12.5/s · ETA 1 min 20 s``; while listing the ETA waits for the total."""
    if tally.kind == "job":
        return ""
    per_second = rate.per_second()
    speed = "–/s" if per_second is None else f"{per_second:.1f}/s"
    if tally.done:
        return speed
    eta = "ETA after the listing" if tally.listing else f"ETA {duration(rate.eta(tally))}"
    return f"{speed} · {eta}"


def progress_text(tally: Tally, rate: Rate) -> str:
    """One plain line: ``bulk 6b…: running, 41/120 ended · queued 77 · … · 12.5/s · ETA 6.3 s``."""
    head = f"{tally.kind} {tally.id}: {tally.status}"
    if tally.kind == "job":
        return head
    ended = f"{tally.ended}/{tally.total}{'+' if tally.listing else ''} ended"
    return " · ".join([f"{head}, {ended}", counts_text(tally), pace_text(tally, rate)])


class Lines:
    def __init__(self, stream: TextIO, every: float = LINE_EVERY, clock=time.monotonic) -> None:
        self.stream, self.every, self.clock = stream, every, clock
        self.rate = Rate()
        self._last: tuple[float, str] | None = None

    def show(self, tally: Tally) -> None:
        now = self.clock()
        self.rate.add(now, tally.ended)
        if self._last is None or self._last[1] != tally.status or now - self._last[0] >= self.every:
            self._last = (now, tally.status)
            print(progress_text(tally, self.rate), file=self.stream, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class Bar:
    def __init__(self, console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = console
        self.rate = Rate()
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
                                 TextColumn("{task.fields[pace]}"), TimeElapsedColumn(),
                                 console=console, refresh_per_second=8)
        self.progress.start()
        self._task = None

    def show(self, tally: Tally) -> None:
        self.rate.add(time.monotonic(), tally.ended)
        fields = {"description": f"{tally.kind} {tally.id} [bold {_STYLE.get(tally.status, '')}]{tally.status}[/]", "total": tally.total or None,  # (none listed yet: rich pulses)
                  "completed": tally.ended, "counts": counts_text(tally, markup=True),
                  "pace": pace_text(tally, self.rate)}
        if self._task is None:
            self._task = self.progress.add_task(**fields)
        else:
            self.progress.update(self._task, **fields)

    def note(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self.progress.stop()
