"""Adapter commands: list and merge (training itself is `run sft`, ``cli.jobs``)."""

from __future__ import annotations

import argparse
import json

from cai_desktop.jobs.context import ConsoleContext


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
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
    e = asub.add_parser("export", help="export an adapter merged into its base: GGUF files for llama.cpp "
                                       "and Ollama, with a Modelfile")
    e.add_argument("project")
    e.add_argument("adapter_id", type=int)
    e.add_argument("out_dir", help="a new (or empty) folder for the files")
    e.add_argument("--format", choices=["gguf"], default="gguf", help="the file format (gguf)")
    e.add_argument("--types", default="f16,q8_0",
                   help="comma-separated GGUF types to write: f16, q8_0 (default: both)")
    e.set_defaults(func=cmd_adapter_export)


def cmd_adapter_list(args: argparse.Namespace) -> int:
    from cai_desktop.store.project import Project

    with Project.open(args.project) as project:
        adapters = project.adapters.list()
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


def cmd_adapter_export(args: argparse.Namespace) -> int:
    from cai_desktop.jobs.gguf_export import GgufExportParams, run_gguf_export

    types = tuple(t.strip() for t in args.types.split(",") if t.strip())
    params = GgufExportParams(args.project, args.adapter_id, args.out_dir, types)
    r = run_gguf_export(ConsoleContext(), params)
    for kind, path in r["files"].items():
        print(f"{kind}: {path}")
    print(f"Modelfile: {r['modelfile']} (ollama create NAME -f Modelfile in that folder; "
          f"llama.cpp: llama-cli -m FILE)")
    return 0
