"""`cai-desktop`: with no arguments opens the GUI; subcommands run the same jobs headless.

Each module in this package registers its own subcommands (``register(sub)``), so the stages can
grow without touching each other. Errors the user can fix print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sqlite3
import sys

from cai_desktop import __version__
from cai_desktop.core.errors import CaiError, Cancelled

COMMAND_MODULES = ("project", "roles", "stage1", "jobs", "training", "demo", "report", "review")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cai-desktop",
        description="Constitutional AI on your workstation. Without a command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"cai-desktop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the window (the default)")
    gui.add_argument("project", nargs="?", help="project file to open")
    run = sub.add_parser("run", help="run a job headless (critique, sft, pairs, label, reward, ppo, dpo, eval)")
    export = sub.add_parser("export", help="export data for other tools (sft, prefs)")
    groups = {
        "run": run.add_subparsers(dest="job", metavar="JOB", required=True),
        "export": export.add_subparsers(dest="what", metavar="WHAT", required=True),
    }
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"cai_desktop.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"cai_desktop.cli.{name}":
                continue
            raise
        module.register(sub, groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "gui"):
        from cai_desktop.ui.app import run_app

        return run_app(getattr(args, "project", None))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    # headless, no window needs a free core: CPU inference may use them all (the window leaves one)
    os.environ.setdefault("CAI_DESKTOP_THREADS", str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                                     else os.cpu_count() or 1))
    import warnings

    # library deprecation notices are for us, not for the person running a job
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    _show_store_notices()
    try:
        return int(args.func(args) or 0)
    except Cancelled:
        print("cai-desktop: cancelled; finished work is saved, run the same command to resume.", file=sys.stderr)
        return 130
    except CaiError as e:
        print(f"cai-desktop: error: {e}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as e:  # a file problem the store did not put in words: still one line
        print(f"cai-desktop: error: the project file could not be used ({type(e).__name__}: {e}).",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cai-desktop: interrupted; finished work is saved.", file=sys.stderr)
        return 130


def _show_store_notices() -> None:
    """Print what the store tells about the file (a backup made before a schema upgrade) on stderr."""
    import logging

    class StoreNotice(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            print(f"cai-desktop: {record.getMessage()}", file=sys.stderr)  # the stderr of the moment

    store_log = logging.getLogger("cai_desktop.store")
    if not any(type(h).__name__ == "StoreNotice" for h in store_log.handlers):
        store_log.addHandler(StoreNotice())
    store_log.setLevel(logging.INFO)
