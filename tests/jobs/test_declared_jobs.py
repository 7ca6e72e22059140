"""Every job is one declared object: its fields carry help, labels, ranges and choice sources,
and the CLI and the window are generated from them (tests/ui/test_forms.py covers the dialog)."""

import argparse
import dataclasses

import pytest

from cai_desktop.core.errors import ValidationError
from cai_desktop.core.params import SOURCES, Params, infos, param
from cai_desktop.jobs.base import Job, JobParams, find_unfinished_run, run_job
from cai_desktop.jobs.registry import JOBS
from cai_desktop.store.project import Project

ADAPTER_KINDS = {"sft", "reward", "rloo", "ppo", "dpo"}


def _all_fields():
    for kind, job in JOBS.items():
        for i in infos(job.params):
            yield kind, i


def test_every_visible_field_has_help_a_readable_label_and_a_known_source():
    for kind, i in _all_fields():
        assert len(i.help) > 20, (kind, i.name)
        assert i.label and i.label != i.name, (kind, i.name)
        for raw in ("Lora r", "Kl coef", "Cliprange", "Max steps -1"):
            assert i.label != raw, (kind, i.name)
        if i.source:
            assert i.source_kind in SOURCES, (kind, i.name, i.source)
            if i.source_kind == "runs":
                assert i.source_arg and set(i.source_arg) <= set(JOBS), (kind, i.name, i.source)
            if i.source_kind == "adapter_ids":
                assert set(i.source_arg) <= ADAPTER_KINDS, (kind, i.name, i.source)
                assert (i.elem if i.is_list else i.type) is int, (kind, i.name)
        if i.choices is not None:
            assert i.default in i.choices, (kind, i.name)
        if i.range is not None and i.default is not None and not i.is_list:
            assert i.range[0] <= i.default <= i.range[1], (kind, i.name)


def test_defaults_of_every_job_are_valid_and_lora_fields_share_one_name():
    lora = {"rank", "alpha", "dropout", "lora_r"}
    for kind, job in JOBS.items():
        job.params(project="p.caiproj").check()
        names = {f.name for f in dataclasses.fields(job.params)}
        assert not names & lora, (kind, names & lora)
        assert {"project", "resume_run"} <= names


def test_ranges_and_choices_are_checked_by_the_declaration():
    cls = JOBS["ppo"].params
    with pytest.raises(ValidationError, match="KL penalty must be between 0 and 10"):
        cls(project="p", kl_coef=-1).check()
    with pytest.raises(ValidationError, match="Split: 'everything' is not one of: train, test, all"):
        cls(project="p", split="everything").check()


@dataclasses.dataclass
class ThrowawayParams(JobParams):
    rounds: int = param(3, label="Rounds", range=(1, 9), help="How many rounds the throwaway job makes.")
    shout: bool = param(False, label="Shout", help="Write the log lines in capitals, to see a flag work.")


def _throwaway_body(project, ctx, run_id, params, plan):
    for i in range(params.rounds):
        ctx.progress(i + 1, params.rounds)
    return {"rounds": params.rounds, "plan": plan}


THROWAWAY = Job(kind="throwaway", label="Throwaway", description="A job declared only in this test.",
                params=ThrowawayParams, body=_throwaway_body, prepare=lambda project, params: "planned")


def test_a_field_added_to_a_params_class_is_a_cli_option(tmp_path):
    from cai_desktop.cli.jobs import add_job_command

    parser = argparse.ArgumentParser()
    add_job_command(parser.add_subparsers(dest="job"), THROWAWAY)
    args = parser.parse_args(["throwaway", "p.caiproj", "--rounds", "5", "--shout"])
    assert (args.project, args.rounds, args.shout) == ("p.caiproj", 5, True)
    assert "How many rounds" in parser._subparsers._group_actions[0].choices["throwaway"].format_help()
    with pytest.raises(SystemExit):  # not a number: argparse's own one-line error
        parser.parse_args(["throwaway", "p.caiproj", "--rounds", "many"])


def test_resume_policy_continues_unfinished_runs_and_never_reopens_finished_ones(tmp_path):
    path = tmp_path / "p.caiproj"
    Project.create(path).close()
    first = run_job(THROWAWAY, None, ThrowawayParams(project=str(path)))
    assert first["plan"] == "planned"
    second = run_job(THROWAWAY, None, ThrowawayParams(project=str(path)))
    assert second["run_id"] != first["run_id"]  # finished: a new run
    with Project.open(path) as p:
        p.runs.set_status(second["run_id"], "cancelled")
        assert find_unfinished_run(p, "throwaway", ThrowawayParams(project=str(path))) == second["run_id"]
        assert find_unfinished_run(p, "throwaway", ThrowawayParams(project=str(path), rounds=4)) is None
    third = run_job(THROWAWAY, None, ThrowawayParams(project=str(path)))
    assert third["run_id"] == second["run_id"]
    # an explicit resume takes the run's own settings, whatever the request says
    with Project.open(path) as p:
        p.runs.set_status(third["run_id"], "failed")
    again = run_job(THROWAWAY, None, ThrowawayParams(project=str(path), rounds=7, resume_run=third["run_id"]))
    assert again["run_id"] == third["run_id"] and again["rounds"] == 3


def test_params_from_a_stored_config_convert_and_rename_old_names():
    cls = JOBS["sft"].params
    p = cls.from_config({"rank": "8", "lora_alpha": 16.0, "max_steps": "12", "gone": 1}, project="x")
    assert (p.lora_rank, p.lora_alpha, p.max_steps) == (8, 16, 12)
    assert isinstance(p, Params)
