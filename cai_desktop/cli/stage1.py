"""Stage 1 commands: prompt sets and data exports (the jobs themselves: ``cli.jobs``)."""

from __future__ import annotations

import argparse

from cai_desktop.cli.args import split_arg


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    p = sub.add_parser("prompts", help="import and list prompt sets")
    psub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = psub.add_parser("import", help="import prompts from JSONL, CSV, text, transcripts or a datasets folder")
    imp.add_argument("project")
    imp.add_argument("file")
    imp.add_argument("--set", required=True, dest="set_name", help="prompt set name (created if new)")
    imp.add_argument("--kind", required=True, choices=["red-team", "helpful", "other"])
    imp.add_argument("--column", help="column/field holding the prompt (default: prompt, text, question, ...)")
    imp.add_argument("--format", default="auto", choices=["auto", "jsonl", "csv", "txt", "transcripts", "hf-disk"])
    imp.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    imp.add_argument("--test-fraction", type=float, default=0.1)
    imp.set_defaults(func=cmd_prompts_import)
    ls = psub.add_parser("list", help="list prompt sets")
    ls.add_argument("project")
    ls.set_defaults(func=cmd_prompts_list)

    d = sub.add_parser("demos", help="import human demonstrations (the answers your reviewers want)")
    dsub = d.add_subparsers(dest="action", metavar="ACTION", required=True)
    di = dsub.add_parser("import", help='JSONL of {"prompt", "response"} (or {"messages": [...]})')
    di.add_argument("project")
    di.add_argument("file")
    di.add_argument("--set", dest="prompt_set", default="demonstrations", help="prompt set to add the prompts to")
    di.add_argument("--reviewer", default="", help="whose demonstrations these are")
    di.set_defaults(func=cmd_demos_import)

    s = groups["export"].add_parser("sft", help="SFT data as {'messages': [...]} JSONL")
    s.add_argument("project")
    s.add_argument("out")
    s.add_argument("--mode", choices=["final", "every"], default="final", help="final revision or every round")
    s.add_argument("--no-helpful", action="store_true", help="leave out helpful answers")
    s.add_argument("--split", choices=["train", "test", "all"], default="train")
    s.add_argument("--only-accepted", action="store_true")
    s.set_defaults(func=cmd_export_sft)
    pr = groups["export"].add_parser("prefs", help="preferences as {'prompt','chosen','rejected'} JSONL")
    pr.add_argument("project")
    pr.add_argument("out")
    pr.add_argument("--source", choices=["chains", "labels"], default="chains",
                    help="chains: revision over original; labels: AI-labelled response pairs")
    pr.add_argument("--split", choices=["train", "test", "all"], default="train")
    pr.add_argument("--only-accepted", action="store_true")
    pr.set_defaults(func=cmd_export_prefs)



def cmd_prompts_import(args: argparse.Namespace) -> int:
    from cai_desktop.core.prompt_files import read_prompts
    from cai_desktop.store.project import Project

    rows = read_prompts(args.file, args.format, args.column)
    with Project.open(args.project) as project:
        r = project.prompts.add_set(args.set_name, args.kind, rows, source=str(args.file), seed=args.seed,
                           test_fraction=args.test_fraction)
    print(f"prompt set {args.set_name}: added {r['added']}, skipped {r['skipped']} (duplicates or empty)")
    return 0


def cmd_prompts_list(args: argparse.Namespace) -> int:
    from cai_desktop.store.project import Project

    with Project.open(args.project) as project:
        for s in project.prompts.sets():
            print(f"{s['name']}\t{s['kind']}\t{s['n']} prompts\t{s['n_test']} test")
    return 0


def cmd_demos_import(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.demos import import_demonstrations

    r = import_demonstrations(args.project, args.file, prompt_set=args.prompt_set, reviewer=args.reviewer)
    print(f"run {r['run_id']}: {r['demonstrations']} demonstrations in prompt set {r['prompt_set']}")
    return 0


def cmd_export_sft(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.exports import export_sft

    n = export_sft(args.project, args.out, mode=args.mode, include_helpful=not args.no_helpful,
                   split=split_arg(args.split), only_accepted=args.only_accepted)
    print(f"wrote {n} SFT records to {args.out}")
    return 0


def cmd_export_prefs(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.exports import export_prefs

    n = export_prefs(args.project, args.out, split=split_arg(args.split), only_accepted=args.only_accepted,
                     source=args.source)
    print(f"wrote {n} preference records to {args.out}")
    return 0
