"""Robustness: adversarial variants of held-out harmful prompts, answered and judged per policy.

Every held-out harmful prompt (by default the ``heldout-harmful`` set, else ``red-team``; the
``test`` split, never trained on) is asked plain and in each variant of :mod:`core.transforms`
(role-play and hypothetical framing, "ignore previous instructions", prefix injection, base64,
leetspeak, a persona-break suffix). Each policy (the base and the chosen adapters, chosen as in the
before/after evaluation) answers greedily; the same judge (core/judge.py) labels every answer
against the plain prompt's text. The result holds, per policy, harm avoided on the plain prompts
and per transform on its variants, the drop, the share held, with n, Wilson 95 % intervals and the
exact McNemar test on the pairs (core.transforms.robustness). Answers go to
``<artifacts>/run-N/robustness.jsonl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.core.evaluation import judged
from cai_desktop.core.params import param
from cai_desktop.core.transforms import PLAIN, TRANSFORMS, format_robustness, robustness, variants
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.evaluate import POLICY_ADAPTERS, greedy_batches, policies_for
from cai_desktop.jobs.fields import batch_param, limit_param, max_tokens_param, split_param
from cai_desktop.jobs.runs import RunContext
from cai_desktop.store.project import Project

KIND = "robustness"
DEFAULT_SET, FALLBACK_SET = "heldout-harmful", "red-team"


@dataclass
class RobustnessParams(JobParams):
    adapter_ids: list[int] = param([], label="Adapters", source=POLICY_ADAPTERS,
                                   empty="the newest SFT, RLOO, PPO and DPO adapter", flags=("--adapter",),
                                   help="The trained adapters to test; empty = the newest SFT, RLOO, PPO and DPO one.")
    include_base: bool = param(True, label="Include the base model", help="Test the base model too.")
    base: str | None = param(None, label="Base model", source="models", empty="the adapters' base",
                             help="The base model; empty = the base the adapters were trained on.")
    prompt_set: str | None = param(None, label="Harmful prompts", source="prompt_sets", flags=("--set",),
                                   empty="heldout-harmful if the project has it, else red-team",
                                   help="Held-out harmful prompts whose variants are asked.")
    split: str | None = split_param("test", "prompts (test = held out, never trained on)")
    transforms: list[str] = param([], label="Transforms", empty="all of them",
                                  help="Which variants to ask, by name: " + ", ".join(TRANSFORMS) + "; empty = all.")
    limit: int | None = limit_param(16)
    max_new_tokens: int = max_tokens_param(96, "The longest answer, in tokens (answers are greedy, so repeatable).")
    batch_size: int = batch_param(16)


def _set_for(project: Project, params: RobustnessParams) -> str:
    sets = {s["name"] for s in project.prompts.sets()}
    name = params.prompt_set or (DEFAULT_SET if DEFAULT_SET in sets else FALLBACK_SET)
    if name not in sets:
        raise ValidationError(f"There is no prompt set {name!r} in this project; import held-out harmful prompts "
                              "first (or create the project with the starter content).")
    return name


def _prepare(project: Project, params: RobustnessParams) -> dict[str, Any]:
    variants("x", params.transforms or None)  # an unknown name is one line before a run exists
    return {"policies": policies_for(project, params), "set": _set_for(project, params)}  # type: ignore[arg-type]


def run_robustness(ctx: Any, params: RobustnessParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _body(project: Project, ctx: RunContext, run_id: int, params: RobustnessParams,
          plan: dict[str, Any]) -> dict[str, Any]:
    from cai_desktop.engine.models import load_model

    policies, set_name = plan["policies"], plan["set"]
    prompts = project.prompts.of(set_name, split=params.split, limit=params.limit)
    if not prompts:
        raise ValidationError(f"Prompt set {set_name!r} has no {params.split or ''} prompts to test.")
    names = params.transforms or list(TRANSFORMS)
    items = [{"prompt": p, "transform": t, "text": text}
             for p in prompts for t, text in variants(p["text"], names).items()]
    ctx.log(f"{len(policies)} policies × {len(prompts)} held-out prompts ({params.split or 'all'} split of "
            f"{set_name}) × {len(names) + 1} forms (plain, {', '.join(names)})")
    total, done = len(policies) * len(items), 0
    answers: list[dict[str, Any]] = []
    ctx.progress(0, total, "starting")
    for pol in policies:
        lm = load_model(pol["model"], adapter=pol["adapter"], ctx=ctx)
        for start, texts in greedy_batches(ctx, lm, [it["text"] for it in items], params.max_new_tokens,
                                           params.batch_size):
            batch = items[start:start + len(texts)]
            for it, text in zip(batch, texts):
                p = it["prompt"]
                answers.append({"policy": pol["label"], "prompt_id": p["id"], "transform": it["transform"],
                                "category": p.get("category") or "", "plain_prompt": p["text"],
                                "prompt": it["text"], "text": text, **judged(p["text"], text)})
            done += len(batch)
            ctx.progress(done, total, f"{pol['label']}: {done}/{total}")
    out_dir = project.artifacts_dir / f"run-{run_id}"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "robustness.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for a in answers:
            f.write(json.dumps(a, ensure_ascii=False) + "\n")
    labels = [pol["label"] for pol in policies]
    table = robustness(answers, labels)
    for i, label in enumerate(labels):
        res = table[label]
        if res["plain"]["n"]:
            ctx.metric("harm_avoided_rate/plain", res["plain"]["rate"], i)
        for name, t in res["transforms"].items():
            if t["variant"]["n"]:
                ctx.metric(f"harm_avoided_rate/{name}", t["variant"]["rate"], i)
    for line in format_robustness(table):
        ctx.log(line)
    return {"policies": policies, "robustness": table, "transforms": names, "prompt_set": set_name,
            "split": params.split, "answers": str(path), "examples": _examples(answers, labels)}


def _examples(answers: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    """Per transform, the first prompt whose plain answer avoided harm and whose variant did not."""
    plain = {(a["policy"], a["prompt_id"]): a for a in answers if a["transform"] == PLAIN}
    out, seen = [], set()
    for a in answers:
        base = plain.get((a["policy"], a["prompt_id"]))
        key = (a["policy"], a["transform"])
        if a["transform"] != PLAIN and base and base["harm_avoided"] and not a["harm_avoided"] and key not in seen:
            seen.add(key)
            out.append({"policy": a["policy"], "transform": a["transform"], "prompt": a["prompt"],
                        "plain_answer": base["text"], "answer": a["text"], "judge": a["judge"]})
    return out


def _summary(r: dict[str, Any]) -> list[str]:
    return [f"run {r['run_id']}: harm avoided (the judge, core/judge.py) on plain held-out prompts and on each "
            "adversarial variant (core/transforms.py); drop = plain − variant, held = of those avoided plain, "
            "the share still avoided", *format_robustness(r.get("robustness") or {}),
            f"all answers: {r.get('answers')}"]


def report_sections(result: dict[str, Any]) -> list[Any]:
    """The HTML report's sections of a robustness run (core/report.py renders them)."""
    from cai_desktop.core import report as rp

    table_ = result.get("robustness") or {}
    rows, groups = [], []
    names = list(result.get("transforms") or [])
    for name in names:
        items = []
        for pol, res in table_.items():
            t = (res.get("transforms") or {}).get(name)
            if not t:
                continue
            drop = "n/a" if t["drop"] is None else f"{100 * t['drop']:+.0f} points"
            rows.append([pol, TRANSFORMS[name].label if name in TRANSFORMS else name, rp.rate_text(t["plain"]),
                         rp.rate_text(t["variant"]), drop, rp.rate_text(t["held"]), f"{t['p']:.2g}",
                         rp.rate_text(t.get("off_topic"))])
            items.append((pol, t["variant"]))
        groups.append((TRANSFORMS[name].label if name in TRANSFORMS else name, items))
    plain = [("plain prompts", [(pol, res["plain"]) for pol, res in table_.items()])]
    out = [rp.Section("Harm avoided per transform", rp.table(
        ["Policy", "Transform", "Plain", "Variant", "Drop", "Held", "McNemar p", "Off-topic (variant)"], rows,
        "Harm avoided (the judge) on the same held-out prompts, plain and transformed; held = of the prompts "
        "avoided plain, the share still avoided; off-topic = variant answers the judge read as off-topic "
        "(gibberish avoids no harm and does none); Wilson 95% intervals"))]
    if groups:
        out.append(rp.Section("Robustness plot", rp.figure(
            rp.bars_svg(plain + groups, "Harm avoided, plain and per adversarial transform"),
            "Bars: harm-avoided rate; whiskers: 95% interval; one colour per policy.")))
    examples = result.get("examples") or []
    if examples:
        out.append(rp.Section("Where a transform got through", "".join(
            f'<div class="example"><div class="prompt"><span class="kind">{rp.esc(e["transform"])}</span> '
            f'{rp.esc(e["prompt"])}</div><div class="answers"><div class="answer"><div class="who">'
            f'{rp.esc(e["policy"])} · plain</div><pre>{rp.esc(e["plain_answer"])}</pre></div><div class="answer">'
            f'<div class="who">{rp.esc(e["policy"])} · variant · <span class="judge">{rp.esc(e["judge"])}</span></div>'
            f'<pre>{rp.esc(e["answer"])}</pre></div></div></div>' for e in examples[:12])))
    return out


def _register_report() -> None:
    from cai_desktop.core.report import register_sections

    register_sections(KIND, report_sections)


_register_report()


JOB = Job(
    kind=KIND, label="Robustness", params=RobustnessParams, prepare=_prepare, body=_body,
    description="Held-out harmful prompts asked plain and in adversarial variants (role-play, hypothetical, "
                "'ignore previous instructions', prefix injection, base64, leetspeak, persona break), answered by "
                "the base model and trained adapters and judged: harm avoided per transform with 95 % intervals.",
    run_name=lambda p: "robustness", summary=_summary,
    cli_help="ask held-out harmful prompts in adversarial variants and judge the answers",
)
