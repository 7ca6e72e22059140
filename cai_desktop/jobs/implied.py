"""The implied-constitution job (kind ``implied``) and a draft principle from a reviewer's note.

Inverse Constitutional AI (Findeis et al., ICLR 2025): for every enabled principle with a
comparison question, the project's *feedback model* is asked that principle's question on each
comparison that has a final human A/B choice, exactly as the AI feedback job asks it
(``engine.feedback.label_pairs``: both orders averaged by default), and ``core.implied`` scores
how often its preferred side is the humans'. Nothing is written to the comparisons (these votes
are not training labels): the votes and the scores are the run's result, and the votes so far are
saved after each batch (``project.runs.set_result``), so a cancelled run started again asks only
the questions it has not asked; a principle whose text changed since is asked again.

``draft_principle`` is a quick call (no run row, like Try it): the project's *teacher* writes a
title, critique request, revision request and comparison question from a reviewer's note on a
rejected answer (``core.implied.draft_request``/``parse_draft``); the person edits it in the
constitution editor before it becomes a principle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cai_desktop.core.constitution import principle_hash
from cai_desktop.core.context import CancelOnly, check_cancelled
from cai_desktop.core.errors import Cancelled, ValidationError
from cai_desktop.core.feedback import CLAMPS, MODES, default_clamp
from cai_desktop.core.implied import (
    DraftPrinciple,
    contradicted,
    draft_key,
    draft_request,
    human_side,
    implied_constitution,
    parse_draft,
)
from cai_desktop.core.params import param
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.fields import adapter_param, batch_param, model_param
from cai_desktop.jobs.label import comparison_constitution
from cai_desktop.jobs.roles import load_role_model, role_model, role_record
from cai_desktop.jobs.runs import RunContext
from cai_desktop.store.project import Project

KIND = "implied"
PAGE = 500


@dataclass
class ImpliedParams(JobParams):
    constitution: str = param("general", label="Constitution", source="constitutions",
                              help="The constitution whose principles are scored: each enabled principle with a "
                                   "comparison question is asked on every comparison a reviewer decided.")
    principles: list[str] = param([], label="Principles (keys)", empty="every enabled principle",
                                  help="Score only these principles (their keys); empty = every enabled principle "
                                       "of the constitution that has a comparison question.")
    model: str | None = model_param("Feedback", project_role="feedback model")
    adapter: str | None = adapter_param("the feedback model")
    both_orders: bool = param(True, label="Ask in both orders",
                              help="Ask with (A, B) and with (B, A) and average, which cancels the position bias of "
                                   "small models (it costs twice the time).")
    mode: str = param("direct", label="Mode", choices=MODES,
                      help="direct: read the probabilities of the option tokens; cot (chain of thought): reason "
                           "step by step first, then read them.")
    clamp: str | None = param(None, label="Clamp", choices=(None, *CLAMPS), empty="40-60 when reasoning first, else none",
                              help="Clamp overconfident votes into this range of percentages (the side, and so the "
                                   "agreement, does not change).")
    few_shot: int = param(0, label="Few-shot examples", range=(0, 16),
                          help="Worked comparison examples shown to the feedback model before each question.")
    limit: int | None = param(None, label="Comparisons (limit)", range=(1, 10_000_000), empty="all decided ones",
                              identity=False,
                              help="Use only the first N comparisons that have a human A or B choice; empty = all.")
    batch_size: int = batch_param(8)
    max_reasoning_tokens: int = param(96, label="Longest reasoning (tokens)", range=(1, 8192),
                                      help="The longest chain of thought, in tokens (cot mode only).")

    @property
    def effective_clamp(self) -> str:
        return self.clamp or default_clamp(self.mode)


def human_choices(project: Project) -> list[dict[str, Any]]:
    """Comparisons with a final human choice of A or B, oldest first: ``{id, prompt, response_a,
    response_b, human_choice, principle_key}``.

    The final choice is the project's review policy's (``project.reviews``) when the project has
    one, else the comparison's current ``human_choice``."""
    finals = _final_choices(project)
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        # the store writes each item's final decision into its human_choice: only reviewed ones can have one
        page = project.comparisons.list(offset, PAGE, reviewed=True)
        if not page:
            break
        for r in page:
            choice = finals.get(r["id"]) if finals is not None else r.get("human_choice")
            if human_side(choice):
                out.append({**r, "human_choice": choice})
        offset += len(page)
    out.sort(key=lambda r: r["id"])
    return out


def _final_choices(project: Project) -> dict[int, str] | None:
    """comparison id -> final decision from the team-review manager, or None without one."""
    reviews = getattr(project, "reviews", None)
    final = getattr(reviews, "final_decisions", None)
    if final is None:
        return None
    try:
        rows = final("comparison")
    except TypeError:
        return None
    if isinstance(rows, dict):
        return {int(k): (v.get("decision") if isinstance(v, dict) else v) for k, v in rows.items()}
    return {int(r["target_id"]): r.get("decision") for r in rows}


