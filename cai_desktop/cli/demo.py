"""`cai-desktop demo PROJECT --size quick|standard|full`: the whole method end to end.

Stage 1 is the recipe of ``cai_desktop.jobs.recipe`` (the same plan the window's "Run the whole
method…" queues): critique → revision chains, helpful answers, teacher answers when the teacher is
a different model, LoRA SFT on all of it. Stage 2: response pairs from the SL-CAI policy → AI soft
labels → preference model → RLOO (the recommended RL-CAI; PPO as in the paper is its own job). Then the before/after evaluation on the held-out sets, ending
with its plain-language verdicts. The plan, with its time estimate, is printed first; ``--plan``
prints it and stops. Each step is the same job the window runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs.context import ConsoleContext

#: stage 2 per size: response pairs, preference-model steps, RLOO steps (2 prompts × 4 answers each)
STAGE2 = {
    "quick": dict(pairs=24, reward_steps=24, rl_steps=8),
    "standard": dict(pairs=64, reward_steps=80, rl_steps=32),
    "full": dict(pairs=160, reward_steps=200, rl_steps=128),
}


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    p = sub.add_parser("demo", help="create a sample project and run the whole method end to end")
    p.add_argument("project", help="project file to create (or continue)")
    p.add_argument("--size", choices=("quick", "standard", "full"), default="standard",
                   help="quick: minutes; standard: within ~45 min on a 2-core CPU by the estimate; full: every "
                        "prompt (hours on a CPU)")
    p.add_argument("--quick", dest="size", action="store_const", const="quick", help="the same as --size quick")
    p.add_argument("--model", default=None,
                   help="model spec, made the project's student (default: the embedded SmolLM2-135M)")
    p.add_argument("--stage", choices=["1", "2", "all"], default="all",
                   help="1: stage 1 and the evaluation; 2: only stage 2 (on a project whose stage 1 is done)")
    p.add_argument("--plan", action="store_true", help="print the plan and its time estimate, run nothing")
    p.set_defaults(func=cmd_demo)


def _sparkline(values: list[float]) -> str:
    if not values:
        return ""
    bars = "▁▂▃▄▅▆▇█"
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(bars[int((v - lo) / span * (len(bars) - 1))] for v in values)


def cmd_demo(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.base import run_job
    from cai_desktop.jobs.recipe import format_duration, plan
    from cai_desktop.jobs.registry import job
    from cai_desktop.jobs.sample import add_starter_content
    from cai_desktop.store.project import Project

    size = args.size
    path = Path(args.project)
    t0 = time.monotonic()
    with Project.create(path, exist_ok=True) as project:
        add_starter_content(project)
        if args.model and project.roles.get("student")["spec"] != args.model:
            project.roles.set("student", args.model, **{k: project.roles.get("student")[k] for k in ("device", "dtype")})
            print(f"student model: {args.model} (now the project's student)")
        adapters = project.adapters.list("sft")
        if args.stage == "2" and not adapters:
            raise ValidationError(f"{path} has no SL-CAI adapter yet: run the demo with --stage 1 (or all) first.")
        recipe = plan(project, size)
    stage1 = [s for s in recipe.steps if s.kind != "eval"] if args.stage != "2" else []
    evaluation_step = next((s for s in recipe.steps if s.kind == "eval"), None)
    s2 = STAGE2[size]

    print(f"== the plan ({size})")
    stage2_line = (f"Stage 2 (RL-CAI), after SFT and before the evaluation: {s2['pairs']} response pairs from the "
                   f"SL-CAI policy, AI soft labels, a preference model ({s2['reward_steps']} steps), RLOO "
                   f"({s2['rl_steps']} steps); not in the time estimate")
    if args.stage == "2":
        print(stage2_line)
        if evaluation_step is not None:
            print(f"then: {evaluation_step.line()} (~{format_duration(evaluation_step.seconds)})")
    else:
        print("\n".join(recipe.describe()))
        if args.stage == "all":
            print(f"+ {stage2_line}")
    shown = sum(s.seconds for s in stage1) + (evaluation_step.seconds if evaluation_step else 0)
    if args.plan:
        return 0

    ctx = ConsoleContext()
    summary: list[str] = []
    timings: dict[str, float] = {}

    def step(name: str, kind: str, params):
        print(f"\n== {name}")
        t = time.monotonic()
        result = run_job(job(kind), ctx, params)
        timings[name] = time.monotonic() - t
        return result

    # ---- Stage 1: the recipe -----------------------------------------------------------------
    if args.stage == "2":
        sft = {"adapter": adapters[0]["path"], "adapter_id": adapters[0]["id"]}
    else:
        results = [(s, step(s.title, s.kind, s.params)) for s in stage1]
        crit = next((r for s, r in results if s.kind == "critique" and s.params.revisions), None)
        helpful = next((r for s, r in results if s.kind == "critique" and not s.params.revisions), {})
        distill = next((r for s, r in results if s.kind == "distill"), None)
        sft = next(r for s, r in results if s.kind == "sft")
        with Project.open(path) as project:
            losses = [m["value"] for m in project.runs.metrics(sft["run_id"], "loss")]
            made = project.stats.chain_changes(crit["run_id"]) if crit else {"chains": 0, "changed": None}
        summary += [
            f"chains made: {made['chains']} red-team (+{helpful.get('chains', 0)} helpful answers); "
            f"revision changed the answer in {100 * (made['changed'] or 0):.0f}% of chains",
        ]
        if distill is not None:
            summary.append(f"teacher answers: {distill.get('pairs', 0)} (identical to the student's: "
                           f"{distill.get('identical', 0)})")
        summary += [
            f"SFT loss: {losses[0]:.3f} → {losses[-1]:.3f}  {_sparkline(losses)}" if losses else "SFT: no loss logged",
            f"SL-CAI adapter: {sft.get('adapter')}",
        ]

    # ---- Stage 2 ---------------------------------------------------------------------------------
    rl = None
    if args.stage in ("2", "all"):
        from cai_desktop.jobs.label import LabelParams
        from cai_desktop.jobs.pairs import PairsParams
        from cai_desktop.jobs.reward import RewardParams
        from cai_desktop.jobs.rloo import RLOOParams

        constitution = stage1[0].params.constitution if stage1 else "general"
        pairs = step("response pairs from the SL-CAI policy", "pairs",
                     PairsParams(project=str(path), prompt_set="red-team", model=args.model,
                                 adapter=sft.get("adapter"), limit=s2["pairs"]))
        label = step("AI feedback soft labels", "label",
                     LabelParams(project=str(path), constitution=constitution, source="pairs",
                                 run_ids=[pairs["run_id"]], model=args.model))
        reward = step("preference model", "reward",
                      RewardParams(project=str(path), base=args.model, label_runs=[label["run_id"]],
                                   max_steps=s2["reward_steps"]))
        rl = step("RLOO against the preference model", "rloo",
                  RLOOParams(project=str(path), base=args.model, policy_adapter_id=sft["adapter_id"],
                             max_steps=s2["rl_steps"]))
        with Project.open(path) as project:
            rewards = [m["value"] for m in project.runs.metrics(rl["run_id"], "reward")]
            kls = [m["value"] for m in project.runs.metrics(rl["run_id"], "kl")]
        summary += [
            f"response pairs: {pairs.get('pairs', '?')}; labelled comparisons: {label.get('comparisons', '?')}",
            "preference model held-out accuracy: "
            + (f"{reward['accuracy']:.2f} (on {reward.get('eval_scored', '?')} of {reward.get('eval_n', '?')} "
               "held-out pairs; ties left out)" if reward.get("accuracy") is not None
               else f"- (no decided pair among {reward.get('eval_n', 0)} held out)"),
            f"RLOO reward: {' '.join(f'{r:.2f}' for r in rewards)}  {_sparkline(rewards)}",
            f"RLOO KL: {' '.join(f'{k:.3f}' for k in kls)}",
            f"RL-CAI adapter: {rl.get('adapter')}",
        ]

    # ---- before/after on the held-out prompts ------------------------------------------------------
    if evaluation_step is None:
        print("\n== no held-out prompts in this project: no before/after evaluation")
    else:
        from cai_desktop.core.evaluation import format_eval

        params = evaluation_step.params
        # exactly the adapters this demo trained (the job's default would add any newest DPO adapter)
        params.adapter_ids = [sft["adapter_id"]] + ([rl["adapter_id"]] if rl and rl.get("adapter_id") else [])
        evaluation = step("before/after: held-out prompts, base vs trained adapters", "eval", params)
        for pol in evaluation["policies"]:
            r = pol["rates"]
            summary.append(f"refusal rate, {pol['label']}: " + ", ".join(
                f"{k} {100 * s['refusal_rate']:.0f}% of {s['n']}" for k, s in r.items()))
        summary.append(f"held-out answers side by side: {evaluation['answers']}")
        print("\n== before/after on held-out prompts (judge: cai_desktop/core/judge.py)")
        print(format_eval(evaluation))
        print("\n== verdicts")
        for line in evaluation.get("verdicts") or ["(no trained adapter to compare with the base)"]:
            print("  " + line)

    print("\n== summary")
    for line in summary:
        print("  " + line)
    print("  timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    print(f"  total: {time.monotonic() - t0:.0f}s (estimated ~{format_duration(shown)} for stage 1 and the "
          f"evaluation); project: {path}; artifacts: {path.with_name(path.stem + '_artifacts')}")
    print(f"  open it in the window: cai-desktop gui {path}")
    return 0
