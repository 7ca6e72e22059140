"""Head-to-head comparison of policies: held-out answers judged pairwise, rated, and placed on the
harmlessness-vs-helpfulness frontier.

Every policy (the base, then each chosen adapter) answers the same held-out (test split) harmful
and benign prompts greedily (by default the held-out starter sets ``heldout-harmful`` and
``heldout-benign``, as in the before/after evaluation). For every prompt, every pair of policies
whose answers differ and every comparison principle of the chosen constitution, the feedback
model gives a soft label (both orders averaged, which cancels its position bias). Each judgement
is stored as a comparison (source ``matchup``) so that people can judge the same pairs blind on
the Comparisons page; which policy wrote which side is kept in the comparison's ``source_id``
(:func:`encode`), never shown, and the sides are drawn at random (seeded) so neither policy is
always A. Matchups are held-out data: the preference model and DPO never train on them.

The run's result holds, for AI and human judgements separately, per-principle win rates with
Wilson intervals, order-averaged Elo and Bradley–Terry scores with bootstrap intervals
(:mod:`cai_desktop.core.ratings`), and per policy the judge's harm-avoided rate on the harmful
prompts and its helpfulness on the benign ones (answered on topic, neither refused nor
redirected), each with its Wilson interval: one point per policy of the frontier plot, which the
job writes as ``<artifacts>/run-N/frontier.svg`` (and win-rate bars as ``win_rates.svg``).
Human ratings are recomputed from the store whenever the run is shown or reported
(:func:`current_result`), since people judge after the run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cai_desktop.core import ratings as rt
from cai_desktop.core import report
from cai_desktop.core.context import CancelOnly, check_cancelled
from cai_desktop.core.errors import ValidationError
from cai_desktop.core.evaluation import BENIGN_KIND, judged, looks_risky, rate, summarize
from cai_desktop.core.feedback import MODES, default_clamp
from cai_desktop.core.params import param
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.evaluate import POLICY_ADAPTERS, greedy_batches, policies_for, prompt_sets_for
from cai_desktop.jobs.fields import (
    adapter_param,
    batch_param,
    limit_param,
    max_tokens_param,
    model_param,
    seed_param,
    split_param,
)
from cai_desktop.jobs.label import comparison_constitution
from cai_desktop.jobs.roles import load_role_model, role_model, role_record
from cai_desktop.jobs.runs import RunContext
from cai_desktop.store.project import Project

KIND = "compare"
SOURCE = "matchup"
#: the encoding of a matchup in a comparison's source_id has room for this many principles / pairs
MAX_PRINCIPLES = 100
MAX_POLICIES = 14  # 91 pairs < 100


@dataclass
class CompareParams(JobParams):
    adapter_ids: list[int] = param([], label="Adapters", source=POLICY_ADAPTERS,
                                   empty="the newest SFT, RLOO, PPO and DPO adapter", flags=("--adapter",),
                                   help="The trained adapters to compare (policies); empty = the newest SFT, RLOO, "
                                        "PPO and DPO one.")
    include_base: bool = param(True, label="Include the base model",
                               help="Compare the base model too (one more policy).")
    base: str | None = param(None, label="Base model", source="models", empty="the adapters' base",
                             help="The base policy; empty = the base the adapters were trained on.")
    red_team_set: str | None = param(None, label="Harmful prompts", source="prompt_sets",
                                     empty="heldout-harmful if the project has it, else red-team",
                                     help="Harmful prompts: harm avoided here is the frontier's harmlessness.")
    helpful_set: str | None = param(None, label="Benign prompts", source="prompt_sets",
                                    empty="heldout-benign if the project has it, else helpful",
                                    help="Benign prompts: helpful answers here are the frontier's helpfulness.")
    split: str | None = split_param("test", "prompts (test = held out, never trained on)")
    limit: int | None = limit_param(20)
    judge_limit: int | None = param(None, label="Prompts judged pairwise", range=(1, 10_000_000), identity=False,
                                    empty="every prompt",
                                    help="Judge head to head only the first N prompts of each set (every pair of "
                                         "policies costs a judgement per principle); all prompts still count for "
                                         "harm avoided and helpfulness. Running again with a larger number continues "
                                         "the same run.")
    constitution: str = param("general", label="Constitution", source="constitutions",
                              help="Its comparison principles are the questions each pair of answers is judged under.")
    principles: list[str] = param([], label="Principle keys", empty="every comparison principle",
                                  help="Judge under only these principles (their keys); empty = every comparison principle.")
    max_principles: int | None = param(None, label="Principles", range=(1, MAX_PRINCIPLES),
                                       empty="every comparison principle",
                                       help="Judge under only the first this many comparison principles (each one "
                                            "costs a judgement per pair of answers).")
    model: str | None = model_param("Feedback", project_role="feedback model")
    feedback_adapter: str | None = adapter_param("the feedback model")
    mode: str = param("direct", label="Mode", choices=MODES,
                      help="direct: read the probabilities of the option tokens; cot: reason first, then read them.")
    few_shot: int = param(2, label="Few-shot examples", range=(0, 16),
                          help="Worked comparison examples shown to the feedback model before each question.")
    max_new_tokens: int = max_tokens_param(128, "The longest answer, in tokens (answers are greedy, so repeatable).")
    answers_run: int | None = param(None, label="Answers from run", source="runs:eval,compare", empty="answer anew",
                                    help="Take the policies' answers from this earlier evaluation or comparison run "
                                         "(same policies, prompts and longest answer) instead of answering again.")
    seed: int = seed_param("which side each policy's answer is shown on")
    batch_size: int = batch_param(8)
    resamples: int = param(200, label="Bootstrap resamples", range=(10, 10000), identity=False,
                           help="Resamples for the Elo and Bradley–Terry intervals.")
    examples: int = param(3, label="Examples shown", range=(0, 100), identity=False,
                          help="How many prompts of each kind the result shows side by side.")


def encode(prompt_id: int, pair: int, principle: int, swapped: bool) -> int:
    """A matchup's ``source_id``: the prompt, the policy pair (index into the pairs of the run's
    policies), the principle (index into the run's principles) and whether the sides are swapped."""
    return ((int(prompt_id) * 100 + pair) * MAX_PRINCIPLES + principle) * 2 + int(swapped)


def decode(source_id: int) -> tuple[int, int, int, bool]:
    rest, swapped = divmod(int(source_id), 2)
    rest, principle = divmod(rest, MAX_PRINCIPLES)
    prompt_id, pair = divmod(rest, 100)
    return prompt_id, pair, principle, bool(swapped)


def policy_pairs(n: int) -> list[tuple[int, int]]:
    return list(itertools.combinations(range(n), 2))


def _swapped(seed: int, prompt_id: int, pair: int, principle: int) -> bool:
    digest = hashlib.sha256(f"{seed}:side:{prompt_id}:{pair}:{principle}".encode()).digest()
    return bool(digest[0] & 1)


def _principles(project: Project, params: CompareParams) -> list[Any]:
    c = comparison_constitution(project.constitutions.get(params.constitution))
    ps = list(c.enabled_principles)
    if params.principles:
        by_key = {p.key: p for p in ps}
        unknown = [k for k in params.principles if k not in by_key]
        if unknown:
            raise ValidationError(f"The constitution {params.constitution!r} has no enabled comparison principle "
                                  f"{', '.join(map(repr, unknown))}; its keys are: {', '.join(by_key)}.")
        ps = [by_key[k] for k in dict.fromkeys(params.principles)]
    if params.max_principles:
        ps = ps[: params.max_principles]
    if not ps:
        raise ValidationError(f"The constitution {params.constitution!r} has no enabled principle to judge under.")
    return ps


def _earlier_answers(project: Project, params: CompareParams, policies: list[dict[str, Any]],
                     prompts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The policies' answers to ``prompts`` from run ``params.answers_run`` (re-judged here), in the
    order this run makes them; one clear line when that run cannot supply them all."""
    run = project.runs.get(params.answers_run)
    rid = params.answers_run
    if run["kind"] not in ("eval", KIND) or run["status"] != "done":
        raise ValidationError(f"Run {rid} is not a finished evaluation or comparison run; its answers cannot be used.")
    have = int((run.get("config") or {}).get("max_new_tokens") or 0)
    if have != params.max_new_tokens:
        raise ValidationError(f"Run {rid} answered with at most {have} tokens, this run asks for "
                              f"{params.max_new_tokens}; set the longest answer to {have} or answer anew.")
    result = run.get("result") or {}
    lineage = result.get("lineage") or {}
    earlier = result.get("policies") if run["kind"] == "eval" else (
        lineage.get("policies") if isinstance(lineage, dict) else lineage)
    label_of = {(e.get("adapter_id"), e.get("model")): e.get("label") or e.get("policy") for e in earlier or []}
    path = Path(result.get("answers") or "")
    if not path.is_file():
        raise ValidationError(f"The answers of run {rid} are missing ({path}).")
    text: dict[tuple[str, int], str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            a = json.loads(line)
            text[(a["policy"], a["prompt_id"])] = a["text"]
    out = []
    for pol in policies:
        old = label_of.get((pol["adapter_id"], pol["model"]))
        if old is None:
            raise ValidationError(f"Run {rid} did not answer with {pol['label']}; answer anew or choose its policies.")
        for p in prompts:
            if (old, p["id"]) not in text:
                raise ValidationError(f"Run {rid} has no answer of {pol['label']} to prompt {p['id']}; lower the "
                                      "limit or answer anew.")
            out.append(_answer_row(pol, p, text[(old, p["id"])]))
    return out


def _answer_row(pol: dict[str, Any], p: dict[str, Any], text: str) -> dict[str, Any]:
    return {"policy": pol["label"], "prompt_id": p["id"], "kind": p["kind"], "category": p.get("category") or "",
            "prompt": p["text"], "text": text,
            "looks_risky": p["kind"] == BENIGN_KIND and looks_risky(p.get("category")), **judged(p["text"], text)}


def _prepare(project: Project, params: CompareParams) -> list[dict[str, Any]]:
    policies = policies_for(project, params)
    if len(policies) < 2:
        raise ValidationError("A comparison needs at least two policies: choose an adapter and the base, or two "
                              "adapters.")
    if len(policies) > MAX_POLICIES:
        raise ValidationError(f"At most {MAX_POLICIES} policies can be compared in one run ({len(policies)} chosen).")
    if len({p["label"] for p in policies}) != len(policies):
        raise ValidationError("The same policy is chosen twice; choose each adapter once.")
    _principles(project, params)
    if params.answers_run is not None:
        _earlier_answers(project, params, policies, _prompts(project, params)[0])
    sets = {s["name"] for s in project.prompts.sets()}
    names = prompt_sets_for(project, params)
    if not set(names.values()) & sets:
        raise ValidationError(
            f"Neither prompt set {names['red-team']!r} nor {names['helpful']!r} is in this project; "
            "import prompts first (or create the project with the starter content).")
    return policies


def run_compare(ctx: Any, params: CompareParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _prompts(project: Project, params: CompareParams) -> tuple[list[dict[str, Any]], dict[str, str]]:
    sets = {s["name"] for s in project.prompts.sets()}
    names = prompt_sets_for(project, params)
    prompts = []
    for kind, name in names.items():
        if name in sets:
            prompts += [{**p, "kind": kind} for p in project.prompts.of(name, split=params.split, limit=params.limit)]
    if not prompts:
        raise ValidationError(f"The prompt sets have no {params.split or ''} prompts to compare on.")
    return prompts, names


def _answers(project: Project, ctx: RunContext, params: CompareParams, policies: list[dict[str, Any]],
             prompts: list[dict[str, Any]], out_dir: Path) -> list[dict[str, Any]]:
    """Every policy's greedy answers; each policy's finished answers are kept in the run folder, so a
    resumed run does not answer again."""
    from cai_desktop.engine.models import load_model

    want = [p["id"] for p in prompts]
    answers: list[dict[str, Any]] = []
    total = len(policies) * len(prompts)
    ctx.progress(0, total, "answers")
    for i, pol in enumerate(policies):
        cache = out_dir / f"answers-{i}.jsonl"
        if cache.exists():
            rows = [json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines() if line.strip()]
            if [r["prompt_id"] for r in rows] == want and all(r["policy"] == pol["label"] for r in rows):
                answers += rows
                ctx.log(f"{pol['label']}: answers kept from before")
                continue
        lm = load_model(pol["model"], adapter=pol["adapter"], ctx=ctx)
        rows = []
        for start, texts in greedy_batches(ctx, lm, [p["text"] for p in prompts], params.max_new_tokens,
                                           params.batch_size):
            rows += [_answer_row(pol, p, text) for p, text in zip(prompts[start:start + len(texts)], texts)]
            ctx.progress(i * len(prompts) + start + len(texts), total, f"answers: {pol['label']}")
        del lm
        tmp = cache.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        tmp.replace(cache)
        answers += rows
    return answers


def _matchups(params: CompareParams, policies: list[dict[str, Any]], prompts: list[dict[str, Any]],
              answers: list[dict[str, Any]], principles: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """Every (prompt, pair of policies with different answers, principle) with its sides drawn."""
    text = {(a["policy"], a["prompt_id"]): a["text"] for a in answers}
    out, identical = [], 0
    if params.judge_limit:
        per_kind: dict[str, int] = {}
        kept = []
        for p in prompts:
            per_kind[p["kind"]] = per_kind.get(p["kind"], 0) + 1
            if per_kind[p["kind"]] <= params.judge_limit:
                kept.append(p)
        prompts = kept
    for p in prompts:
        for pair, (i, j) in enumerate(policy_pairs(len(policies))):
            ta, tb = text[(policies[i]["label"], p["id"])], text[(policies[j]["label"], p["id"])]
            if ta.strip() == tb.strip() or not ta.strip() or not tb.strip():
                identical += 1
                continue
            for k, principle in enumerate(principles):
                swapped = _swapped(params.seed, p["id"], pair, k)
                a, b = (j, i) if swapped else (i, j)
                out.append({"source_id": encode(p["id"], pair, k, swapped), "prompt": p, "principle": principle,
                            "a": a, "b": b,
                            "response_a": text[(policies[a]["label"], p["id"])],
                            "response_b": text[(policies[b]["label"], p["id"])]})
    return out, identical


def games_of(rows: list[dict[str, Any]], policies: list[str], principles: list[str],
             human: bool) -> list[dict[str, Any]]:
    """Comparison rows of a compare run as games for :mod:`cai_desktop.core.ratings` (AI soft labels,
    or people's choices; a both-bad or unreviewed comparison is no human game)."""
    pairs = policy_pairs(len(policies))
    games = []
    for r in rows:
        _prompt, pair, k, swapped = decode(r["source_id"])
        if pair >= len(pairs) or k >= len(principles):
            continue
        i, j = pairs[pair]
        a, b = (j, i) if swapped else (i, j)
        score = rt.human_score(r.get("human_choice")) if human else r.get("label")
        if score is None:
            continue
        games.append({"a": policies[a], "b": policies[b], "score": float(score), "principle": principles[k],
                      "kind": r.get("kind")})
    return games


def _run_rows(project: Project, run_id: int) -> list[dict[str, Any]]:
    n = project.comparisons.count(run_id=run_id)
    rows = []
    for offset in range(0, n, 1000):
        rows += project.comparisons.list(offset, 1000, run_id=run_id)
    return [r for r in rows if r.get("source") == SOURCE]


def frontier(answers: list[dict[str, Any]], policies: list[str]) -> list[dict[str, Any]]:
    """One point per policy: harm avoided on harmful prompts and helpfulness on benign ones (the
    judge's *compliance*: on topic, neither refused nor redirected), each a rate with its interval."""
    out = []
    for pol in policies:
        s = summarize(a for a in answers if a["policy"] == pol)
        harmful = next((v for k, v in s.items() if k != BENIGN_KIND), None) or {}
        benign = s.get(BENIGN_KIND) or {}
        helpful = rate(benign.get("labels", {}).get("compliance", 0), benign.get("n", 0))
        out.append({"policy": pol, "harm_avoided": harmful.get("harm_avoided") or rate(0, 0), "helpful": helpful,
                    "over_refusal": benign.get("over_refusal") or rate(0, 0),
                    "off_topic": benign.get("off_topic") or rate(0, 0)})
    return out


def _body(project: Project, ctx: RunContext, run_id: int, params: CompareParams,
          policies: list[dict[str, Any]]) -> dict[str, Any]:
    from cai_desktop.engine.feedback import label_pairs

    out_dir = project.artifacts_dir / f"run-{run_id}"
    out_dir.mkdir(parents=True, exist_ok=True)
    prompts, names = _prompts(project, params)
    principles = _principles(project, params)
    labels = [p["label"] for p in policies]
    keys = [p.key for p in principles]
    ctx.log(f"{len(policies)} policies × {len(prompts)} held-out prompts ({params.split or 'all'} split of "
            f"{' and '.join(sorted(set(names.values())))}) × {len(principles)} principles")
    if params.answers_run is not None:
        answers = _earlier_answers(project, params, policies, prompts)
        ctx.log(f"answers taken from run {params.answers_run} (re-judged)")
    else:
        answers = _answers(project, ctx, params, policies, prompts, out_dir)
    with (out_dir / "answers.jsonl").open("w", encoding="utf-8") as f:
        for a in answers:
            f.write(json.dumps(a, ensure_ascii=False) + "\n")

    todo_all, identical = _matchups(params, policies, prompts, answers, principles)
    done = project.comparisons.labelled_source_ids(run_id, SOURCE)
    todo = [m for m in todo_all if m["source_id"] not in done]
    ctx.log(f"{len(todo_all)} matchups to judge ({len(done)} already judged; {identical} prompt × pair with the same "
            "or an empty answer left out)")
    chosen = role_model(project, "feedback", params.model)
    feedback_model = None
    if todo:
        lm = load_role_model(chosen, params.feedback_adapter, ctx)
        spec = lm.spec.to_str()
        project.models.record(spec, lm.spec.kind, lm.spec.display_name)
        feedback_model = spec + (f" + {params.feedback_adapter}" if params.feedback_adapter else "")
        snapshots = {p.key: project.constitutions.snapshot(p, params.constitution) for p in principles}
        clamp = default_clamp(params.mode)
        made = 0
        for start in range(0, len(todo), params.batch_size):
            check_cancelled(ctx)
            batch = todo[start:start + params.batch_size]
            items = [{"prompt": m["prompt"]["text"], "response_a": m["response_a"], "response_b": m["response_b"],
                      "principle": m["principle"], "key": f"{SOURCE}:{m['source_id']}"} for m in batch]
            labs = label_pairs(lm, items, both_orders=True, mode=params.mode, clamp=clamp, few_shot=params.few_shot,
                               ctx=CancelOnly(ctx), seed=params.seed, batch_size=params.batch_size)
            rows = [{"run_id": run_id, "source": SOURCE, "source_id": m["source_id"], "prompt_id": m["prompt"]["id"],
                     "prompt_text": m["prompt"]["text"], "response_a": m["response_a"], "response_b": m["response_b"],
                     "principle_snapshot_id": snapshots[m["principle"].key], "feedback_model": feedback_model,
                     "mode": params.mode, "clamp": clamp, "p_a": lab["p_a"], "p_b": lab["p_b"],
                     "raw_label": lab["raw_label"], "label": lab["label"], "order_shift": lab["order_shift"],
                     "reasoning": lab["reasoning"], "seed": params.seed,
                     "kind": "helpful" if m["prompt"]["kind"] == BENIGN_KIND else "harmless"}
                    for m, lab in zip(batch, labs)]
            made += project.comparisons.save(rows)
            ctx.progress(len(done) + made, len(todo_all), f"judged {len(done) + made}/{len(todo_all)} matchups")
        del lm
    result = summarise(project, run_id, labels, keys, answers, params.resamples, params.seed)
    result.update({"prompt_sets": names, "split": params.split, "constitution": params.constitution,
                   "identical": identical, "feedback_model": feedback_model,
                   "roles": {"feedback": role_record(chosen, feedback_model or chosen["spec"] or "", params.feedback_adapter)},
                   "lineage": {"policies": [_lineage(project, p) for p in policies],
                               "prompt_sets": names, "answers_run": params.answers_run},
                   "answers": str(out_dir / "answers.jsonl"),
                   "examples": _examples(answers, labels, params.examples)})
    (out_dir / "frontier.svg").write_text(report.frontier_svg(result["frontier"]), encoding="utf-8")
    (out_dir / "win_rates.svg").write_text(report.win_rate_svg(result["ai"]["win_rates"], labels), encoding="utf-8")
    result["figures"] = {"frontier": str(out_dir / "frontier.svg"), "win_rates": str(out_dir / "win_rates.svg")}
    for i, pt in enumerate(result["frontier"]):
        for name in ("harm_avoided", "helpful"):
            if pt[name]["rate"] is not None:
                ctx.metric(f"{name}_rate", pt[name]["rate"], i)
        ctx.metric("elo/ai", result["ai"]["elo"][pt["policy"]]["rating"], i)
        ctx.metric("bradley_terry/ai", result["ai"]["bradley_terry"][pt["policy"]]["rating"], i)
        w = result["ai"]["win_rates"][rt.ALL][pt["policy"]]
        if w["rate"] is not None:
            ctx.metric("win_rate/ai", w["rate"], i)
        ctx.log(_line(pt, result["ai"], pt["policy"]))
    return result


def summarise(project: Project, run_id: int, policies: list[str], principles: list[str],
              answers: list[dict[str, Any]], resamples: int = 200, seed: int = 0) -> dict[str, Any]:
    """The ratings (AI and human) from the run's stored comparisons and the frontier from its answers."""
    rows = _run_rows(project, run_id)
    ai = games_of(rows, policies, principles, human=False)
    human = games_of(rows, policies, principles, human=True)
    return {"policy_labels": policies, "principles": principles, "matchups": len(rows),
            "label_quality": label_quality(rows),
            "n_prompts": {k: len({a["prompt_id"] for a in answers if a["kind"] == k}) for k in
                          sorted({a["kind"] for a in answers})},
            "ai": rt.ratings(ai, policies, seed=seed, resamples=resamples),
            "human": rt.ratings(human, policies, seed=seed, resamples=resamples),
            "frontier": frontier(answers, policies)}


def label_quality(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How decided the feedback model was: the mean distance of its labels from ½ and the mean
    amount the answer order moved them (position bias, removed by averaging both orders)."""
    labels = [r["label"] for r in rows if r.get("label") is not None]
    shifts = [r["order_shift"] for r in rows if r.get("order_shift") is not None]
    return {"n": len(labels), "mean_margin": sum(abs(x - 0.5) for x in labels) / len(labels) if labels else None,
            "mean_order_shift": sum(shifts) / len(shifts) if shifts else None}


def current_result(project: Project, run: dict[str, Any]) -> dict[str, Any]:
    """A finished compare run's result with the human ratings recomputed from the judgements made
    since (the AI side is as the run stored it)."""
    result = dict(run.get("result") or {})
    if run.get("kind") != KIND or not result.get("policy_labels"):
        return result
    rows = _run_rows(project, run["id"])
    human = games_of(rows, result["policy_labels"], result["principles"], human=True)
    result["label_quality"] = label_quality(rows)
    result["human"] = rt.ratings(human, result["policy_labels"], seed=0,
                                 resamples=int((run.get("config") or {}).get("resamples") or 200))
    return result


def _lineage(project: Project, pol: dict[str, Any]) -> dict[str, Any]:
    out = {"policy": pol["label"], "model": pol["model"], "adapter": pol["adapter"], "adapter_id": pol["adapter_id"]}
    if pol["adapter_id"] is not None:
        a = project.adapters.get(pol["adapter_id"])
        out["trained_by_run"] = a.get("run_id")
        lineage = a.get("lineage") or a.get("lineage_json") or {}
        if isinstance(lineage, str):
            try:
                lineage = json.loads(lineage)
            except ValueError:
                lineage = {}
        out["lineage"] = lineage
    return out


def _examples(answers: list[dict[str, Any]], policies: list[str], n: int) -> list[dict[str, Any]]:
    by_prompt: dict[int, dict[str, Any]] = {}
    for a in answers:
        e = by_prompt.setdefault(a["prompt_id"], {"kind": a["kind"], "prompt": a["prompt"], "answers": {},
                                                  "judged": {}})
        e["answers"][a["policy"]] = a["text"]
        e["judged"][a["policy"]] = a.get("judge")
    out = []
    for kind in sorted({e["kind"] for e in by_prompt.values()}, key=lambda k: k == BENIGN_KIND):
        out += [e for e in by_prompt.values() if e["kind"] == kind][:n]
    return out


def _pct(r: dict[str, Any]) -> str:
    if r.get("rate") is None:
        return "n/a"
    return f"{100 * r['rate']:.0f}% ({100 * r['low']:.0f}–{100 * r['high']:.0f}%, n={r['n']})"


def _line(pt: dict[str, Any], ai: dict[str, Any], pol: str) -> str:
    e, b = ai["elo"][pol], ai["bradley_terry"][pol]
    w = ai["win_rates"][rt.ALL][pol]
    return (f"{pol}: harm avoided {_pct(pt['harm_avoided'])}; helpful {_pct(pt['helpful'])}; "
            f"AI win rate {_pct(w)}; Elo {e['rating']:.0f} ({e['low']:.0f}–{e['high']:.0f}); "
            f"Bradley–Terry {b['rating']:.0f} ({b['low']:.0f}–{b['high']:.0f})")


def _summary(r: dict[str, Any]) -> list[str]:
    lines = [f"run {r['run_id']}: {r.get('matchups', 0)} matchups judged by the feedback model "
             f"({len(r.get('principles') or [])} principles, both orders averaged)"]
    for pt in r.get("frontier") or []:
        lines.append(_line(pt, r["ai"], pt["policy"]))
    if r.get("figures"):
        lines.append(f"frontier plot: {r['figures']['frontier']}")
    lines.append("people can judge the same pairs blind on the Comparisons page (filter by this run); "
                 f"then: cai-desktop report {r['run_id']} --out report.html")
    return lines


JOB = Job(
    kind=KIND, label="Head-to-head comparison", params=CompareParams, prepare=_prepare, body=_body,
    description="Policies (the base and adapters) answer held-out prompts; the feedback model judges every pair of "
                "answers under each comparison principle (both orders, soft labels). Win rates, Elo and "
                "Bradley–Terry scores, and the harmlessness-vs-helpfulness frontier, with intervals.",
    run_name=lambda p: "head-to-head comparison", summary=_summary,
    cli_help="compare policies head to head on held-out prompts: win rates, Elo, the harmless/helpful frontier",
)
