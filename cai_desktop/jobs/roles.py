"""A job's model for a role: the model chosen in the job's own settings, else the project's role.

Every job that loads a model names the role it plays (critique: teacher; pairs: student; label:
feedback; training: student). ``role_model`` resolves the spec, device and precision, and
``role_record`` is what a run's result and lineage keep, so every chain, label and adapter can be
traced to the model that played each role.
"""

from __future__ import annotations

from typing import Any

from cai_desktop.store.project import Project


def role_model(project: Project, role: str, override: str | None = None) -> dict[str, Any]:
    """``{"role", "spec", "device", "dtype", "source"}``: ``override`` (a job setting) wins."""
    assigned = project.roles.get(role)
    if override:
        return {"role": role, "spec": override, "device": assigned["device"], "dtype": assigned["dtype"],
                "source": "job setting"}
    source = {"": f"project {role}", "student": "project student", "default": "embedded default"}[assigned["inherited"]]
    return {"role": role, "spec": assigned["spec"], "device": assigned["device"], "dtype": assigned["dtype"],
            "source": source}


def load_role_model(chosen: dict[str, Any], adapter: str | None, ctx: Any):
    """Load the model of a resolved role (engine import inside: torch only in the worker)."""
    from cai_desktop.engine.models import load_model

    return load_model(chosen["spec"], adapter=adapter, device=chosen["device"], dtype=chosen["dtype"], ctx=ctx)


def role_record(chosen: dict[str, Any], loaded_spec: str, adapter: str | None = None) -> dict[str, Any]:
    return {"role": chosen["role"], "spec": loaded_spec, "adapter": adapter, "device": chosen["device"],
            "dtype": chosen["dtype"], "chosen_by": chosen["source"]}
