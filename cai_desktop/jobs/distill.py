"""Context distillation (teacher–student data): the teacher answers with the constitution in its
context, the student answers without it.

For each prompt the *teacher* (the project's teacher role, or the model chosen here) is given the
constitution (its system prompt, every enabled principle, and few-shot examples of revised
answers) and answers; the *student* answers the bare prompt. The pair is stored as a response
pair (A = teacher, B = student) with a comparison whose label is 1.0 for A (source ``distill``),
so it is at once an SFT example (the teacher's answer) and a DPO pair (teacher chosen, student
rejected): the recipe of Open Character Training (2025). Each finished batch is committed; the
same job started again continues an unfinished run and skips prompts that already have a pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cai_desktop.core.context import CancelOnly, check_cancelled
from cai_desktop.core.errors import ValidationError
from cai_desktop.core.params import param
from cai_desktop.core.prompting import answer_messages, constitution_messages
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.critique import step_seed
from cai_desktop.jobs.fields import (
    adapter_param,
    batch_param,
    limit_param,
    max_tokens_param,
    model_param,
    seed_param,
    split_param,
)
from cai_desktop.jobs.roles import load_role_model, role_model, role_record
from cai_desktop.jobs.runs import RunContext
from cai_desktop.store.project import Project

KIND = "distill"
LABEL_NAME = "context distillation"


@dataclass
class DistillParams(JobParams):
    constitution: str = param("general", label="Constitution", source="constitutions",
                              help="The constitution the teacher is given in its context.")
    prompt_set: str = param("red-team", label="Prompt set", source="prompt_sets", flags=("--set",),
                            help="The prompts both models answer (red-team prompts, and helpful ones to keep the "
                                 "student helpful).")
    limit: int | None = limit_param(32)
    split: str | None = split_param("train")
    teacher: str | None = model_param("Teacher", flags=("--teacher",), project_role="teacher")
    student: str | None = model_param("Student", flags=("--student",), project_role="student")
    student_adapter: str | None = adapter_param("the student (e.g. to distil into an SL-CAI adapter)")
    few_shot: int = param(2, label="Few-shot examples", range=(0, 16),
                          help="The constitution's examples of revised answers shown to the teacher before the "
                               "prompt.")
    temperature: float = param(0.7, label="Temperature", range=(0.0, 2.0),
                               help="Sampling temperature of both answers; 0 = greedy.")
    max_new_tokens: int = max_tokens_param(160, "The longest answer of either model, in tokens.")
    seed: int = seed_param("answers")
    batch_size: int = batch_param(8)


def _prepare(project: Project, params: DistillParams) -> dict[str, Any]:
    constitution = project.constitutions.get(params.constitution)
    prompts = project.prompts.of(params.prompt_set, split=params.split, limit=params.limit)
    if not prompts:
        raise ValidationError(f"The prompt set {params.prompt_set!r} has no prompts in the "
                              f"{params.split or 'whole'} split.")
    return {"constitution": constitution, "prompts": prompts}


def run_distill(ctx: Any, params: DistillParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _generate(lm: Any, messages: list[list[dict[str, str]]], params: DistillParams, seeds: list[int],
              ctx: Any) -> list[str]:
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate

    reqs = [GenerationRequest(messages=m, sampling=SamplingSettings(
        params.temperature, 0.95 if params.temperature > 0 else 1.0, params.max_new_tokens, (), s))
        for m, s in zip(messages, seeds)]
    return [r.text for r in generate(lm, reqs, ctx=CancelOnly(ctx), batch_size=len(reqs))]


def _body(project: Project, ctx: RunContext, run_id: int, params: DistillParams,
          plan: dict[str, Any]) -> dict[str, Any]:
    constitution, prompts = plan["constitution"], plan["prompts"]
    done = project.pairs.done_prompt_ids(run_id)
    todo = [p for p in prompts if p["id"] not in done]
    if not todo:
        ctx.log(f"nothing to do: all {len(prompts)} prompts already have a pair in run {run_id}")
        return {"pairs": 0, "skipped": len(done)}
    kind = "helpful" if project.prompts.set_kind(params.prompt_set) == "helpful" else "harmless"
    teacher = role_model(project, "teacher", params.teacher)
    student = role_model(project, "student", params.student)
    ctx.log(f"teacher: {teacher['spec'] or 'the embedded model'} ({teacher['source']}), with the constitution; "
            f"student: {student['spec'] or 'the embedded model'} ({student['source']}), without it")
    t_lm = load_role_model(teacher, None, ctx)
    s_lm = load_role_model(student, params.student_adapter, ctx)
    t_spec, s_spec = t_lm.spec.to_str(), s_lm.spec.to_str()
    for lm in (t_lm, s_lm):
        project.models.record(lm.spec.to_str(), lm.spec.kind, lm.spec.display_name)
    base, total, made, same = len(done), len(todo), 0, 0
    ctx.progress(2 * base, 2 * (base + total), "starting")
    for start in range(0, total, params.batch_size):
        check_cancelled(ctx)
        batch = todo[start:start + params.batch_size]
        seeds = [step_seed(params.seed, p["id"], 0, "distill") for p in batch]
        chosen = _generate(t_lm, [constitution_messages(constitution, p["text"], few_shot=params.few_shot)
                                  for p in batch], params, seeds, ctx)
        ctx.progress(2 * (base + made) + len(batch), 2 * (base + total), "teacher answers")
        rejected = _generate(s_lm, [answer_messages(None, p["text"]) for p in batch], params, seeds, ctx)
        rows = [{"run_id": run_id, "prompt_id": p["id"], "policy_spec": f"teacher {t_spec} vs student {s_spec}",
                 "response_a": a, "response_b": b, "seed": params.seed,
                 "sampling": {"distill": True, "teacher": t_spec, "student": s_spec,
                              "student_adapter": params.student_adapter, "temperature": params.temperature,
                              "max_new_tokens": params.max_new_tokens, "few_shot": params.few_shot,
                              "constitution": constitution.name, "constitution_version": constitution.version}}
                for p, a, b in zip(batch, chosen, rejected) if a.strip()]
        same += sum(1 for a, b in zip(chosen, rejected) if a.strip() == b.strip())
        project.pairs.save(rows)
        ids = project.pairs.ids_for(run_id, [r["prompt_id"] for r in rows])
        project.comparisons.save([
            {"run_id": run_id, "source": "distill", "source_id": ids[r["prompt_id"]], "prompt_id": r["prompt_id"],
             "prompt_text": next(p["text"] for p in batch if p["id"] == r["prompt_id"]),
             "response_a": r["response_a"], "response_b": r["response_b"], "feedback_model": LABEL_NAME,
             "mode": "distill", "clamp": "none", "p_a": 1.0, "p_b": 0.0, "raw_label": 1.0, "label": 1.0,
             "seed": params.seed, "kind": kind}
            for r in rows])
        made += len(batch)
        ctx.progress(2 * (base + made), 2 * (base + total), f"{made}/{total} pairs")
    if same:
        ctx.log(f"{same} of {made} teacher answers equal the student's: the constitution changed nothing there")
    ctx.log(f"made {made} teacher–student pairs")
    return {"pairs": made, "skipped": len(done), "identical": same, "kind": kind,
            "roles": {"teacher": role_record(teacher, t_spec), "student": role_record(student, s_spec,
                                                                                      params.student_adapter)}}


JOB = Job(
    kind=KIND, label="Teacher answers (context distillation)", params=DistillParams, prepare=_prepare, body=_body,
    description="The teacher answers each prompt with the constitution in its context; the student answers "
                "without it. Each pair is an SFT example (the teacher's answer) and a DPO pair (teacher over "
                "student). This is how a small model learns from a stronger one.",
    run_name=lambda p: f"distill {p.prompt_set} × {p.constitution}",
    summary=lambda r: [f"run {r['run_id']}: {r['pairs']} teacher–student pairs, {r['skipped']} already there"],
    cli_help="teacher answers with the constitution, student without (context distillation)",
)
