"""`run eval`: held-out prompts answered before and after training, with refusal rates."""

from __future__ import annotations

import argparse

from cai_desktop.cli.args import split_arg
from cai_desktop.core.evaluation import format_eval
from cai_desktop.jobs.context import ConsoleContext


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    p = groups["run"].add_parser(
        "eval", help="answer held-out red-team and helpful prompts with the base and trained adapters")
    p.add_argument("project")
    p.add_argument("--adapter", type=int, action="append", default=[], dest="adapter_ids",
                   help="adapter id to evaluate (repeat; default: the newest sft, ppo and dpo adapter)")
    p.add_argument("--no-base", action="store_false", dest="include_base", help="leave out the base model")
    p.add_argument("--base", help="the 'before' model spec (default: the adapters' base)")
    p.add_argument("--red-team-set", default="red-team")
    p.add_argument("--helpful-set", default="helpful")
    p.add_argument("--split", choices=["train", "test", "all"], default="test")
    p.add_argument("--limit", type=int, default=16, help="prompts per set (default 16)")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=16)
    p.set_defaults(func=cmd_eval)


def print_eval(result: dict) -> None:
    print(format_eval(result))


def cmd_eval(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.evaluate import EvalParams, run_eval

    fields = {k: v for k, v in vars(args).items() if k in EvalParams.__dataclass_fields__}
    fields["split"] = split_arg(args.split)
    r = run_eval(ConsoleContext(), EvalParams(**fields))
    print(f"run {r['run_id']}: refusal rate = share of answers whose first 300 characters decline "
          "(phrase list in cai_desktop/core/evaluation.py)")
    print_eval(r)
    return 0
