"""The lead's side of review packs in the window (issue 12): Review → Export review pack…,
Import returned pack… and Export decision log….

``ExportPackSettings`` declares the export choices (``core.params.param`` fields), so the dialog's
form is the generated one of ``ui/widgets/forms.py``: which items (comparisons, chains or both), the
page's filter or a random sample of N stratified by principle (seeded), the reviewers (names, comma
separated), how many reviewers each item goes to, and blind mode (no AI labels, no model names). The
dialog adds the file to write. A pack holds one kind of item (``store.packs.export_pack``), so
"chains and comparisons" writes two packs beside each other (``name-chains.caipack`` and
``name-comparisons.caipack``).

Every file operation runs off the GUI thread (``JobRunner.call_in_background``, on a connection
of the background thread's own, as the agreement page does) and ends in one message: how many items
went to whom; what an import merged (decisions added, already present, per reviewer); how many log
rows were written. A refused pack shows the one line of ``core/packs`` / ``store/packs`` and leaves
the project as it was. After an import the pages showing chains and comparisons are refreshed
(``ui/pages/datakinds.py``).

The menu actions open a file dialog and then call ``export_pack(settings, path)``,
``import_pack(path)`` or ``export_log(path)``, which tests call directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cai_desktop.core.errors import CaiError, ValidationError
from cai_desktop.core.params import Params, param
from cai_desktop.ui.pages.datakinds import CHAINS, COMPARISONS

KINDS = {"comparisons": ("comparison",), "chains": ("chain",), "chains and comparisons": ("chain", "comparison")}
FILTERED = "everything the page's filter shows"
SAMPLE = "a random sample, by principle"
PACK_FILTER = "Review packs (*.caipack);;All files (*)"


@dataclass
class ExportPackSettings(Params):
    """What goes into a review pack and to whom."""

    items: str = param("comparisons", choices=tuple(KINDS), label="Items",
                       help="Comparisons (A/B choices), chains (critiques and revisions) or both; both writes one "
                            "pack of each, side by side.")
    selection: str = param(FILTERED, choices=(FILTERED, SAMPLE), label="Which items",
                           help="The items the Comparisons / Inspector page lists with its current filter, or a "
                                "random sample of them with each principle's share kept.")
    sample: int = param(40, range=(1, 100_000), label="Sample size",
                        help="How many items the random sample draws (per kind of item); all of them if fewer match.")
    seed: int = param(0, range=(0, 2**31 - 1), label="Seed",
                      help="The same seed draws the same sample again.")
    reviewers: list[str] = param([], label="Reviewers",
                                 help="Names, comma separated, as each reviewer will choose it in their window. Empty: "
                                      "the pack is for anyone.")
    k: int = param(1, range=(1, 100), label="Reviewers per item",
                   help="How many of the named reviewers each item goes to (round robin, an even share each).")
    blind: bool = param(True, label="Blind (hide AI labels and model names)",
                        help="Leave the AI's labels, reasoning and model names out of the pack, so reviewers "
                             "decide without seeing them.")

    def validate(self) -> None:
        names = [" ".join(n.split()) for n in self.reviewers if n.strip()]
        if len(set(names)) != len(names):
            raise ValidationError("Reviewers: a name is given twice.")
        if names and self.k > len(names):
            raise ValidationError(f"Reviewers per item: {self.k} is more than the {len(names)} reviewer"
                                  f"{'s' if len(names) > 1 else ''} named.")

    def names(self) -> list[str]:
        return [" ".join(n.split()) for n in self.reviewers if n.strip()]


def pack_paths(path: str | Path, kinds: tuple[str, ...]) -> list[tuple[str, Path]]:
    """(kind, file) per pack to write: ``path`` itself for one kind, ``stem-chains`` / ``stem-comparisons``
    beside it for both."""
    path = Path(path)
    if len(kinds) == 1:
        return [(kinds[0], path)]
    stem = path.name.split(".")[0] or "pack"
    rest = path.name[len(stem):] or ".caipack"
    return [(k, path.with_name(f"{stem}-{k}s{rest}")) for k in kinds]


# -- the work, on a background thread's own connection --------------------------------------------------
@dataclass
class Refused:
    """A one-line refusal of ours (``CaiError``), returned rather than raised: shown without a traceback."""

    refused: str


def refusing(fn):
    """``fn`` with its ``CaiError`` returned as ``Refused`` (an unexpected error still fails, with details)."""

    def call(ctx: Any, job: Any) -> Any:
        try:
            return fn(ctx, job)
        except CaiError as e:
            return Refused(str(e))

    call.__name__ = fn.__name__
    return call


def _open(path: str) -> Any:
    from cai_desktop.store.project import Project

    return Project.open(path)


def export_in_thread(_ctx: Any, job: dict[str, Any]) -> list[dict[str, Any]]:
    """Write the packs of ``job`` (``project``, ``packs`` [(kind, path)], ``filters`` per kind, ``sample``,
    ``seed``, ``reviewers``, ``k``, ``blind``)."""
    out, refused = [], []
    with _open(job["project"]) as project:
        for kind, path in job["packs"]:
            try:
                res = project.reviews.export_pack(
                    path, kind=kind, filters=job["filters"].get(kind) or {}, sample=job["sample"], seed=job["seed"],
                    reviewers=job["reviewers"], k=job["k"] if job["reviewers"] else 1, blind=job["blind"])
            except CaiError as e:  # e.g. no chains match: the other kind's pack is still written
                refused.append(str(e))
                continue
            out.append({"kind": kind, **res, "path": str(res["path"])})
    if not out:
        raise ValidationError(" ".join(refused))
    return out + [{"refused": r} for r in refused]


def import_in_thread(_ctx: Any, job: dict[str, Any]) -> dict[str, Any]:
    """Merge a returned pack; the result adds, per reviewer, the decisions added and already present."""
    from cai_desktop.core import packs as fmt

    with _open(job["project"]) as project:
        before = {r["uid"] for r in project.reviews.log()}
        result = project.reviews.import_pack(job["path"])
        pack = fmt.read_pack(job["path"])
        per: dict[str, dict[str, int]] = {}
        for d in pack.get("decisions", []):
            row = per.setdefault(d["reviewer"], {"new": 0, "known": 0})
            row["known" if d["uid"] in before else "new"] += 1
    kinds = sorted({it["kind"] for it in pack.get("items", [])})
    return {**result, "per_reviewer": per, "decisions": len(pack.get("decisions", [])), "kinds": kinds}


def log_in_thread(_ctx: Any, job: dict[str, Any]) -> int:
    with _open(job["project"]) as project:
        return project.reviews.export_log(job["path"])


# -- the messages ---------------------------------------------------------------------------------------
def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def export_message(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        if "refused" in r:
            lines.append(f"Not written: {r['refused']}")
            continue
        what = _plural(r["items"], r["kind"])
        who = ", ".join(f"{name} {n}" for name, n in r["assigned"].items())
        lines.append(f"{Path(r['path']).name}: {what}" + (f", assigned to {who}." if who else
                                                          " for anyone (no reviewers named)."))
    return "\n".join(lines)


def import_message(name: str, r: dict[str, Any]) -> str:
    if not r["decisions"]:
        return f"{name} holds no decisions yet: nothing to merge."
    per = "\n".join(f"{who}: {v['new']} added, {v['known']} already present" for who, v in sorted(r["per_reviewer"].items()))
    if not r["new"]:
        head = f"Nothing new in {name}: all {_plural(r['known'], 'decision')} were already in the project."
    else:
        head = (f"Merged {name}: {_plural(r['new'], 'decision')} added, {r['known']} already present; "
                "the final decisions were recomputed.")
    return f"{head}\n{per}"


# -- the dialog -----------------------------------------------------------------------------------------
class ExportPackDialog(QDialog):
    """The generated form of ``ExportPackSettings``, the page filters it would use, and the file."""

    def __init__(self, default_path: str = "", filters_text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from cai_desktop.ui.widgets.forms import ParamsForm

        self.setWindowTitle("Export review pack")
        layout = QVBoxLayout(self)
        intro = QLabel("Write a review pack for colleagues. They open it with Review → Open review pack… "
                       "(no model needed), decide, and send back the answered pack; Review → Import returned "
                       "pack… merges their decisions here. A random sample is drawn from what the page's "
                       "filter shows.")
        intro.setWordWrap(True)
        intro.setObjectName("dialogDescription")
        layout.addWidget(intro)
        self.form = ParamsForm(ExportPackSettings)
        layout.addWidget(self.form)
        self.filters_label = QLabel(filters_text)
        self.filters_label.setObjectName("packFilters")
        self.filters_label.setWordWrap(True)
        self.filters_label.setStyleSheet("color: #555;")
        layout.addWidget(self.filters_label)
        row = QHBoxLayout()
        row.addWidget(QLabel("File"))
        self.path = QLineEdit(default_path)
        self.path.setObjectName("packPath")
        row.addWidget(self.path, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)
        layout.addLayout(row)
        self.message = QLabel("")
        self.message.setObjectName("validationMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b3261e;")
        layout.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.form.changed.connect(self._validate)
        self.path.textChanged.connect(self._validate)
        self.form.widgets["selection"].currentIndexChanged.connect(self._sample_fields)
        self._sample_fields()
        self._validate()
        self.resize(600, self.sizeHint().height())

    def _sample_fields(self, *_: object) -> None:
        on = self.form.widgets["selection"].currentData() == SAMPLE
        for name in ("sample", "seed"):
            self.form.widgets[name].setEnabled(on)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export review pack", self.path.text(), PACK_FILTER)
        if path:
            self.path.setText(path)

    def error(self) -> str:
        err = self.form.error()
        if err:
            return err
        path = self.path.text().strip()
        if not path:
            return "File: choose where to write the pack."
        if not Path(path).expanduser().parent.is_dir():
            return f"File: the folder {Path(path).expanduser().parent} does not exist."
        return ""

    def _validate(self) -> None:
        err = self.error()
        self.message.setText(err)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not err)

    def settings(self) -> ExportPackSettings:
        return self.form.build()

    def file(self) -> str:
        return str(Path(self.path.text().strip()).expanduser())

    def accept(self) -> None:
        if self.error():
            self._validate()
            return
        super().accept()


def _filter_text(kind: str, filters: dict[str, Any]) -> str:
    shown = {k: v for k, v in filters.items() if v not in (None, "")}
    page = "Comparisons" if kind == "comparison" else "Inspector"
    if not shown:
        return f"{page} page: no filter (every {kind})"
    words = {"principle_key": "principle", "review_status": "status", "run_id": "run", "prompt_set": "prompt set",
             "kind": "kind", "search": "search", "reviewed": "reviewed"}
    parts = [("reviewed" if v else "not reviewed yet") if k == "reviewed" else f"{words.get(k, k)} {v}"
             for k, v in shown.items()]
    return f"{page} page filter: " + ", ".join(parts)


# -- the window's side ----------------------------------------------------------------------------------
class LeadPacks(QObject):
    """Review → Export review pack…, Import returned pack…, Export decision log… for ``window``
    (a ``MainWindow``; its ``team.menu`` is the Review menu). Off in reviewer-only mode."""

    finished = Signal(str)  # the message shown (tests wait on it)

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.busy = False
        self.last_message: QMessageBox | None = None
        self.last_text = ""
        menu = window.team.menu
        menu.addSeparator()
        self.act_export = menu.addAction("&Export review pack…")
        self.act_export.triggered.connect(lambda *_: self.export_pack_dialog())
        self.act_import = menu.addAction("&Import returned pack…")
        self.act_import.triggered.connect(lambda *_: self.import_pack_dialog())
        self.act_log = menu.addAction("Export decision &log…")
        self.act_log.triggered.connect(lambda *_: self.export_log_dialog())
        window.project_changed.connect(self._update)
        self._update(window.project)

    def _update(self, project: Any = None) -> None:
        from cai_desktop.ui.widgets.reviewer import pack_info

        on = project is not None and pack_info(project) is None and not self.busy
        for act in (self.act_export, self.act_import, self.act_log):
            act.setEnabled(on)

    # -- helpers ------------------------------------------------------------------------------------------
    def _folder(self) -> Path:
        p = self.window.project
        return p.path.parent if p is not None else Path.home()

    def page_filters(self) -> dict[str, dict[str, Any]]:
        """The Comparisons and Inspector pages' current filters (what "the page's filter" exports)."""
        out: dict[str, dict[str, Any]] = {}
        for kind, key in (("comparison", "comparisons"), ("chain", "inspector")):
            page = self.window.pages.get(key)
            try:
                out[kind] = dict(page.filters()) if page is not None and hasattr(page, "filters") else {}
            except Exception:  # noqa: BLE001 - a page without its combos filled: no filter
                out[kind] = {}
        return out

    def _start(self, fn, job: dict[str, Any], name: str, done, title: str) -> bool:
        w = self.window
        if self.busy:
            w.statusBar().showMessage("A review file is still being written or read; wait for it to finish.", 5000)
            return False
        self.busy = True
        self._update(w.project)
        w.statusBar().showMessage(f"{name}…")
        call = w.runner.call_in_background(fn, job, name)
        call.finished.connect(lambda result: self._done(
            lambda: self._fail(title, result.refused, "") if isinstance(result, Refused) else done(result)))
        call.failed.connect(lambda message, details: self._done(lambda: self._fail(title, message, details)))
        return True

    def _done(self, then) -> None:
        self.busy = False
        self._update(self.window.project)
        self.window.statusBar().clearMessage()
        then()

    def _fail(self, title: str, message: str, details: str) -> None:
        from cai_desktop.ui.widgets.errors import show_error

        # our own one-line refusals (CaiError) carry no traceback worth showing
        self.window.last_error_box = show_error(self.window, title, message, details)
        self.last_text = message
        self.finished.emit(message)

    def _tell(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, self.window)
        box.open()  # non-blocking
        self.last_message, self.last_text = box, text
        self.window.statusBar().showMessage(text.splitlines()[0], 10000)
        self.finished.emit(text)

    def _refuse(self, title: str, message: str) -> bool:
        from cai_desktop.ui.widgets.errors import show_error

        self.window.last_error_box = show_error(self.window, title, message)
        self.last_text = message
        return False

    # -- export a pack ------------------------------------------------------------------------------------
    def export_pack(self, settings: ExportPackSettings, path: str | Path) -> bool:
        """Write the pack(s) of ``settings`` to ``path`` in the background; a message says who got what."""
        w = self.window
        if w.project is None:
            return False
        try:
            settings.check()
        except CaiError as e:
            return self._refuse("Cannot export the review pack", str(e))
        kinds = KINDS[settings.items]
        filters = self.page_filters()
        job = {"project": str(w.project.path), "packs": [(k, str(p)) for k, p in pack_paths(path, kinds)],
               "filters": {k: filters.get(k, {}) for k in kinds},
               "sample": settings.sample if settings.selection == SAMPLE else None, "seed": settings.seed,
               "reviewers": settings.names(), "k": settings.k, "blind": settings.blind}
        return self._start(refusing(export_in_thread), job, "Exporting the review pack",
                           lambda results: self._tell("Review pack exported", export_message(results)),
                           "Cannot export the review pack")

    def export_dialog(self) -> ExportPackDialog | None:
        """The export dialog for the open project (not shown): the pages' filters, a file beside the project."""
        w = self.window
        if w.project is None:
            return None
        filters = self.page_filters()
        text = "\n".join(_filter_text(k, filters.get(k, {})) for k in ("comparison", "chain"))
        return ExportPackDialog(str(self._folder() / f"{w.project.path.stem}-review.caipack"), text, w)

    def export_pack_dialog(self) -> ExportPackDialog | None:
        """Review → Export review pack…: the dialog, then ``export_pack``. Returns the dialog."""
        dlg = self.export_dialog()
        if dlg is not None and dlg.exec() == QDialog.DialogCode.Accepted:
            self.export_pack(dlg.settings(), dlg.file())
        return dlg

    # -- import a returned pack -----------------------------------------------------------------------------
    def import_pack(self, path: str | Path) -> bool:
        """Merge a returned pack in the background; one message says what was merged, or why not."""
        w = self.window
        if w.project is None:
            return False
        name = Path(path).name

        def merged(result: dict[str, Any]) -> None:
            if result.get("new"):  # the page on screen now, the others when next shown
                w.refresh_pages({CHAINS if k == "chain" else COMPARISONS for k in result.get("kinds") or ("chain",
                                                                                                 "comparison")})
            self._tell("Review pack imported", import_message(name, result))

        return self._start(refusing(import_in_thread), {"project": str(w.project.path), "path": str(path)},
                           f"Importing {name}", merged, "Cannot import the review pack")

    def import_pack_dialog(self) -> bool:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import returned pack", str(self._folder()),
                                              "Review packs (*.caipack *.caipack.gz *.json *.json.gz);;All files (*)")
        return bool(path) and self.import_pack(path)

    # -- the decision log -----------------------------------------------------------------------------------
    def export_log(self, path: str | Path) -> bool:
        """Write every decision (CSV or JSONL by the file's extension) in the background."""
        w = self.window
        if w.project is None:
            return False
        suffix = Path(path).suffix.lower()
        if suffix not in (".csv", ".jsonl"):
            return self._refuse("Cannot export the decision log", f"The decision log is written as CSV or JSONL; "
                                f"{Path(path).name} is neither (name it .csv or .jsonl).")
        name = Path(path).name
        return self._start(refusing(log_in_thread), {"project": str(w.project.path), "path": str(path)},
                           "Exporting the decision log",
                           lambda n: self._tell("Decision log exported", f"{name}: {_plural(n, 'decision')} written."),
                           "Cannot export the decision log")

    def export_log_dialog(self) -> bool:
        w = self.window
        if w.project is None:
            return False
        path, chosen = QFileDialog.getSaveFileName(
            w, "Export decision log", str(self._folder() / f"{w.project.path.stem}-decisions.csv"),
            "CSV (*.csv);;JSON lines (*.jsonl)")
        if not path:
            return False
        if not Path(path).suffix:
            path += ".jsonl" if "jsonl" in chosen else ".csv"
        return self.export_log(path)
