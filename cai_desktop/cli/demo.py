"""`cai-desktop demo PROJECT --quick`: the whole method end to end on the embedded model.

Stage 1: starter constitution and prompt sets → critique/revision chains → LoRA SFT.
Stage 2: response pairs from the SL-CAI policy → AI soft labels → preference model → PPO.
Each step is the same job the window runs; the summary says where everything is.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs.context import ConsoleContext

QUICK = dict(red_team=12, helpful=8, revisions=2, sft_steps=24, pairs=24, reward_steps=24, ppo_episodes=32,
             max_new_tokens=128, critique_max_new_tokens=96, eval_limit=8)
FULL = dict(red_team=120, helpful=80, revisions=4, sft_steps=300, pairs=160, reward_steps=200, ppo_episodes=512,
            max_new_tokens=200, critique_max_new_tokens=160, eval_limit=40)


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    p = sub.add_parser("demo", help="create a sample project and run stage 1 and stage 2 end to end")
    p.add_argument("project", help="project file to create (or continue)")
    p.add_argument("--quick", action="store_true", help="a size that finishes in minutes on a CPU")
    p.add_argument("--model", default=None, help="model spec (default: the embedded SmolLM2-135M)")
    p.add_argument("--stage", choices=["1", "2", "all"], default="all",
                   help="2: only stage 2, on a project whose stage 1 is done")
    p.set_defaults(func=cmd_demo)


def _sparkline(values: list[float]) -> str:
    if not values:
        return ""
    bars = "▁▂▃▄▅▆▇█"
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(bars[int((v - lo) / span * (len(bars) - 1))] for v in values)


def cmd_demo(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.sample import add_starter_content
    from cai_desktop.store.project import Project

    size = QUICK if args.quick else FULL
    path = Path(args.project)
    t0 = time.monotonic()
    with Project.create(path, exist_ok=True) as project:
        add_starter_content(project)
    ctx = ConsoleContext()
    summary: list[str] = []
    timings: dict[str, float] = {}

    def step(name: str, fn, params):
        print(f"\n== {name}")
        t = time.monotonic()
        result = fn(ctx, params)
        timings[fn.__name__.removeprefix("run_") + ("-helpful" if name.startswith("helpful") else "")] = (
            time.monotonic() - t)
        return result

    # ---- Stage 1 -------------------------------------------------------------------------------
    from cai_desktop.jobs.critique import CritiqueParams, run_critique
    from cai_desktop.jobs.sft import SFTParams, run_sft

    sampling = dict(model=args.model, split="train", max_new_tokens=size["max_new_tokens"],
                    critique_max_new_tokens=size["critique_max_new_tokens"])
    if args.stage == "2":
        with Project.open(path) as project:
            adapters = project.adapters.list("sft")
        if not adapters:
            raise ValidationError(f"{path} has no SL-CAI adapter yet: run the demo with --stage 1 (or all) first.")
        sft = {"adapter": adapters[0]["path"]}
    else:
        crit = step(
            "critique → revision chains (red-team)",
            run_critique,
            CritiqueParams(project=str(path), constitution="general", prompt_set="red-team",
                           revisions=size["revisions"], limit=size["red_team"], **sampling),
        )
        helpful = step(
            "helpful answers (helpful set, no revisions)",
            run_critique,
            CritiqueParams(project=str(path), constitution="general", prompt_set="helpful",
                           revisions=0, limit=size["helpful"], **sampling),
        )
        sft = step(
            "LoRA SFT on the revisions",
            run_sft,
            SFTParams(project=str(path), base=args.model, max_steps=size["sft_steps"]),
        )
        with Project.open(path) as project:
            losses = [m["value"] for m in project.runs.metrics(sft["run_id"], "loss")]
            made = project.stats.chain_changes(crit["run_id"])
        n_chains, changed = made["chains"], made["changed"]
        summary += [
            f"chains made: {n_chains} red-team (+{helpful.get('chains', 0)} helpful answers); "
            f"revision changed the answer in {100 * (changed or 0):.0f}% of chains",
            f"SFT loss: {losses[0]:.3f} → {losses[-1]:.3f}  {_sparkline(losses)}" if losses else "SFT: no loss logged",
            f"SL-CAI adapter: {sft.get('adapter')}",
        ]

    if args.stage in ("2", "all"):
        from cai_desktop.jobs.label import LabelParams, run_label
        from cai_desktop.jobs.pairs import PairsParams, run_pairs
        from cai_desktop.jobs.ppo import PPOParams, run_ppo
        from cai_desktop.jobs.reward import RewardParams, run_reward

        with Project.open(path) as project:
            sft_adapter_id = project.adapters.list("sft")[0]["id"]
        pairs = step(
            "response pairs from the SL-CAI policy",
            run_pairs,
            PairsParams(project=str(path), prompt_set="red-team", model=args.model,
                        adapter=sft.get("adapter"), limit=size["pairs"]),
        )
        label = step(
            "AI feedback soft labels",
            run_label,
            LabelParams(project=str(path), constitution="general", source="pairs", run_ids=[pairs["run_id"]], model=args.model),
        )
        reward = step(
            "preference model",
            run_reward,
            RewardParams(project=str(path), base=args.model, label_runs=[label["run_id"]],
                         max_steps=size["reward_steps"]),
        )
        ppo = step(
            "PPO against the preference model",
            run_ppo,
            PPOParams(project=str(path), base=args.model, policy_adapter_id=sft_adapter_id,
                      total_episodes=size["ppo_episodes"]),
        )
        with Project.open(path) as project:
            rewards = [m["value"] for m in project.runs.metrics(ppo["run_id"], "reward")]
            kls = [m["value"] for m in project.runs.metrics(ppo["run_id"], "kl")]
        summary += [
            f"response pairs: {pairs.get('pairs', '?')}; labelled comparisons: {label.get('comparisons', '?')}",
            "preference model held-out accuracy: "
            + (f"{reward['accuracy']:.2f} (on {reward.get('eval_scored', '?')} of {reward.get('eval_n', '?')} "
               "held-out pairs; ties left out)" if reward.get("accuracy") is not None
               else f"- (no decided pair among {reward.get('eval_n', 0)} held out)"),
            f"PPO reward: {' '.join(f'{r:.2f}' for r in rewards)}  {_sparkline(rewards)}",
            f"PPO KL: {' '.join(f'{k:.3f}' for k in kls)}",
            f"RL-CAI adapter: {ppo.get('adapter')}",
        ]

    from cai_desktop.jobs.evaluate import EvalParams, run_eval

    evaluation = step(
        "before/after: held-out test prompts, base vs trained adapters",
        run_eval,
        EvalParams(project=str(path), base=args.model, limit=size["eval_limit"], examples=2),
    )
    for pol in evaluation["policies"]:
        r = pol["rates"]
        summary.append(f"refusal rate, {pol['label']}: " + ", ".join(
            f"{k} {100 * s['refusal_rate']:.0f}% of {s['n']}" for k, s in r.items()))
    summary.append(f"held-out answers side by side: {evaluation['answers']}")
    from cai_desktop.core.evaluation import format_eval

    print("\n== before/after on held-out prompts (refusal rate: see cai_desktop/core/evaluation.py)")
    print(format_eval(evaluation))

    print("\n== summary")
    for line in summary:
        print("  " + line)
    print("  timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    print(f"  total: {time.monotonic() - t0:.0f}s; project: {path}; artifacts: {path.with_name(path.stem + '_artifacts')}")
    print(f"  open it in the window: cai-desktop gui {path}")
    return 0
