"""Model roles: the project's student, teacher and feedback model, and what each record keeps."""

import shutil

import pytest

from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs.critique import CritiqueParams, run_critique
from cai_desktop.jobs.label import LabelParams, run_label
from cai_desktop.jobs.pairs import PairsParams, run_pairs
from cai_desktop.store.project import Project


def test_unset_roles_inherit_the_student_then_the_default(tmp_path):
    with Project.create(tmp_path / "p.caiproj") as p:
        assert p.roles.get("teacher") == {"spec": None, "device": None, "dtype": None, "inherited": "default"}
        p.roles.set("student", "/models/small", device="cpu")
        assert p.roles.get("feedback")["spec"] == "/models/small"
        assert p.roles.get("feedback")["inherited"] == "student"
        p.roles.set("teacher", "/models/big", device="cuda", dtype="bfloat16")
        assert p.roles.get("teacher") == {"spec": "/models/big", "device": "cuda", "dtype": "bfloat16",
                                          "inherited": ""}
        with pytest.raises(ValidationError, match="Unknown model role"):
            p.roles.get("critic")
        with pytest.raises(ValidationError, match="Unknown device"):
            p.roles.set("teacher", "/models/big", device="tpu")
        p.roles.set("teacher", None)
        assert p.roles.get("teacher")["inherited"] == "student"


def test_each_job_uses_its_role_and_records_which_model_played_it(stage1_project, tiny_model_dir, tmp_path):
    teacher = tmp_path / "teacher-model"
    shutil.copytree(tiny_model_dir, teacher)  # a second model (another spec) for the teacher role
    student, teacher = str(tiny_model_dir.resolve()), str(teacher.resolve())
    with Project.open(stage1_project) as p:
        p.roles.set("student", student)
        p.roles.set("teacher", teacher)
    common = dict(project=str(stage1_project), max_new_tokens=6, split=None, limit=2, batch_size=2)
    crit = run_critique(None, CritiqueParams(constitution="tiny", prompt_set="rt", revisions=1,
                                             critique_max_new_tokens=6, **common))
    assert crit["roles"]["teacher"]["spec"] == teacher and crit["roles"]["teacher"]["chosen_by"] == "project teacher"
    pairs = run_pairs(None, PairsParams(prompt_set="rt", **common))
    assert pairs["roles"]["student"]["spec"] == student
    label = run_label(None, LabelParams(constitution="tiny", run_ids=[pairs["run_id"]], few_shot=0,
                                        project=str(stage1_project), batch_size=2))
    assert label["roles"]["feedback"]["spec"] == student  # unset: the student's model
    with Project.open(stage1_project) as p:
        chains = p.chains.list(0, 10, run_id=crit["run_id"])
        assert {p.chains.get(c["id"])["model_spec"] for c in chains} == {teacher}
        assert {c["feedback_model"] for c in p.comparisons.list(0, 10)} == {student}
        # the role a run used stays in its stored result
        assert p.runs.get(crit["run_id"])["result"]["roles"]["teacher"]["spec"] == teacher
