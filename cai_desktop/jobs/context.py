"""The job context: what a running job may tell the world and ask of it.

A job is a plain function ``run(ctx, params) -> result``. The same job runs under the CLI
(``ConsoleContext``, a terminal progress bar), under the GUI (the Qt runner adapts these calls
to signals) and in tests (``RecordingContext``).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cai_desktop.core.context import EtaClock, JobContext, check_cancelled
from cai_desktop.engine.distributed import is_main_process

__all__ = ["BaseContext", "ConsoleContext", "JobContext", "RecordingContext"]


class BaseContext:
    """Holds the cancel flag; subclasses decide where messages go."""

    def __init__(self) -> None:
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        check_cancelled(self)

    def progress(self, done: int, total: int, message: str = "") -> None:  # pragma: no cover
        pass

    def log(self, text: str) -> None:  # pragma: no cover
        pass

    def metric(self, name: str, value: float, step: int) -> None:  # pragma: no cover
        pass


@dataclass
class RecordingContext(BaseContext):
    """Keeps everything in lists; used by tests and as a null context.

    ``cancel_after_progress=n`` sets the cancel flag after the n-th progress call, which lets a
    test stop a job between batches deterministically.
    """

    cancel_after_progress: int | None = None
    progress_calls: list[tuple[int, int, str]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    metrics: list[tuple[str, float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        BaseContext.__init__(self)

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.progress_calls.append((done, total, message))
        if self.cancel_after_progress is not None and len(self.progress_calls) >= self.cancel_after_progress:
            self.cancel()

    def log(self, text: str) -> None:
        self.logs.append(text)

    def metric(self, name: str, value: float, step: int) -> None:
        self.metrics.append((name, float(value), int(step)))

    def metric_values(self, name: str) -> list[float]:
        return [v for n, v, _ in self.metrics if n == name]


class ConsoleContext(BaseContext):
    """Terminal progress bar for the CLI; Ctrl+C sets the cancel flag (the job stops cleanly)."""

    def __init__(self, stream: Any = None, quiet: bool | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        # under ``accelerate launch`` only the main process draws the bar and prints the log
        self.quiet = (not is_main_process()) if quiet is None else quiet
        self._last = 0.0
        self._eta = EtaClock()
        self.metrics: list[tuple[str, float, int]] = []

    def eta(self, done: int, total: int, now: float) -> float | None:
        """Seconds left, or None while unknown or done (see ``core.context.EtaClock``). One console
        serves several jobs in a row (the demo): a count that goes back is the next job's, a new count."""
        if done < self._eta.done:
            self._eta = EtaClock()
        _, left = self._eta.update(done, total, now)
        return None if left < 0 or done >= total else left

    @contextlib.contextmanager
    def sigint_cancels(self) -> Iterator[None]:
        """While inside: the first Ctrl+C asks the job to stop cleanly (checkpoint, status
        cancelled, the same command resumes); a second one aborts at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self.cancelled():
                raise KeyboardInterrupt
            self.cancel()
            self.stream.write("\nstopping after the current step (finished work is kept); "
                              "press Ctrl+C again to abort now\n")
            self.stream.flush()

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def progress(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        left = self.eta(done, total, now)
        if self.quiet or (now - self._last < 0.2 and done < total):
            return
        self._last = now
        width = 30
        frac = done / total if total else 0.0
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        eta = "" if left is None else f" eta {left:.0f}s"
        self.stream.write(f"\r[{bar}] {done}/{total}{eta} {message[:50]:<50}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()

    def log(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(f"\r{text}\n")
            self.stream.flush()

    def metric(self, name: str, value: float, step: int) -> None:
        self.metrics.append((name, float(value), int(step)))
