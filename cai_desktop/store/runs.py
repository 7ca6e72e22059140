"""Runs (one per job launch): their settings, status, progress, result, metrics and log, and
who is running a run now.

A 'running' run has an owner: the process (pid and host) that claimed it and a heartbeat, the
time it last showed it was alive (``beat``, at most every few seconds). Starting a run again
(the same command, the Resume button, a double click) claims it in one ``BEGIN IMMEDIATE``
transaction: a run whose owner is alive is refused with one line naming it; a run whose owner is
gone (same host and the pid no longer exists, or no heartbeat for ``STALE_AFTER`` seconds from
another host) is taken over and continued.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cai_desktop.core.errors import ProjectError, RunInUse
from cai_desktop.store.base import Manager, loads, now

#: seconds without a heartbeat after which a run owned on another host counts as abandoned
STALE_AFTER = 120.0
#: the same, on this machine, where a live pid of another process says more (a pid reused by an
#: unrelated program is not trusted for longer than this)
STALE_SAME_HOST = 600.0
#: the least time between two heartbeats written from progress/log/metric calls
BEAT_EVERY = 5.0

#: (project file, run id) of the runs this process is executing now
_ACTIVE: set[tuple[str, int]] = set()
_ACTIVE_LOCK = threading.Lock()


def this_host() -> str:
    return socket.gethostname() or "localhost"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (never signals it)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate it on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return bool(ok) and code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False
    return True


def _age(stamp: str | None) -> float | None:
    """Seconds since an ISO timestamp (None when there is none)."""
    if not stamp:
        return None
    try:
        then = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - then).total_seconds()


@dataclass
class Owner:
    """Who holds a 'running' run."""

    run_id: int
    pid: int | None
    host: str | None
    heartbeat_at: str | None
    #: the process still runs it (a live pid here, a fresh heartbeat elsewhere)
    alive: bool
    #: this very process runs it (another thread or connection)
    here: bool = False

    def describe(self) -> str:
        if self.here:
            return f"this program (pid {self.pid})"
        age = _age(self.heartbeat_at)
        seen = f", last seen {age:.0f} s ago" if age is not None else ""
        if self.host == this_host():
            return f"another process (pid {self.pid} on this machine{seen})"
        return f"another process (pid {self.pid} on {self.host}{seen})"

    def refusal(self) -> RunInUse:
        where = "cancel it there" if not self.here else "cancel it first"
        return RunInUse(f"run {self.run_id} is running in {self.describe()}; wait for it or {where}.",
                        self.run_id, self.pid, self.host)


@dataclass
class Started:
    """What ``Runs.start`` did: the run, whether it is an earlier run continued, and the owner it
    took over from (a process that died with the run 'running'), if any."""

    run_id: int
    continued: bool
    took_over: Owner | None = None

#: the columns a runs table shows (no settings or results: those are read per run)
SUMMARY = ("id, kind, name, status, progress_done, progress_total, created_at, started_at, finished_at, "
           "error")


class Runs(Manager):
    """``project.runs``."""

    def create(self, kind: str, config: dict[str, Any], name: str = "", parent: int | None = None) -> int:
        return self.db["runs"].insert(
            {
                "kind": kind,
                "name": name or kind,
                "status": "queued",
                "config_json": json.dumps(config, default=str),
                "parent_run_id": parent,
                "created_at": now(),
            }
        ).last_pk

    def get(self, run_id: int) -> dict[str, Any]:
        """The run row with ``config``, ``result`` and ``lineage`` decoded; one clear line if none."""
        rows = self.query("SELECT * FROM runs WHERE id=?", [run_id])
        if not rows:
            raise ProjectError(f"No run {run_id} in this project.")
        r = rows[0]
        r["config"] = loads(r.pop("config_json"), {})
        r["result"] = loads(r.pop("result_json"), {})
        r["lineage"] = loads(r.pop("lineage_json"), {})
        return r

    def list(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every run (of ``kind``), newest first, as stored (``config_json`` undecoded)."""
        if kind:
            return self.query("SELECT * FROM runs WHERE kind=? ORDER BY id DESC", [kind])
        return self.query("SELECT * FROM runs ORDER BY id DESC")

    def page(self, offset: int = 0, limit: int = 200, kind: str | None = None) -> list[dict[str, Any]]:
        """One page of run summaries (``SUMMARY`` columns), newest first, for a paged table."""
        where, params = ("WHERE kind=?", [kind]) if kind else ("", [])
        return self.query(f"SELECT {SUMMARY} FROM runs {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                          [*params, int(limit), int(offset)])

    def count(self, kind: str | None = None) -> int:
        if kind:
            return int(self.scalar("SELECT COUNT(*) FROM runs WHERE kind=?", [kind]))
        return int(self.scalar("SELECT COUNT(*) FROM runs"))

    # -- owners ---------------------------------------------------------------------------------
    def _key(self, run_id: int) -> tuple[str, int]:
        return (str(self.project.path.resolve()), int(run_id))

    def _owner_of(self, row: dict[str, Any]) -> Owner:
        pid, host, beat = row.get("owner_pid"), row.get("owner_host"), row.get("heartbeat_at")
        owner = Owner(int(row["id"]), pid, host, beat, alive=False)
        if pid is None or not host:
            return owner  # a run from before owners were recorded: nobody to wait for
        age = _age(beat)
        if host == this_host():
            if pid == os.getpid():
                with _ACTIVE_LOCK:
                    owner.here = owner.alive = self._key(owner.run_id) in _ACTIVE
            else:
                owner.alive = pid_alive(pid) and (age is None or age < STALE_SAME_HOST)
        else:
            owner.alive = age is not None and age < STALE_AFTER
        return owner

    def owner(self, run_id: int) -> Owner | None:
        """Who runs this run now (None unless it is 'running'); ``alive`` says if that process
        is still there."""
        rows = self.query("SELECT id, status, owner_pid, owner_host, heartbeat_at FROM runs WHERE id=?", [run_id])
        if not rows:
            raise ProjectError(f"No run {run_id} in this project.")
        return self._owner_of(rows[0]) if rows[0]["status"] == "running" else None

    def _claim(self, run_id: int) -> Owner | None:
        """Inside a write transaction: make this process the run's owner (status 'running');
        returns the dead owner it took over from; raises ``RunInUse`` for a live one."""
        rows = self.query("SELECT id, status, owner_pid, owner_host, heartbeat_at FROM runs WHERE id=?", [run_id])
        if not rows:
            raise ProjectError(f"No run {run_id} in this project.")
        previous = None
        if rows[0]["status"] == "running":
            previous = self._owner_of(rows[0])
            if previous.alive:
                raise previous.refusal()
        ts = now()
        self.db.execute(
            "UPDATE runs SET status='running', started_at=?, error=NULL, owner_pid=?, owner_host=?, heartbeat_at=? "
            "WHERE id=?", [ts, os.getpid(), this_host(), ts, run_id])
        return previous

    def _register(self, run_id: int) -> None:
        with _ACTIVE_LOCK:
            _ACTIVE.add(self._key(run_id))

    def claim(self, run_id: int) -> Owner | None:
        """Make this process the owner of ``run_id`` (it becomes 'running'). Refuses (``RunInUse``,
        one line naming the owner) when a live process runs it; returns the dead owner taken over
        from, if any. Call ``release`` when the run ends."""
        with self.db.atomic():
            previous = self._claim(run_id)
        self._register(run_id)
        return previous

    def start(
        self, kind: str, config: dict[str, Any], name: str = "", *, resume_run: int | None = None,
        pick: Callable[[], int | None] | None = None,
    ) -> Started:
        """Choose and claim the run a job works on, in one ``BEGIN IMMEDIATE`` transaction, so two
        launches at the same moment can neither both take one run nor both make a new one:
        ``resume_run`` if given, else what ``pick()`` finds (the resume policy's unfinished run),
        else a new run."""
        with self.db.atomic():
            continued = resume_run
            if continued is None and pick is not None:
                continued = pick()
            if continued is not None:
                started = Started(int(continued), True, self._claim(continued))
            else:
                run_id = self.create(kind, config, name=name)
                self._claim(run_id)
                started = Started(int(run_id), False)
        self._register(started.run_id)
        return started

    def release(self, run_id: int) -> None:
        """This process no longer runs ``run_id`` (call after its final status is written)."""
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self._key(run_id))

    def beat(self, run_id: int) -> None:
        """The owner is alive: refresh the heartbeat (only while this process owns the run)."""
        self.db.execute(
            "UPDATE runs SET heartbeat_at=? WHERE id=? AND status='running' AND owner_pid=? AND owner_host=?",
            [now(), run_id, os.getpid(), this_host()])

    def set_status(self, run_id: int, status: str, error: str | None = None) -> None:
        fields: dict[str, Any] = {"status": status}
        if status == "running":
            fields["started_at"] = now()
            fields["error"] = None
            fields.update(owner_pid=os.getpid(), owner_host=this_host(), heartbeat_at=fields["started_at"])
        if status in ("done", "failed", "cancelled"):
            fields["finished_at"] = now()
        if error is not None:
            fields["error"] = error
        self.db["runs"].update(run_id, fields)

    def set_result(self, run_id: int, result: dict[str, Any], lineage: dict | None = None) -> None:
        fields = {"result_json": json.dumps(result, default=str)}
        if lineage is not None:
            fields["lineage_json"] = json.dumps(lineage, default=str)
        self.db["runs"].update(run_id, fields)

    def set_progress(self, run_id: int, done: int, total: int) -> None:
        self.db.execute("UPDATE runs SET progress_done=?, progress_total=? WHERE id=?", [done, total, run_id])

    # -- metrics ------------------------------------------------------------------------------------
    def add_metric(self, run_id: int, name: str, value: float, step: int) -> None:
        """One value per run, name and step, the latest: a trainer killed after its last checkpoint
        and resumed repeats those steps, and their new values replace the dead process's."""
        with self.db.atomic():
            self.db.execute("DELETE FROM metrics WHERE run_id=? AND name=? AND step=?", [run_id, name, int(step)])
            self.db.execute("INSERT INTO metrics (run_id, name, step, value, created_at) VALUES (?, ?, ?, ?, ?)",
                            [run_id, name, int(step), float(value), now()])

    def metrics(self, run_id: int, name: str | None = None) -> list[dict[str, Any]]:
        """``{name, step, value}`` of a run (one metric when ``name``), by step."""
        if name:
            return self.query(
                "SELECT name, step, value FROM metrics WHERE run_id=? AND name=? ORDER BY step, id",
                [run_id, name],
            )
        return self.query("SELECT name, step, value FROM metrics WHERE run_id=? ORDER BY step, id", [run_id])

    def forget_metrics_after(self, run_id: int, step: int) -> None:
        """Resuming repeats the steps after the last checkpoint: drop their metrics so none doubles."""
        with self.db.atomic():
            self.db.execute("DELETE FROM metrics WHERE run_id=? AND step>?", [run_id, step])

    # -- log ----------------------------------------------------------------------------------------
    def add_log(self, run_id: int, text: str) -> None:
        self.db["run_logs"].insert({"run_id": run_id, "text": text, "created_at": now()})

    def logs(self, run_id: int) -> list[str]:
        return [r["text"] for r in self.query("SELECT text FROM run_logs WHERE run_id=? ORDER BY id", [run_id])]

    def log_rows(self, run_id: int, after_id: int = 0) -> list[dict[str, Any]]:
        """A run's log lines (``id``, ``text``) after ``after_id``: a live view reads only what is
        new since it last looked, so a line never shows twice, whatever arrives first (the
        runner's signal or the committed row)."""
        return self.query("SELECT id, text FROM run_logs WHERE run_id=? AND id>? ORDER BY id", [run_id, after_id])


class Heartbeat:
    """A daemon thread that beats for a run every ``every`` seconds on its own connection, so a
    long silent stretch (loading a model, one slow training step) never looks like a dead owner.
    Best effort: a busy or read-only file skips a beat. ``stop()`` ends it."""

    def __init__(self, path: Any, run_id: int, every: float = 30.0):
        self.path, self.run_id, self.every = str(path), int(run_id), float(every)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"cai-heartbeat-{run_id}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _loop(self) -> None:
        con = None
        try:
            while not self._stop.wait(self.every):
                try:
                    if con is None:
                        con = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
                    con.execute(
                        "UPDATE runs SET heartbeat_at=? WHERE id=? AND status='running' AND owner_pid=? "
                        "AND owner_host=?", [now(), self.run_id, os.getpid(), this_host()])
                except sqlite3.Error:
                    continue
        finally:
            if con is not None:
                con.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