def review_policy(project: Project) -> str | None:
    reviews = getattr(project, "reviews", None)
    get = getattr(reviews, "policy", None)
    if get is None:
        return None
    try:
        p = get()
    except Exception:  # noqa: BLE001 - a description only
        return None
    return p.get("policy") if isinstance(p, dict) else str(p)


def _principles(project: Project, params: ImpliedParams) -> list[Any]:
    constitution = comparison_constitution(project.constitutions.get(params.constitution))
    principles = [p for p in constitution.enabled_principles if p.comparison_question.strip()]
    if params.principles:
        known = {p.key for p in principles}
        missing = [k for k in params.principles if k not in known]
        if missing:
            raise ValidationError(
                f"Constitution {params.constitution!r} has no enabled principle with a comparison question named "
                f"{', '.join(repr(k) for k in missing)}.")
        principles = [p for p in principles if p.key in set(params.principles)]
    if not principles:
        raise ValidationError(f"Constitution {params.constitution!r} has no enabled principle with a comparison "
                              "question to score.")
    return principles


def _prepare(project: Project, params: ImpliedParams) -> None:
    _principles(project, params)
    if not human_choices(project):
        raise ValidationError("No comparison has a reviewer's A or B choice yet: choose on the Comparisons page "
                              "first (ties and both-bad say nothing about a side).")


