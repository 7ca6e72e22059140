"""A reviewer's note → a draft principle in the constitution editor (issue 12, inverse CAI).

``PrincipleDrafts`` sits between the pages and the job runner: a page that emits
``principle_draft_requested({note, prompt, answer})`` (the Inspector, the disagreement queue) gets
the teacher model's draft (``jobs.implied.draft_principle``, a quick call like Try it: it queues
behind any GPU job and records no run), and the draft opens in the constitution editor as a new
principle, through the editor's undo stack (``ConstitutionPage.add_draft_principle``), for the
person to edit and save. The teacher is never loaded in the GUI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject

KIND = "draft_principle"


class PrincipleDrafts(QObject):
    """Routes draft requests of the window's pages to the runner and the result to the editor."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.jobs: dict[int, str] = {}  # job id -> the constitution the draft goes into
        for page in window.pages.values():
            signal = getattr(page, "principle_draft_requested", None)
            if signal is not None:
                signal.connect(self.request)
        window.runner.job_finished.connect(self._finished)
        window.runner.job_failed.connect(self._failed)

    def _editor(self):
        return self.window.pages.get("constitution")

    def target_constitution(self) -> str:
        """The constitution on the editor's screen, else the project's first one."""
        editor = self._editor()
        project = self.window.project
        names = [c["name"] for c in project.constitutions.list()] if project is not None else []
        name = getattr(getattr(editor, "doc", None), "constitution", None)
        name = getattr(name, "name", "") if name is not None else ""
        if name in names:
            return name
        return "general" if "general" in names else (names[0] if names else "")

    def request(self, req: dict[str, Any]) -> int | None:
        """Queue the teacher's draft for ``req``; returns the runner's job id (None: no project)."""
        project = self.window.project
        if project is None or not (req.get("note") or "").strip():
            return None
        from cai_desktop.jobs.implied import DraftParams, draft_principle

        constitution = self.target_constitution()
        params = DraftParams(project=str(project.path), note=req["note"], prompt=req.get("prompt") or "",
                             answer=req.get("answer") or "", constitution=constitution,
                             max_new_tokens=int(req.get("max_new_tokens") or 160))
        job_id = self.window.runner.submit(KIND, draft_principle, params, "Draft a principle from a note")
        self.jobs[job_id] = constitution
        self.window.statusBar().showMessage("The teacher is drafting a principle from the note…", 5000)
        return job_id

    def _finished(self, job_id: int, result: object) -> None:
        constitution = self.jobs.pop(job_id, None)
        if constitution is None or not isinstance(result, dict):
            return
        editor = self._editor()
        if editor is None or not hasattr(editor, "add_draft_principle"):
            return
        self.window.show_page("constitution")
        editor.add_draft_principle(result, constitution)
        filled = result.get("filled") or []
        if filled:
            self.window.statusBar().showMessage(
                f"Draft principle added; the teacher did not write {len(filled)} of its 4 texts, which were made "
                "from the note: edit them, then save a version.", 10000)

    def _failed(self, job_id: int, message: str, _details: str) -> None:
        if self.jobs.pop(job_id, None) is not None:
            self.window.statusBar().showMessage(f"No draft principle: {message}", 10000)
