"""Training commands: `run sft`, and adapter listing and merging."""

from __future__ import annotations

import argparse
import json
import sys

from cai_desktop.jobs.context import ConsoleContext


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    s = groups["run"].add_parser("sft", help="LoRA SFT on the revisions (stage 1)")
    s.add_argument("project")
    s.add_argument("--base", help="base model spec (default: the embedded model)")
    s.add_argument("--data", choices=["final", "every"], default="final", dest="data_mode")
    s.add_argument("--no-helpful", action="store_true", help="leave out helpful answers")
    s.add_argument("--helpful-ratio", type=float, help="helpful examples per revision example (default: all)")
    s.add_argument("--only-accepted", action="store_true", help="only reviewed and accepted/edited chains")
    s.add_argument("--keep-flawed", action="store_false", dest="skip_flawed",
                   help="also train on revisions that talk about the answer or repeat the critique")
    s.add_argument("--runs", type=int, nargs="*", dest="run_ids", help="only chains of these critique runs")
    s.add_argument("--rank", type=int, default=16, help="LoRA rank (default 16)")
    s.add_argument("--alpha", type=int, default=32, help="LoRA alpha (default 32)")
    s.add_argument("--dropout", type=float, default=0.05, help="LoRA dropout (default 0.05)")
    s.add_argument("--target-modules", default="all-linear",
                   help="all-linear (default) or comma-separated names, e.g. q_proj,v_proj")
    s.add_argument("--lr", type=float, default=2e-4, dest="learning_rate", help="learning rate (default 2e-4)")
    s.add_argument("--epochs", type=float, default=1.0, help="passes over the data (default 1)")
    s.add_argument("--max-steps", type=int, default=-1, help="stop after N optimiser steps (overrides --epochs)")
    s.add_argument("--batch-size", type=int, default=4, help="examples per step (default 4)")
    s.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps (default 1)")
    s.add_argument("--max-length", type=int, default=512, help="longest example in tokens (default 512)")
    s.add_argument("--save-steps", type=int, default=20, help="checkpoint every K steps (default 20)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--resume", type=int, dest="resume_run", help="continue this run from its last checkpoint")
    s.set_defaults(func=cmd_run_sft)

    a = sub.add_parser("adapter", help="list or merge adapters")
    asub = a.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = asub.add_parser("list")
    ls.add_argument("project")
    ls.set_defaults(func=cmd_adapter_list)
    m = asub.add_parser("merge", help="merge an adapter into its base model: a full model folder")
    m.add_argument("project")
    m.add_argument("adapter_id", type=int)
    m.add_argument("out_dir")
    m.set_defaults(func=cmd_adapter_merge)


def cmd_run_sft(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.sft import SFTParams, run_sft

    fields = {k: v for k, v in vars(args).items() if k in SFTParams.__dataclass_fields__}
    fields["include_helpful"] = not args.no_helpful
    if args.resume_run is not None:
        print(f"resuming run {args.resume_run} with the settings it was started with", file=sys.stderr)
    r = run_sft(ConsoleContext(), SFTParams(**fields))
    print(f"run {r['run_id']}: {r['steps']} steps on {r['examples']} examples "
          f"({r.get('helpful_examples') or 0} helpful)")
    if r.get("loss_first") is not None:
        print(f"loss: first {r['loss_first']:.4f}, last {r['loss_last']:.4f}")
    if r.get("seconds_per_step"):
        print(f"speed: {r['seconds_per_step']:.2f} s/step")
    print(f"adapter {r['adapter_id']}: {r['adapter']}")
    return 0


def cmd_adapter_list(args: argparse.Namespace) -> int:
    from cai_desktop.store.project import Project

    with Project.open(args.project) as project:
        adapters = project.list_adapters()
    if not adapters:
        print("no adapters yet: train one with `cai-desktop run sft PROJECT`")
        return 0
    print("id\tkind\tname\tbase\texamples\tfinal loss\tpath")
    for a in adapters:
        lineage = json.loads(a["lineage_json"] or "{}")
        loss = lineage.get("final_loss")
        examples = (lineage.get("data") or {}).get("examples", "")
        print(f"{a['id']}\t{a['kind']}\t{a['name']}\t{a['base_model_spec']}\t{examples}\t"
              f"{'' if loss is None else f'{loss:.4f}'}\t{a['path']}")
    return 0


def cmd_adapter_merge(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.sft import run_merge

    r = run_merge(ConsoleContext(), args.project, args.adapter_id, args.out_dir)
    print(f"merged model: {r['model']} (model {r['model_id']}; use it with --model {r['model']})")
    return 0
