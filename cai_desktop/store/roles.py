"""Which model plays which role in a project (``project.roles``).

The roles: the *student* (the policy being trained), the *teacher* (writes critiques, revisions
and constitution-conditioned answers) and the *feedback model* (writes the AI labels; the paper
used a pretrained LM). Each is a model spec with its own device and precision; an unset role
falls back to the student, and an unset student to the embedded default model. Kept in the
project's meta table (one JSON value per role), so no schema change is needed.
"""

from __future__ import annotations

import json
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.store.base import Manager

ROLES = ("student", "teacher", "feedback")
ROLE_LABELS = {"student": "Student (trained)", "teacher": "Teacher (critiques, revisions)",
               "feedback": "Feedback model (AI labels)"}
DEVICES = (None, "cpu", "cuda", "mps")
DTYPES = (None, "float32", "bfloat16", "float16")


def _check(role: str) -> None:
    if role not in ROLES:
        raise ValidationError(f"Unknown model role {role!r}; the roles are: {', '.join(ROLES)}.")


class Roles(Manager):
    """``project.roles``."""

    def get(self, role: str) -> dict[str, Any]:
        """``{"spec", "device", "dtype", "inherited"}`` for ``role``; unset roles inherit the
        student's model (``inherited`` names where it came from: "", "student" or "default")."""
        _check(role)
        own = self._stored(role)
        if own.get("spec"):
            return {**own, "inherited": ""}
        if role != "student":
            student = self._stored("student")
            if student.get("spec"):
                return {**student, "inherited": "student"}
        return {"spec": None, "device": own.get("device"), "dtype": own.get("dtype"), "inherited": "default"}

    def _stored(self, role: str) -> dict[str, Any]:
        raw = self.project.meta(f"role:{role}")
        try:
            data = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            data = {}
        return {"spec": data.get("spec") or None, "device": data.get("device") or None,
                "dtype": data.get("dtype") or None}

    def set(self, role: str, spec: str | None, device: str | None = None, dtype: str | None = None) -> None:
        """Assign a model to ``role`` (``spec=None``: back to the default)."""
        _check(role)
        if device not in DEVICES:
            raise ValidationError(f"Unknown device {device!r}; choose cpu, cuda, mps or automatic.")
        if dtype not in DTYPES:
            raise ValidationError(f"Unknown precision {dtype!r}; choose float32, bfloat16, float16 or automatic.")
        value = {"spec": (spec or "").strip() or None, "device": device, "dtype": dtype}
        self.project.set_meta(f"role:{role}", json.dumps(value))

    def all(self) -> dict[str, dict[str, Any]]:
        return {r: self.get(r) for r in ROLES}
