"""Main-thread stalls while real jobs run through the GUI job runner. Last line: max_stall_ms=<x>.

Builds a sample project and a tiny random Llama model, opens the main window (offscreen) on the
Runs screen, then runs a critique → revision job and a few LoRA SFT steps on the tiny model
through ``MainWindow.submit_job`` (the same path as the "new run" dialogs). A 10 ms QTimer probe
records how late each tick fires; a stall is the delay beyond the 10 ms interval.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--revisions", type=int, default=2)
    ap.add_argument("--sft-steps", type=int, default=4)
    ap.add_argument("--baseline-s", type=float, default=3.0, help="seconds of probing with no job first")
    args = ap.parse_args()

    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from cai_desktop.ui.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp(prefix="cai-bench-"))
    from PySide6.QtCore import QSettings

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):  # leave the user's settings alone
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp / "settings"))
    from cai_desktop.engine.tiny import make_tiny_model

    model_dir = make_tiny_model(tmp / "tiny-llama")  # (imports torch here, before the probe starts)

    window = MainWindow()
    window.show()
    window.create_project(tmp / "bench.caiproj", sample=True)
    window.show_page("runs")
    app.processEvents()

    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    events: list[tuple[int, str]] = []  # (ns, what the job last said), to explain stalls
    big: list[tuple[float, int]] = []

    def tick() -> None:
        now = clock.nsecsElapsed()
        gap = (now - last[0]) / 1e6
        gaps.append(gap)
        if gap > 60:
            big.append((gap, last[0]))
        last[0] = now

    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(tick)

    from cai_desktop.jobs.critique import CritiqueParams
    from cai_desktop.jobs.sft import SFTParams

    project = str(window.project.path)
    results: dict[str, str] = {}

    def ended(job_id: int) -> None:
        job = window.runner.jobs[job_id]
        results[job.kind] = job.status if job.status != "failed" else f"failed: {job.error}"

    window.runner.job_ended.connect(ended)
    window.runner.job_started.connect(lambda j: events.append((clock.nsecsElapsed(), f"start {window.runner.jobs[j].kind}")))
    window.runner.job_progress.connect(lambda j, d, t, m, e: events.append((clock.nsecsElapsed(), f"progress {d}/{t} {m}")))
    window.runner.job_log.connect(lambda j, t: events.append((clock.nsecsElapsed(), "log " + t[-80:].replace("\n", " | "))))
    # baseline: the same probe with no job running (what the machine's own load costs)
    probe.start()
    end = time.perf_counter() + args.baseline_s
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)
    probe.stop()
    baseline = [max(0.0, g - 10.0) for g in gaps[1:]]
    gaps.clear()
    last[0] = clock.nsecsElapsed()

    t0 = time.perf_counter()
    probe.start()
    window.submit_job("critique", CritiqueParams(
        project=project, model=str(model_dir), limit=args.prompts, revisions=args.revisions, split=None,
        max_new_tokens=16, critique_max_new_tokens=16, batch_size=4, few_shot=0), "critique (bench)")
    window.submit_job("sft", SFTParams(
        project=project, base=str(model_dir), max_steps=args.sft_steps, batch_size=2, max_length=128,
        save_steps=2), "SFT (bench)")
    if not window.runner.wait_idle(600_000):
        raise SystemExit("jobs did not finish in 10 minutes")
    probe.stop()
    wall = time.perf_counter() - t0
    window._force_close = True
    window.close()

    stalls = [max(0.0, g - 10.0) for g in gaps]
    stalls_sorted = sorted(stalls)
    p99 = stalls_sorted[int(0.99 * (len(stalls_sorted) - 1))] if stalls_sorted else 0.0
    print(f"jobs: {results}  wall {wall:.1f} s  probe ticks {len(gaps)}")
    for gap, at in sorted(big, reverse=True)[:5]:
        before = [e for t, e in events if t <= at][-1:] or ["(before any job event)"]
        after = [e for t, e in events if t > at][:1] or ["-"]
        print(f"  stall {gap - 10:.0f} ms after: {before[0][:90]!r} / next: {after[0][:90]!r}")
    if baseline:
        print(f"idle baseline stall ms: max {max(baseline):.1f} over {len(baseline)} ticks (machine load alone)")
    print(f"stall ms: median {statistics.median(stalls):.1f}, p99 {p99:.1f}, max {max(stalls):.1f} (target max < 100)")
    if any(not s.startswith("done") for s in results.values()):
        print("WARNING: a job did not finish:", results)
    print(f"max_stall_ms={max(stalls):.1f}")


if __name__ == "__main__":
    main()
