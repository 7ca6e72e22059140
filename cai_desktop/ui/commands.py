"""Undoable constitution edits (DESIGN convention 6: edits are commands that call core operations).

A ``ConstitutionDocument`` holds the constitution being edited and its ``QUndoStack``. Every
command computes the new constitution with a pure core operation (``Constitution.with_principle``,
``with_inserted``, ``without``, ``moved``, ``copy``) and keeps the previous one for undo, so an
undo restores exactly what was there. The document emits ``changed(kind, index)`` after each
redo/undo; views update from the document, never the other way round.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QKeySequence, QUndoCommand, QUndoStack

from cai_desktop.core.constitution import NEW_KEY, Constitution, FewShotExample, Principle

#: change kinds sent by ``ConstitutionDocument.changed``
PRINCIPLE = "principle"  # one principle's fields (index = its row)
STRUCTURE = "structure"  # principles added, removed or moved (index = row to select)
META = "meta"  # title, description, system prompt
FEW_SHOT = "few_shot"  # one few-shot example's fields (index = its row)
FEW_SHOT_STRUCTURE = "few_shot_structure"
ALL = "all"  # the whole constitution was replaced

PRINCIPLE_TEXT_FIELDS = ("key", "title", "critique_request", "revision_request", "comparison_question")
CONSTITUTION_TEXT_FIELDS = ("title", "description", "system_prompt")
FEW_SHOT_FIELDS = ("prompt", "response", "critique_request", "critique", "revision_request", "revision", "principle")


def _unique_keys(sequences: list[QKeySequence]) -> list[QKeySequence]:
    seen: dict[str, QKeySequence] = {}
    for k in sequences:
        if not k.isEmpty():
            seen.setdefault(k.toString(QKeySequence.SequenceFormat.PortableText), k)
    return list(seen.values())


def undo_shortcuts() -> list[QKeySequence]:
    """The platform's Undo keys (Ctrl+Z; Cmd+Z on macOS)."""
    return _unique_keys(QKeySequence.keyBindings(QKeySequence.StandardKey.Undo))


def redo_shortcuts() -> list[QKeySequence]:
    """The platform's Redo keys plus Ctrl+Y and Ctrl+Shift+Z, which people bring from other
    platforms' editors (``QAction.setShortcuts`` takes the list)."""
    return _unique_keys([
        *QKeySequence.keyBindings(QKeySequence.StandardKey.Redo),
        QKeySequence("Ctrl+Y"),
        QKeySequence("Ctrl+Shift+Z"),
    ])


