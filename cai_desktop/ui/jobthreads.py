"""What every job thread leans on: a safe ``emit`` and the registry of the threads started.

``emit`` works around a reference leak in PySide6's ``SignalInstance.emit`` (below) and is used for
every signal the job runner, its workers and the pages that relay job signals send; the registry
lets a test fixture fail a test that leaves a job or background thread running.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

_threads: list[QThread] = []  # every job thread started, so tests can assert none is left running


def _emit_leaks_bools() -> bool:
    """Whether ``SignalInstance.emit`` returns True/False without a reference (PySide6 6.12 on
    Python < 3.12, where bools are not immortal): each emit then takes one reference from the
    interpreter's ``True``, and after some thousands of progress signals ``True`` is freed and the
    process aborts ("Fatal Python error: bool_dealloc"), mid-run or at exit."""
    if sys.version_info >= (3, 12):
        return False

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(16):
        probe.ping.emit()
    leaked = sys.getrefcount(True) < before - 8
    if leaked:
        for _ in range(16):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    return leaked


_LEAKY_EMIT = _emit_leaks_bools()


def emit(signal: Any, *args: Any) -> None:
    """``signal.emit(*args)``, giving back the reference a leaky PySide6 emit takes (see above).
    Every signal the runner and its workers send goes through here: a long job sends tens of thousands."""
    result = signal.emit(*args)
    if _LEAKY_EMIT and isinstance(result, bool):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))


def running_threads() -> list[QThread]:
    """Job threads still running (a test fixture fails a test that leaves one behind)."""
    alive = []
    for t in list(_threads):
        try:
            if t.isRunning():
                alive.append(t)
            else:
                _threads.remove(t)
        except RuntimeError:  # the C++ object is already deleted
            _threads.remove(t)
    return alive