def run_implied(ctx: Any, params: ImpliedParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _body(project: Project, ctx: RunContext, run_id: int, params: ImpliedParams, plan: None) -> dict[str, Any]:
    from cai_desktop.engine.feedback import label_pairs

    principles = _principles(project, params)
    items = human_choices(project)
    if params.limit:
        items = items[: params.limit]
    blank = [it for it in items if not (it["response_a"] or "").strip() or not (it["response_b"] or "").strip()]
    items = [it for it in items if it not in blank]
    if blank:
        ctx.log(f"skipped {len(blank)} comparison{'s' if len(blank) != 1 else ''} with an empty answer")
    # votes already asked by this run (a resumed run), kept only for unchanged principle texts
    saved = (project.runs.get(run_id).get("result") or {}).get("votes") or {}
    votes: dict[str, dict[str, Any]] = {}
    for p in principles:
        h = principle_hash(p)
        old = saved.get(p.key) or {}
        votes[p.key] = {"hash": h, "p_a": dict(old.get("p_a") or {}) if old.get("hash") == h else {}}
    todo = [(p, it) for p in principles for it in items if str(it["id"]) not in votes[p.key]["p_a"]]
    total = len(principles) * len(items)
    done = total - len(todo)
    clamp = params.effective_clamp
    ctx.log(f"{len(principles)} principles × {len(items)} decided comparisons = {total} questions "
            f"({done} already asked), mode {params.mode}, {'both orders' if params.both_orders else 'one order'}")
    chosen = role_model(project, "feedback", params.model)
    feedback_model = None
    if todo:
        ctx.log(f"feedback model: {chosen['spec'] or 'the embedded model'} ({chosen['source']})")
        lm = load_role_model(chosen, params.adapter, ctx)
        spec = lm.spec.to_str()
        project.models.record(spec, lm.spec.kind, lm.spec.display_name)
        feedback_model = spec + (f" + {params.adapter}" if params.adapter else "")
    ctx.progress(done, total, "starting")
    for start in range(0, len(todo), params.batch_size):
        check_cancelled(ctx)
        batch = todo[start: start + params.batch_size]
        labels = label_pairs(
            lm,
            [{"prompt": it["prompt"], "response_a": it["response_a"], "response_b": it["response_b"],
              "principle": p, "key": f"implied:{p.key}:{it['id']}"} for p, it in batch],
            both_orders=params.both_orders, mode=params.mode, clamp=clamp, few_shot=params.few_shot,
            ctx=CancelOnly(ctx), batch_size=params.batch_size, max_reasoning_tokens=params.max_reasoning_tokens,
        )
        for (p, it), lab in zip(batch, labels):
            votes[p.key]["p_a"][str(it["id"])] = lab["label"]
        done += len(batch)
        if getattr(ctx, "main_process", True):  # under accelerate launch only the main process writes
            project.runs.set_result(run_id, {"partial": True, "votes": votes})  # this batch is kept
        ctx.progress(done, total, f"{done}/{total} questions asked")
    return _finish(project, ctx, principles, items, votes, chosen, feedback_model, params)


def _finish(project, ctx, principles, items, votes, chosen, feedback_model, params) -> dict[str, Any]:
    by_id = {str(it["id"]): it["human_choice"] for it in items}
    scores = implied_constitution(
        {p.key: [(pa, by_id[cid]) for cid, pa in votes[p.key]["p_a"].items() if cid in by_id] for p in principles},
        {p.key: p.title for p in principles},
    )
    for s in scores:
        if s.agreement is not None:
            ctx.metric(f"agreement {s.key}", s.agreement, 0)
    against = contradicted(scores)
    for s in scores:
        if s.agreement is not None:
            ctx.log(f"{s.key}: agrees with the reviewers on {s.agreed} of {s.n} ({s.agreement:.0%}, "
                    f"95% {s.low:.0%}–{s.high:.0%}) — {s.verdict}")
    if against:
        ctx.log("the reviewers' choices contradict: " + ", ".join(s.key for s in against))
    result: dict[str, Any] = {
        "constitution": params.constitution, "comparisons": len(items), "principles": len(principles),
        "scores": [s.to_dict() for s in scores], "contradicted": [s.key for s in against],
        "policy": review_policy(project) or "latest choice", "votes": votes, "mode": params.mode,
        "both_orders": params.both_orders,
    }
    if feedback_model:
        result["feedback_model"] = feedback_model
        result["roles"] = {"feedback": role_record(chosen, feedback_model.split(" + ")[0], params.adapter)}
    return result


def latest_result(project: Project) -> dict[str, Any] | None:
    """The result of the newest finished implied-constitution run (None without one)."""
    for run in project.runs.list(KIND):
        if run["status"] == "done":
            r = project.runs.get(run["id"])
            return {**(r.get("result") or {}), "run_id": run["id"], "finished_at": run.get("finished_at")}
    return None


def _summary(r: dict[str, Any]) -> list[str]:
    lines = [f"run {r['run_id']}: {r.get('principles', 0)} principles scored on {r.get('comparisons', 0)} decided "
             "comparisons"]
    for s in r.get("scores", []):
        if s.get("agreement") is None:
            lines.append(f"  {s['key']}: no votes")
        else:
            lines.append(f"  {s['key']}: {s['agreement']:.0%} of {s['n']} (95% {s['low']:.0%}–{s['high']:.0%}) "
                         f"{s['verdict']}")
    if r.get("contradicted"):
        lines.append("contradicted by the reviewers: " + ", ".join(r["contradicted"]))
    return lines


JOB = Job(
    kind=KIND, label="Implied constitution", params=ImpliedParams, prepare=_prepare, body=_body,
    description="Inverse CAI: ask the feedback model each principle's comparison question on the comparisons "
                "reviewers decided, and score how often it agrees with them (agreement, n and an interval); the "
                "principles their choices contradict stand out.",
    run_name=lambda p: f"implied {p.constitution}", summary=_summary,
    cli_help="implied constitution: score each principle against the reviewers' final choices",
)


# -- a draft principle from a note --------------------------------------------------------------------
@dataclass
class DraftParams:
    project: str = ""
    note: str = ""
    prompt: str = ""
    answer: str = ""
    constitution: str = ""  # the key is made unique in it
    model: str | None = None  # empty: the project's teacher
    adapter: str | None = None
    max_new_tokens: int = 160

    def check(self) -> None:
        if not self.note.strip():
            raise ValidationError("Write a note on the answer first: the draft principle is made from it.")
        if not 1 <= int(self.max_new_tokens) <= 4096:
            raise ValidationError("The longest draft must be between 1 and 4096 tokens.")


def draft_principle(ctx: Any, params: DraftParams) -> dict[str, Any]:
    """The teacher's draft principle from ``params.note`` (a quick call: no run is recorded).

    Returns :class:`DraftPrinciple` as a dict, with ``teacher`` (the model that wrote it)."""
    params.check()
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate

    existing: list[str] = []
    with Project.open(params.project) as project:
        chosen = role_model(project, "teacher", params.model)
        if params.constitution:
            try:
                existing = [p.key for p in project.constitutions.get(params.constitution).principles]
            except Exception:  # noqa: BLE001 - a constitution renamed meanwhile: any key will do
                existing = []
    if ctx is not None:
        if ctx.cancelled():
            raise Cancelled("cancelled by the user")
        ctx.progress(0, 2, "loading the teacher")
    lm = load_role_model(chosen, params.adapter, ctx)
    if ctx is not None:
        ctx.progress(1, 2, "writing the draft")
    request = draft_request(params.note, params.prompt, params.answer)
    sampling = SamplingSettings(temperature=0.0, top_p=1.0, max_new_tokens=int(params.max_new_tokens), seed=0)
    text = generate(lm, [GenerationRequest(messages=[{"role": "user", "content": request}], sampling=sampling)],
                    ctx=CancelOnly(ctx))[0].text
    parsed = parse_draft(text, params.note)
    draft = DraftPrinciple(
        key=draft_key(parsed["title"], existing), title=parsed["title"], critique_request=parsed["critique_request"],
        revision_request=parsed["revision_request"], comparison_question=parsed["comparison_question"],
        note=params.note, filled=parsed["filled"], raw=text,
    )
    if ctx is not None:
        ctx.progress(2, 2, "done")
    return {**draft.__dict__, "teacher": lm.spec.display_name}
