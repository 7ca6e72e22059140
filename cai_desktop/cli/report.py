"""``cai-desktop report PROJECT RUN_ID [--out file.html]``: an evaluation run's self-contained HTML report."""

from __future__ import annotations

import argparse

from cai_desktop.store.project import Project


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    p = sub.add_parser("report", help="write an evaluation run's report (HTML: tables, plots, examples, lineage)")
    p.add_argument("project", help="the project file")
    p.add_argument("run_id", type=int, help="the run (eval, compare or robustness)")
    p.add_argument("--out", default=None, help="the HTML file to write (default: report.html in the run's folder)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.reports import write_report

    with Project.open(args.project) as project:
        path = write_report(project, args.run_id, args.out)
    print(f"report written: {path}")
    return 0
