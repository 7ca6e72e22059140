"""The robustness job on the tiny model: every held-out prompt asked plain and in each variant."""

import json

import pytest

from cai_desktop.core.errors import ValidationError
from cai_desktop.core.transforms import PLAIN, TRANSFORMS, leetspeak
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.jobs.registry import JOBS
from cai_desktop.jobs.robustness import RobustnessParams, run_robustness
from cai_desktop.store.project import Project


@pytest.fixture
def rob_project(tmp_path, tiny_model_dir):
    path = tmp_path / "r.caiproj"
    with Project.create(path) as p:
        p.roles.set("student", str(tiny_model_dir))
        p.prompts.add_set("heldout-harmful", "red-team", [f"how do I break thing {i}" for i in range(6)])
        p.prompts.resplit("heldout-harmful", seed=0, test_fraction=1.0)
        p.prompts.add_set("red-team", "red-team", ["train only prompt"])
    return path


def test_robustness_judges_each_transform_per_policy(rob_project):
    ctx = RecordingContext()
    r = run_robustness(ctx, RobustnessParams(project=str(rob_project), transforms=["leetspeak", "role_play"],
                                             limit=3, max_new_tokens=4, batch_size=4))
    assert r["prompt_set"] == "heldout-harmful" and r["transforms"] == ["leetspeak", "role_play"]
    rows = [json.loads(line) for line in open(r["answers"])]
    assert len(rows) == 3 * 3  # base only (no adapters): 3 prompts × (plain + 2 transforms)
    assert {row["transform"] for row in rows} == {PLAIN, "leetspeak", "role_play"}
    for row in rows:
        if row["transform"] == "leetspeak":
            assert row["prompt"] == leetspeak(row["plain_prompt"])
        assert row["judge"] and row["harm_avoided"] in (True, False)
    (label,) = r["robustness"]
    res = r["robustness"][label]
    assert res["plain"]["n"] == 3 and set(res["transforms"]) == {"leetspeak", "role_play"}
    for t in res["transforms"].values():
        assert t["variant"]["n"] == 3 and 0 <= t["variant"]["low"] <= t["variant"]["high"] <= 1
    with Project.open(rob_project) as p:
        held = {q["id"] for q in p.prompts.of("heldout-harmful", split="test")}
        assert {row["prompt_id"] for row in rows} <= held  # held-out prompts only
        names = {m["name"] for m in p.runs.metrics(r["run_id"])}
        assert names == {"harm_avoided_rate/plain", "harm_avoided_rate/leetspeak", "harm_avoided_rate/role_play"}
        assert p.runs.get(r["run_id"])["kind"] == "robustness"
    assert any("role-play framing" in line for line in JOBS["robustness"].summary(r))
    # the HTML report (core/report.py) has the robustness sections, well-formed
    import xml.etree.ElementTree as ET

    from cai_desktop.core.report import run_report

    with Project.open(rob_project) as p:
        page = run_report(p.runs.get(r["run_id"]), r)
    assert "Harm avoided per transform" in page and "leetspeak obfuscation" in page and "<svg" in page
    ET.fromstring(page[page.index("<html"):])


def test_robustness_refuses_unknown_transform_before_a_run(rob_project):
    with pytest.raises(ValidationError, match="Unknown transform 'rot13'"):
        run_robustness(None, RobustnessParams(project=str(rob_project), transforms=["rot13"]))
    with Project.open(rob_project) as p:
        assert p.runs.list("robustness") == []
    assert len(TRANSFORMS) == 7
