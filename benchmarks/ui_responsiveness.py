"""Main-thread stalls while the GUI opens dialogs and real jobs run. Last line: max_stall_ms=<x>.

Builds a sample project and a tiny random Llama model (in a subprocess, so this process imports
torch only when its first job does, as the app does), opens the main window (offscreen) and, with
a 10 ms QTimer heartbeat recording how late each tick fires (a stall is the delay beyond the
interval), goes through:

1. dialogs: every "new run" dialog (``ParamsDialog(kind, project_path, project=project)`` for each
   launchable kind, from ``cai_desktop.jobs.registry`` or, in older trees,
   ``cai_desktop.ui.widgets.jobkinds``), opened, painted and closed;
2. missing model: "Add hub id" and try-it with a hub model that does not exist (the look-up and
   the error happen in a background call and in the job, never on the GUI thread; this is the
   first job, so it also pays for importing torch);
3. jobs: a critique → revision job and a few LoRA SFT steps on the tiny model through
   ``MainWindow.submit_job`` (the same path as the "new run" dialogs).

``--online`` lets the missing model be looked up on the hub (default: HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

MISSING_MODEL = "cai-desktop-benchmark/no-such-model"


def launchable_kinds() -> tuple[str, ...]:
    """The kinds with a "new run" dialog, from whichever registry this tree has."""
    try:
        from cai_desktop.jobs.registry import LAUNCHABLE
    except ImportError:
        from cai_desktop.ui.widgets.jobkinds import LAUNCHABLE
    return tuple(LAUNCHABLE)


def make_model_in_subprocess(path: Path) -> Path:
    code = "import sys; from cai_desktop.engine.tiny import make_tiny_model; make_tiny_model(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--revisions", type=int, default=2)
    ap.add_argument("--sft-steps", type=int, default=4)
    ap.add_argument("--baseline-s", type=float, default=3.0, help="seconds of probing with nothing to do first")
    ap.add_argument("--online", action="store_true", help="look the missing model up on the hub")
    ap.add_argument("--skip-jobs", action="store_true", help="only the dialogs and the missing model")
    args = ap.parse_args()
    if not args.online:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="cai-bench-"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):  # leave the user's settings alone
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp / "settings"))
    os.environ.setdefault("HF_HOME", str(tmp / "hf"))  # an empty hub cache: the model is surely missing
    model_dir = make_model_in_subprocess(tmp / "tiny-llama")

    from cai_desktop.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if not window.create_project(tmp / "bench.caiproj", sample=True):
        raise SystemExit("could not create the sample project")
    app.processEvents()
    project = window.project
    project_path = str(project.path)

    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]
    gaps: list[tuple[float, int, str]] = []  # (gap ms, when it started ns, phase)
    phase = ["baseline"]
    events: list[tuple[int, str]] = []  # (ns, what happened), to explain stalls

    def tick() -> None:
        now = clock.nsecsElapsed()
        gaps.append(((now - last[0]) / 1e6, last[0], phase[0]))
        last[0] = now

    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(tick)

    def note(what: str) -> None:
        events.append((clock.nsecsElapsed(), what))

    def pump(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)

    def start_phase(name: str) -> None:
        phase[0] = name
        note(f"phase {name}")

    results: dict[str, str] = {}

    def ended(job_id: int) -> None:
        job = window.runner.jobs[job_id]
        results[job.name] = job.status if job.status != "failed" else f"failed: {job.error}"

    window.runner.job_ended.connect(ended)
    window.runner.job_started.connect(lambda j: note(f"start {window.runner.jobs[j].kind}"))
    window.runner.job_progress.connect(lambda j, d, t, m, e: note(f"progress {d}/{t} {m}"))
    window.runner.job_log.connect(lambda j, t: note("log " + t[-80:].replace("\n", " | ")))

    # 0. baseline: the same probe with nothing to do (what the machine's own load costs)
    probe.start()
    pump(args.baseline_s)
    t0 = time.perf_counter()

    # 1. every "new run" dialog
    from cai_desktop.ui.widgets.forms import ParamsDialog

    start_phase("dialogs")
    kinds = launchable_kinds()
    for kind in kinds:
        note(f"open dialog {kind}")
        dlg = ParamsDialog(kind, project_path, project=project)
        dlg.open()
        pump(0.15)
        dlg.reject()
        dlg.deleteLater()
        pump(0.05)

    # 2. a hub model that does not exist: added on the Models page, then tried
    start_phase("missing model")
    window.show_page("models")
    page = window.pages["models"]
    pump(0.1)
    note("add hub id")
    page.add_model(MISSING_MODEL)
    deadline = time.perf_counter() + 60
    while page.checking and time.perf_counter() < deadline:
        pump(0.02)
    note(f"add said: {page.add_status.text()[:80]}")
    page.prompt.setPlainText("Say hello.")
    page.combo_a.addItem("missing", (MISSING_MODEL, None))
    page.combo_a.setCurrentIndex(page.combo_a.count() - 1)
    note("try it")
    page.answer()
    if not window.runner.wait_idle(120_000):
        raise SystemExit("try-it did not end in 2 minutes")
    pump(0.3)
    tryit_said = page.tryit_status.text()

    # 3. real jobs on the tiny model
    if not args.skip_jobs:
        from cai_desktop.jobs.critique import CritiqueParams
        from cai_desktop.jobs.sft import SFTParams

        start_phase("jobs")
        window.show_page("runs")
        window.submit_job("critique", CritiqueParams(
            project=project_path, model=str(model_dir), limit=args.prompts, revisions=args.revisions, split=None,
            max_new_tokens=16, critique_max_new_tokens=16, batch_size=4, few_shot=0), "critique (bench)")
        window.submit_job("sft", SFTParams(
            project=project_path, base=str(model_dir), max_steps=args.sft_steps, batch_size=2, max_length=128,
            save_steps=2), "SFT (bench)")
        if not window.runner.wait_idle(600_000):
            raise SystemExit("jobs did not finish in 10 minutes")
    probe.stop()
    wall = time.perf_counter() - t0
    window._force_close = True
    window.close()

    def stalls(name: str | None = None) -> list[float]:
        return [max(0.0, g - 10.0) for g, _, p in gaps if (p == name if name else p != "baseline")]

    print(f"dialogs opened: {len(kinds)} ({', '.join(kinds)})")
    print(f"missing model: add said {page.add_status.text()!r}; try-it said {tryit_said!r}")
    print(f"jobs: {results}  wall {wall:.1f} s  probe ticks {len(gaps)}")
    worst = sorted((g for g in gaps if g[2] != "baseline"), reverse=True)[:5]
    for gap, at, ph in worst:
        before = [e for t, e in events if t <= at][-1:] or ["(before any event)"]
        after = [e for t, e in events if t > at][:1] or ["-"]
        print(f"  stall {gap - 10:.0f} ms in {ph} after: {before[0][:90]!r} / next: {after[0][:90]!r}")
    base = stalls("baseline")
    if base:
        print(f"idle baseline stall ms: max {max(base):.1f} over {len(base)} ticks (machine load alone)")
    for name in ("dialogs", "missing model", "jobs"):
        s = stalls(name)
        if s:
            print(f"{name:>13}: max stall {max(s):.1f} ms, median {statistics.median(s):.1f} over {len(s)} ticks")
    every = sorted(stalls())
    p99 = every[int(0.99 * (len(every) - 1))] if every else 0.0
    print(f"stall ms: median {statistics.median(every):.1f}, p99 {p99:.1f}, max {max(every):.1f} (target max < 100)")
    bad = {k: v for k, v in results.items() if k != "Try it" and not v.startswith("done")}
    if bad:
        print("WARNING: a job did not finish:", bad)
    print(f"max_stall_ms={max(every):.1f}")


if __name__ == "__main__":
    main()
