"""Stage 2 data commands: response pairs, AI feedback labels, the preference model."""

from __future__ import annotations

import argparse

from cai_desktop.cli.args import run_ids_arg, split_arg
from cai_desktop.jobs.context import ConsoleContext


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    run = groups["run"]

    p = run.add_parser("pairs", help="sample two answers per prompt from a policy (stage 2 data)")
    p.add_argument("project")
    p.add_argument("--set", dest="prompt_set", default="red-team")
    p.add_argument("--model", help="policy model spec (default: the embedded model)")
    p.add_argument("--adapter", help="LoRA adapter folder on the policy (e.g. the SL-CAI adapter)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--limit", type=int, help="at most this many prompts")
    p.add_argument("--split", choices=["train", "test", "all"], default="train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--resume", type=int, dest="resume_run", help="continue this run id")
    p.set_defaults(func=cmd_pairs)

    lab = run.add_parser("label", help="AI feedback: soft labels for response pairs or stage-1 chains")
    lab.add_argument("project")
    lab.add_argument("--source", choices=["pairs", "chains"], default="pairs",
                     help="pairs: response pairs; chains: original answer vs final revision")
    lab.add_argument("--runs", type=run_ids_arg, default=[], help="source run ids, comma separated (default: every run)")
    lab.add_argument("--constitution", default="general", help="constitution whose comparison principles are drawn")
    lab.add_argument("--model", help="feedback model spec (default: the embedded model)")
    lab.add_argument("--adapter", help="LoRA adapter folder on the feedback model")
    lab.add_argument("--one-order", action="store_true", help="ask only in the stored order (no swap averaging)")
    lab.add_argument("--mode", choices=["direct", "cot"], default="direct", help="cot: reason first, then answer")
    lab.add_argument("--clamp", choices=["none", "20-80", "40-60"], help="default: 40-60 for cot, none for direct")
    lab.add_argument("--few-shot", type=int, default=2, help="labelled example comparisons shown first (0-3)")
    lab.add_argument("--seed", type=int, default=0)
    lab.add_argument("--limit", type=int)
    lab.add_argument("--split", choices=["train", "test", "all"], default="all")
    lab.add_argument("--batch-size", type=int, default=8)
    lab.add_argument("--max-reasoning-tokens", type=int, default=96)
    lab.add_argument("--resume", type=int, dest="resume_run")
    lab.set_defaults(func=cmd_label)

    r = run.add_parser("reward", help="train the preference model on labelled comparisons")
    r.add_argument("project")
    r.add_argument("--base", help="base model spec (default: the embedded model)")
    r.add_argument("--runs", type=run_ids_arg, default=[], help="label run ids, comma separated (default: all comparisons)")
    r.add_argument("--helpful-mix", type=float, help="helpful comparisons per harmless one (default: all there are)")
    r.add_argument("--hard-labels", action="store_true", help="train on 0/1 labels instead of soft ones")
    r.add_argument("--min-margin", type=float, default=0.0, help="drop comparisons with |label - 0.5| below this")
    r.add_argument("--eval-fraction", type=float, default=0.2, help="held-out share if the test split has none")
    r.add_argument("--lr", type=float, default=1e-4, dest="learning_rate")
    r.add_argument("--epochs", type=float, default=1.0)
    r.add_argument("--max-steps", type=int, default=-1)
    r.add_argument("--batch-size", type=int, default=4)
    r.add_argument("--grad-accum", type=int, default=1)
    r.add_argument("--max-length", type=int, default=512)
    r.add_argument("--lora-r", type=int, default=8)
    r.add_argument("--lora-alpha", type=int, default=16)
    r.add_argument("--lora-dropout", type=float, default=0.0)
    r.add_argument("--lora-layers", type=int, help="LoRA on the top N layers only (faster on a CPU)")
    r.add_argument("--save-steps", type=int, default=50)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    r.add_argument("--resume", type=int, dest="resume_run")
    r.set_defaults(func=cmd_reward)


def cmd_pairs(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.pairs import PairsParams, run_pairs

    params = PairsParams(
        project=args.project, prompt_set=args.prompt_set, model=args.model, adapter=args.adapter,
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, limit=args.limit,
        split=split_arg(args.split), seed=args.seed, batch_size=args.batch_size, resume_run=args.resume_run,
    )
    r = run_pairs(ConsoleContext(), params)
    print(f"run {r['run_id']}: {r['pairs']} new response pairs, {r['skipped']} already there")
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.label import LabelParams, run_label

    params = LabelParams(
        project=args.project, source=args.source, run_ids=args.runs, constitution=args.constitution,
        model=args.model, adapter=args.adapter, both_orders=not args.one_order, mode=args.mode, clamp=args.clamp,
        few_shot=args.few_shot, seed=args.seed, limit=args.limit, split=split_arg(args.split),
        batch_size=args.batch_size, max_reasoning_tokens=args.max_reasoning_tokens, resume_run=args.resume_run,
    )
    r = run_label(ConsoleContext(), params)
    print(f"run {r['run_id']}: {r['labelled']} new comparisons, {r['skipped']} already there "
          f"(mode {r.get('mode', params.mode)}, clamp {r.get('clamp', params.effective_clamp)})")
    if r.get("mean_order_shift") is not None:
        print(f"mean order shift (position bias): {100 * r['mean_order_shift']:.1f} points")
    return 0


def cmd_reward(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.reward import RewardParams, run_reward

    params = RewardParams(
        project=args.project, base=args.base, label_runs=args.runs, helpful_mix=args.helpful_mix,
        hard_labels=args.hard_labels, min_margin=args.min_margin, eval_fraction=args.eval_fraction,
        learning_rate=args.learning_rate, epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
        grad_accum=args.grad_accum, max_length=args.max_length, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout, lora_layers=args.lora_layers, save_steps=args.save_steps, seed=args.seed, device=args.device,
        resume_run=args.resume_run,
    )
    r = run_reward(ConsoleContext(), params)
    acc = r.get("heldout_accuracy")
    print(f"run {r['run_id']}: preference model at {r['model_dir']} ({r['steps']} steps, "
          f"{r['n_train']} train / {r['n_eval']} held-out comparisons)")
    print("held-out accuracy: " + (f"{100 * acc:.1f}%" if acc is not None else "n/a (no held-out comparisons)"))
    if r.get("heldout_ece") is not None:
        print(f"calibration error (ECE): {r['heldout_ece']:.3f}")
        for b in r["calibration"]:
            if b["n"]:
                print(f"  predicted {b['lo']:.1f}-{b['hi']:.1f}: mean prediction {b['mean_pred']:.2f}, "
                      f"mean label {b['mean_label']:.2f} (n={b['n']})")
    return 0
