"""`cai-desktop roles PROJECT`: show or set which model plays which role in a project.

Without options it prints the student, the teacher and the feedback model, one line each:
``role  spec  device  precision  where it comes from``. ``--teacher SPEC`` (``--student``,
``--feedback``) sets a role's model, ``--teacher-device`` / ``--teacher-dtype`` its device and
precision; ``--teacher default`` clears it (an unset role uses the student's model, an unset
student the embedded default). A spec is checked the cheap way (a path must be a model, a packaged
model must be installed); a hub id is looked up when a job first loads it.
"""

from __future__ import annotations

import argparse

from cai_desktop.core.errors import ValidationError
from cai_desktop.store.project import Project

ROLES = ("student", "teacher", "feedback")
ROLE_HELP = {
    "student": "the model that is trained and samples response pairs",
    "teacher": "writes critiques, revisions and constitution-conditioned answers",
    "feedback": "writes the AI labels (answers the comparisons)",
}
CLEAR = ("default", "none", "unset")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    p = sub.add_parser(
        "roles", help="show or set a project's student, teacher and feedback model",
        description="Without options, print the three model roles. An unset role uses the "
        "student's model (with its device and precision); an unset student, the embedded default.",
    )
    p.add_argument("project")
    for role in ROLES:
        p.add_argument(f"--{role}", metavar="SPEC",
                       help=f"{ROLE_HELP[role]}: a model folder, .gguf file, hub id (org/name), a packaged "
                       "model (gemma3-270m), 'embedded', or 'default' to clear it")
        p.add_argument(f"--{role}-device", choices=DEVICES, help=f"where the {role} runs (auto: a GPU if any)")
        p.add_argument(f"--{role}-dtype", choices=DTYPES, help=f"the {role}'s precision (auto: by device)")
    p.set_defaults(func=cmd_roles)


def _option(value: str | None) -> str | None:
    return None if value in (None, "auto") else value


def _spec(text: str) -> str | None:
    """The spec to store: None clears the role; a model spec is checked the cheap way."""
    if text.strip().lower() in CLEAR or not text.strip():
        return None
    from cai_desktop.engine.models import resolve_spec

    return resolve_spec(text).to_str()


def set_roles(project: Project, args: argparse.Namespace) -> list[str]:
    """Apply the options; every one is checked before anything is stored. Returns what changed."""
    plans: list[tuple[str, str | None, str | None, str | None]] = []
    student_spec = project.roles.get("student")["spec"]
    for role in ROLES:
        spec_arg = getattr(args, role)
        device_arg = getattr(args, f"{role}_device")
        dtype_arg = getattr(args, f"{role}_dtype")
        now = project.roles.get(role)
        own_spec = now["spec"] if not now["inherited"] else None
        if spec_arg is None and device_arg is None and dtype_arg is None:
            continue
        spec = _spec(spec_arg) if spec_arg is not None else own_spec
        if role == "student":
            student_spec = spec
        # an unset teacher or feedback model uses the student's model, device and precision
        follows = role != "student" and spec is None and student_spec is not None
        if follows and (device_arg is not None or dtype_arg is not None):
            raise ValidationError(
                f"The {role} has no model of its own: it uses the student's, with the student's device and "
                f"precision. Give --{role} SPEC too, or set --student-device/--student-dtype.")
        own = now["inherited"] != "student"  # the device and precision shown are the role's own
        device = _option(device_arg) if device_arg is not None else (now["device"] if own else None)
        dtype = _option(dtype_arg) if dtype_arg is not None else (now["dtype"] if own else None)
        plans.append((role, spec, device, dtype))
    for role, spec, device, dtype in plans:
        project.roles.set(role, spec, device=device, dtype=dtype)
    return [p[0] for p in plans]


def role_lines(project: Project) -> list[str]:
    """One tab-separated line per role: role, spec, device, precision, where it comes from."""
    lines = []
    for role in ROLES:
        r = project.roles.get(role)
        source = {"": "set", "student": "not set: same as the student",
                  "default": "not set: embedded default"}[r["inherited"]]
        lines.append("\t".join([role, r["spec"] or "default", r["device"] or "auto", r["dtype"] or "auto", source]))
    return lines


def cmd_roles(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        changed = set_roles(project, args)
        lines = role_lines(project)
    if changed:
        print(f"set {', '.join(changed)}")
    for line in lines:
        print(line)
    return 0
