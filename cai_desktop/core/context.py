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


class Eta:
    """Seconds left from the rate since a job's first report with work done.

    A restarted count (done going down) or a changed total starts the count again, so one helper
    serves several jobs in a row; work already done when a run resumes is not counted as speed.
    """

    def __init__(self) -> None:
        self._base: tuple[float, int, int] | None = None  # (time, done, total) the rate counts from
        self._prev = 0

    def update(self, done: int, total: int, now: float) -> float | None:
        if self._base is None or done < self._prev or total != self._base[2]:
            self._base = (now, done, total)
        self._prev = done
        t0, d0, _ = self._base
        if done <= d0 or done >= total or now <= t0:
            return None
        return (now - t0) / (done - d0) * (total - done)
