"""Seconds from process start to the main window shown (offscreen). Last line: startup_s=<x>.

Each try starts a fresh Python process that imports the app, builds the main window, shows it and
prints once the event loop has painted it; the parent times from spawning the process to that
line, so interpreter start-up and every import count. torch must not load before a job needs it:
the child reports whether it did.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

SETTINGS_DIR = tempfile.mkdtemp(prefix="cai-startup-settings-")

CHILD = r"""
import os, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from cai_desktop.ui.main_window import MainWindow
app = QApplication(sys.argv[:1])
w = MainWindow()
if len(sys.argv) > 1 and sys.argv[1]:
    w.open_project(sys.argv[1])
w.show()
def done():
    heavy = sorted(m for m in ("torch", "transformers", "trl", "peft") if m in sys.modules)
    print("SHOWN", ",".join(heavy) or "-", flush=True)
    w._force_close = True
    app.quit()
QTimer.singleShot(0, done)
app.exec()
"""


def one(project: str | None) -> tuple[float, str]:
    # a throw-away settings folder, so the benchmark never touches the user's recent projects
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=SETTINGS_DIR)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, project or ""], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    heavy = "?"
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("SHOWN"):
            elapsed = time.perf_counter() - t0
            heavy = line.split()[1]
            break
    else:
        raise SystemExit("the window never showed")
    proc.wait(60)
    return elapsed, heavy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--project", help="also open this project file at start-up")
    args = ap.parse_args()
    one(args.project)  # warm the file-system cache once
    times = []
    for i in range(args.repeat):
        t, heavy = one(args.project)
        times.append(t)
        print(f"try {i + 1}: {t:.3f} s (heavy modules loaded: {heavy})")
        if heavy != "-":
            print("WARNING: heavy modules were imported at start-up:", heavy)
    print(f"min {min(times):.3f} s, median {statistics.median(times):.3f} s, target < 1.5 s")
    print(f"startup_s={statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
