"""The job context every job and engine function is handed (plain Python, no Qt, no torch).

``JobContext`` is what a running job may tell the world and ask of it. The CLI's terminal bar,
the GUI's Qt runner, a run's store recorder and the tests' recorder all implement it.
"""

from __future__ import annotations

from typing import Any, Protocol

from cai_desktop.core.errors import Cancelled


class JobContext(Protocol):
    def progress(self, done: int, total: int, message: str = "") -> None: ...
    def log(self, text: str) -> None: ...
    def metric(self, name: str, value: float, step: int) -> None: ...
    def cancelled(self) -> bool: ...


def check_cancelled(ctx: Any) -> None:
    """The one cancel check: raises ``Cancelled`` when the user asked to stop."""
    if ctx is not None and ctx.cancelled():
        raise Cancelled("cancelled by the user")


class CancelOnly:
    """Passes cancel and log lines through, drops progress and metrics: for an engine helper
    called inside a job that reports progress in its own units (chains, labels)."""

    def __init__(self, ctx: Any):
        self.ctx = ctx

    def cancelled(self) -> bool:
        return bool(self.ctx is not None and self.ctx.cancelled())

    def progress(self, done: int, total: int, message: str = "") -> None:
        pass

    def log(self, text: str) -> None:
        if self.ctx is not None:
            self.ctx.log(text)

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        pass


class EtaClock:
    """Shown progress and seconds left for one job, from the job's own reports.

    The rate counts from the job's first report (so an estimate shows at the second report, as
    soon as one is possible) and, once there is one, from its first report with work done beyond
    that (so a slow start, a model load after "0/4 starting", stops weighing on it). Work already
    done when a run resumes (a first report of 8/12) is never counted as speed. Within one count
    (the same total) the shown value never goes back; a new total starts a new count.
    """

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self._first: tuple[float, int] | None = None  # the count's first report
        self._moved: tuple[float, int] | None = None  # its first report with done above that

    def update(self, done: int, total: int, now: float) -> tuple[int, float]:
        """Returns ``(done to show, eta seconds)``; the eta is -1 while not known yet."""
        if self._first is None or total != self.total:
            self.total, self.done = total, done
            self._first, self._moved = (now, done), None
        else:
            done = max(done, self.done)
            if done > self._first[1] and self._moved is None:
                self._moved = (now, done)
            self.done = done
        if total <= 0:
            return done, -1.0
        if done >= total:
            return done, 0.0
        base = self._moved if self._moved is not None and done > self._moved[1] else self._first
        t0, d0 = base
        if done <= d0 or now <= t0:
            return done, -1.0
        rate = (done - d0) / (now - t0)
        return done, (total - done) / rate
