"""Policy training commands of stage 2: `run ppo` and `run dpo`."""

from __future__ import annotations

import argparse

from cai_desktop.cli.args import run_ids_arg, split_arg
from cai_desktop.jobs.context import ConsoleContext


def _add_policy(p: argparse.ArgumentParser) -> None:
    p.add_argument("project")
    p.add_argument("--base", help="policy base model spec (default: the start adapter's base, else the embedded model)")
    p.add_argument("--adapter", type=int, dest="policy_adapter_id",
                   help="adapter id the policy starts from (normally the SL-CAI 'sft' adapter; default: the base)")
    p.add_argument("--lora-r", type=int, default=16, dest="lora_rank")
    p.add_argument("--lora-alpha", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", type=int, dest="resume_run", help="continue this run id from its last checkpoint")


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    run = groups["run"]

    p = run.add_parser("ppo", help="PPO of the policy against the preference model (RL-CAI)")
    _add_policy(p)
    p.add_argument("--reward", type=int, dest="reward_adapter_id", help="preference model adapter id (default: newest)")
    p.add_argument("--set", dest="prompt_set", default="red-team")
    p.add_argument("--split", choices=["train", "test", "all"], default="train")
    p.add_argument("--limit", type=int, help="at most this many prompts of the set")
    p.add_argument("--helpful-set", default="helpful")
    p.add_argument("--helpful-ratio", type=float, default=0.0, help="helpful prompts mixed in per red-team prompt")
    p.add_argument("--episodes", type=int, default=256, dest="total_episodes", help="prompts answered in total")
    p.add_argument("--kl-coef", type=float, default=0.05)
    p.add_argument("--cliprange", type=float, default=0.2)
    p.add_argument("--ppo-epochs", type=int, default=2, dest="num_ppo_epochs")
    p.add_argument("--mini-batches", type=int, default=1, dest="num_mini_batches")
    p.add_argument("--response-length", type=int, default=48)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--lr", type=float, default=3e-5, dest="learning_rate")
    p.add_argument("--lora-dropout", type=float, default=0.0)
    p.add_argument("--missing-eos-penalty", type=float, default=1.0,
                   help="subtracted from the reward of answers cut off before their end (negative: off)")
    p.add_argument("--sample-every", type=int, default=5, help="log sample rollouts every K steps (0: never)")
    p.add_argument("--save-every", type=int, default=10, help="checkpoint every K steps")
    p.add_argument("--kl-warn", type=float, default=10.0, help="warn when the KL passes this many nats")
    p.set_defaults(func=cmd_ppo)

    d = run.add_parser("dpo", help="DPO of the policy on the AI-labelled comparisons (lighter than PPO)")
    _add_policy(d)
    d.add_argument("--runs", type=run_ids_arg, default=[], dest="label_runs",
                   help="label run ids, comma separated (default: all comparisons)")
    d.add_argument("--min-margin", type=float, default=0.1, help="drop pairs with |label - 0.5| below this")
    d.add_argument("--split", choices=["train", "test", "all"], default="train")
    d.add_argument("--kind", choices=["harmless", "helpful"], help="only these comparisons (default: both)")
    d.add_argument("--beta", type=float, default=0.1)
    d.add_argument("--loss", choices=["sigmoid", "ipo", "hinge", "robust"], default="sigmoid", dest="loss_type")
    d.add_argument("--lr", type=float, default=5e-5, dest="learning_rate")
    d.add_argument("--epochs", type=float, default=1.0)
    d.add_argument("--max-steps", type=int, default=-1)
    d.add_argument("--max-length", type=int, default=512)
    d.add_argument("--lora-dropout", type=float, default=0.05)
    d.add_argument("--save-steps", type=int, default=20)
    d.set_defaults(func=cmd_dpo)


def _fields(args: argparse.Namespace, cls: type) -> dict:
    return {k: v for k, v in vars(args).items() if k in cls.__dataclass_fields__}


def cmd_ppo(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.ppo import PPOParams, run_ppo

    fields = _fields(args, PPOParams)
    fields["split"] = split_arg(args.split)
    if args.missing_eos_penalty is not None and args.missing_eos_penalty < 0:
        fields["missing_eos_penalty"] = None
    r = run_ppo(ConsoleContext(), PPOParams(**fields))
    print(f"run {r['run_id']}: {r['steps']} PPO steps, {r['episodes']} episodes")
    if r.get("reward_first") is not None:
        print(f"reward {r['reward_first']:+.3f} → {r['reward_last']:+.3f}; KL {r['kl_last']:.3f}; "
              f"{r['seconds_per_step'] or 0:.1f} s/step; peak memory {r['peak_rss_mb']:.0f} MiB")
    for w in r.get("warnings") or []:
        print(w)
    print(f"adapter {r['adapter_id']}: {r['adapter']}")
    return 0


def cmd_dpo(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.dpo import DPOParams, run_dpo

    fields = _fields(args, DPOParams)
    fields["split"] = split_arg(args.split)
    r = run_dpo(ConsoleContext(), DPOParams(**fields))
    loss = (f", loss {r['loss_first']:.3f} → {r['loss_last']:.3f}" if r.get("loss_first") is not None else "")
    print(f"run {r['run_id']}: {r['steps']} DPO steps on {r['pairs']} pairs{loss}")
    print(f"adapter {r['adapter_id']}: {r['adapter']}")
    return 0