class ConstitutionDocument(QObject):
    """The constitution under edit plus its undo stack.

    ``saved_keys`` are the principle keys of the stored state: records are stored under them, so
    a principle's key follows its title only while it is not among them.
    """

    changed = Signal(str, int)

    def __init__(self, constitution: Constitution, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.constitution = constitution
        self.undo_stack = QUndoStack(self)
        self.saved_keys: frozenset[str] = frozenset()

    def set_constitution(self, c: Constitution, kind: str = ALL, index: int = -1) -> None:
        self.constitution = c
        self.changed.emit(kind, index)

    def reset(self, c: Constitution, saved: bool = True) -> None:
        """Start over with ``c`` (a freshly loaded constitution, or a new unsaved one when not
        ``saved``): clears the undo history."""
        self.undo_stack.clear()
        self.constitution = c
        self.saved_keys = frozenset(p.key for p in c.principles) if saved else frozenset()
        self.undo_stack.setClean()
        self.changed.emit(ALL, -1)

    def mark_saved(self, version: int) -> None:
        """The editor's state was stored as ``version``: it is the clean state from now on."""
        self.constitution = self.constitution.copy()
        self.constitution.version = version
        self.saved_keys = frozenset(p.key for p in self.constitution.principles)
        self.undo_stack.setClean()

    @property
    def dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def push(self, command: QUndoCommand) -> None:
        self.undo_stack.push(command)


class _ConstitutionCommand(QUndoCommand):
    """Base: ``compute(c) -> new c`` on first redo; undo puts the previous constitution back."""

    kind = ALL

    def __init__(self, doc: ConstitutionDocument, text: str) -> None:
        super().__init__(text)
        self.doc = doc
        self.before: Constitution | None = None
        self.after: Constitution | None = None
        self.index = -1
        self.undo_index = -1

    def compute(self, c: Constitution) -> Constitution:  # pragma: no cover - overridden
        raise NotImplementedError

    def redo(self) -> None:
        if self.after is None:
            self.before = self.doc.constitution
            self.after = self.compute(self.before)
        self.doc.set_constitution(self.after, self.kind, self.index)

    def undo(self) -> None:
        assert self.before is not None
        idx = self.undo_index if self.undo_index >= 0 else self.index
        self.doc.set_constitution(self.before, self.kind, idx)


class EditPrincipleField(_ConstitutionCommand):
    """Set one field of principle ``index``; consecutive edits of the same field merge.

    A new title also gives a new key while the key is still the one its title made (a principle
    added here and not saved, whose key nobody typed), so "New principle" does not keep the key
    ``new-principle`` forever. Undo puts both back.
    """

    kind = PRINCIPLE
    ID = 1001

    def __init__(self, doc: ConstitutionDocument, index: int, field: str, value: Any) -> None:
        label = field.replace("_", " ")
        super().__init__(doc, f"Edit {label}")
        if field not in (*PRINCIPLE_TEXT_FIELDS, "tags", "enabled"):
            raise ValueError(f"not a principle field: {field}")
        if field == "tags":
            value = [t.strip() for t in value if str(t).strip()]
        self.index, self.field, self.value = index, field, value

    def compute(self, c: Constitution) -> Constitution:
        if self.field == "title":
            follow = c.key_follows_title(self.index, self.doc.saved_keys)
            return c.with_title(self.index, self.value, follow_key=follow)
        p = c.principles[self.index]
        return c.with_principle(self.index, replace(p, **{self.field: self.value}))

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt API
        if not isinstance(other, EditPrincipleField):
            return False
        if other.index != self.index or other.field != self.field or self.field == "enabled":
            return False
        self.value = other.value
        self.after = other.after
        return True


class SetPrincipleEnabled(_ConstitutionCommand):
    kind = PRINCIPLE

    def __init__(self, doc: ConstitutionDocument, index: int, enabled: bool) -> None:
        super().__init__(doc, "Enable principle" if enabled else "Disable principle")
        self.index, self.enabled = index, bool(enabled)

    def compute(self, c: Constitution) -> Constitution:
        return c.with_principle(self.index, replace(c.principles[self.index], enabled=self.enabled))


class AddPrinciple(_ConstitutionCommand):
    kind = STRUCTURE

    def __init__(self, doc: ConstitutionDocument, index: int | None = None, principle: Principle | None = None) -> None:
        super().__init__(doc, "Add principle")
        c = doc.constitution
        self.index = len(c.principles) if index is None else max(0, min(index, len(c.principles)))
        self.principle = principle or Principle(key=c.new_key(NEW_KEY), title="New principle")
        self.undo_index = max(0, self.index - 1)

    def compute(self, c: Constitution) -> Constitution:
        p = self.principle
        if any(q.key == p.key for q in c.principles):
            p = replace(p, key=c.new_key(p.key))
        return c.with_inserted(self.index, p)


class RemovePrinciple(_ConstitutionCommand):
    kind = STRUCTURE

    def __init__(self, doc: ConstitutionDocument, index: int) -> None:
        key = doc.constitution.principles[index].key
        super().__init__(doc, f"Remove principle {key}")
        self.undo_index = index
        self.index = max(0, min(index, len(doc.constitution.principles) - 2))

    def compute(self, c: Constitution) -> Constitution:
        return c.without(self.undo_index)


class MovePrinciple(_ConstitutionCommand):
    """Move the principle at ``src`` so that it ends up at row ``dst``."""

    kind = STRUCTURE

    def __init__(self, doc: ConstitutionDocument, src: int, dst: int) -> None:
        super().__init__(doc, "Move principle")
        n = len(doc.constitution.principles)
        if not (0 <= src < n and 0 <= dst < n):
            raise IndexError(f"cannot move principle {src} to {dst} of {n}")
        self.src, self.index, self.undo_index = src, dst, src

    def compute(self, c: Constitution) -> Constitution:
        return c.moved(self.src, self.index)


class EditConstitutionField(_ConstitutionCommand):
    """Title, description or system prompt; consecutive edits of the same field merge."""

    kind = META
    ID = 1002

    def __init__(self, doc: ConstitutionDocument, field: str, value: str) -> None:
        if field not in CONSTITUTION_TEXT_FIELDS:
            raise ValueError(f"not a constitution field: {field}")
        super().__init__(doc, f"Edit {field.replace('_', ' ')}")
        self.field, self.value = field, value

    def compute(self, c: Constitution) -> Constitution:
        new = c.copy()
        setattr(new, self.field, self.value)
        return new

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt API
        if not isinstance(other, EditConstitutionField) or other.field != self.field:
            return False
        self.value, self.after = other.value, other.after
        return True


class AddFewShot(_ConstitutionCommand):
    kind = FEW_SHOT_STRUCTURE

    def __init__(self, doc: ConstitutionDocument, example: FewShotExample | None = None) -> None:
        super().__init__(doc, "Add few-shot example")
        self.example = example or FewShotExample(prompt="", response="")
        self.index = len(doc.constitution.few_shot)
        self.undo_index = max(0, self.index - 1)

    def compute(self, c: Constitution) -> Constitution:
        new = c.copy()
        new.few_shot.append(replace(self.example))
        return new


class RemoveFewShot(_ConstitutionCommand):
    kind = FEW_SHOT_STRUCTURE

    def __init__(self, doc: ConstitutionDocument, index: int) -> None:
        super().__init__(doc, "Remove few-shot example")
        self.undo_index = index
        self.index = max(0, min(index, len(doc.constitution.few_shot) - 2))

    def compute(self, c: Constitution) -> Constitution:
        new = c.copy()
        del new.few_shot[self.undo_index]
        return new


class EditFewShot(_ConstitutionCommand):
    kind = FEW_SHOT
    ID = 1003

    def __init__(self, doc: ConstitutionDocument, index: int, field: str, value: str) -> None:
        if field not in FEW_SHOT_FIELDS:
            raise ValueError(f"not a few-shot field: {field}")
        super().__init__(doc, f"Edit few-shot {field.replace('_', ' ')}")
        self.index, self.field, self.value = index, field, value

    def compute(self, c: Constitution) -> Constitution:
        new = c.copy()
        new.few_shot[self.index] = replace(new.few_shot[self.index], **{self.field: self.value})
        return new

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt API
        if not isinstance(other, EditFewShot) or (other.index, other.field) != (self.index, self.field):
            return False
        self.value, self.after = other.value, other.after
        return True


class ReplaceConstitution(_ConstitutionCommand):
    """Swap in a whole constitution (an imported file, an old version), undoably."""

    kind = ALL

    def __init__(self, doc: ConstitutionDocument, new: Constitution, text: str = "Replace constitution") -> None:
        super().__init__(doc, text)
        self.new = new

    def compute(self, c: Constitution) -> Constitution:
        out = self.new.copy()
        out.name = c.name  # the document keeps its identity; contents come from ``new``
        out.version = c.version
        return out
