"""The HTML report of a run, for the run detail's "Export report…" button and ``cai-desktop report``.

The run row and its result come from the store; a head-to-head comparison's human ratings are
recomputed first (people judge after the run); :mod:`cai_desktop.core.report` renders. Importing the
job registry first lets every evaluation job register its report sections.
"""

from __future__ import annotations

from pathlib import Path

from cai_desktop.core import report
from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs import compare
from cai_desktop.jobs import registry as _registry  # noqa: F401  (jobs register their report sections)
from cai_desktop.store.project import Project


def report_kinds() -> tuple[str, ...]:
    """The kinds whose runs have a report: those whose job registered report sections (eval,
    compare, robustness, monitor, ...)."""
    return report.report_kinds()


def report_html(project: Project, run_id: int) -> str:
    run = project.runs.get(run_id)
    if run["kind"] not in report_kinds():
        raise ValidationError(f"Run {run_id} is a {run['kind']} run; reports are made for evaluation runs "
                              f"({', '.join(report_kinds())}).")
    if run["status"] != "done" or not run.get("result"):
        raise ValidationError(f"Run {run_id} has not finished ({run['status']}); its report comes when it is done.")
    result = compare.current_result(project, run) if run["kind"] == compare.KIND else run["result"]
    return report.run_report(run, result, project_name=Path(project.path).name)


def default_path(project: Project, run_id: int) -> Path:
    return project.artifacts_dir / f"run-{run_id}" / "report.html"


def write_report(project: Project, run_id: int, out: str | Path | None = None) -> Path:
    """Write the report (to ``out``, else beside the run's other files); returns where."""
    text = report_html(project, run_id)
    path = Path(out) if out else default_path(project, run_id)
    if path.is_dir():
        raise ValidationError(f"{path} is a folder; give a file name ending in .html.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        raise ValidationError(f"Cannot write the report to {path}: {e.strerror or e}.") from None
    return path
