"""Project and constitution commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from cai_desktop.core import formats
from cai_desktop.core.errors import ProjectError
from cai_desktop.store.project import Project


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    p = sub.add_parser("project", help="create or inspect a project file")
    psub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = psub.add_parser("init", help="create a new project file (.caiproj)")
    init.add_argument("path")
    init.add_argument("--starter", action="store_true", help="add the starter constitutions and prompt sets")
    init.set_defaults(func=cmd_project_init)
    info = psub.add_parser("info", help="summarise a project")
    info.add_argument("path")
    info.set_defaults(func=cmd_project_info)
    chk = psub.add_parser("check", help="run SQLite's full integrity check on a project file (changes nothing)")
    chk.add_argument("path")
    chk.set_defaults(func=cmd_project_check)

    c = sub.add_parser("constitution", help="import, export and list constitutions")
    csub = c.add_subparsers(dest="action", metavar="ACTION", required=True)
    fmt_help = "auto (default for import), native (JSON or YAML by extension), anthropic, hf"
    imp = csub.add_parser("import", help="import a constitution file into a project")
    imp.add_argument("project")
    imp.add_argument("file")
    imp.add_argument("--format", default="auto", choices=["auto", *formats.FORMATS], help=fmt_help)
    imp.add_argument("--name", help="store under this name instead of the file's")
    imp.set_defaults(func=cmd_constitution_import)
    exp = csub.add_parser("export", help="write a constitution to a file")
    exp.add_argument("project")
    exp.add_argument("name")
    exp.add_argument("file")
    exp.add_argument("--format", default="native", choices=["auto", *formats.FORMATS], help=fmt_help)
    exp.add_argument("--version", type=int, dest="cversion", help="an earlier version")
    exp.set_defaults(func=cmd_constitution_export)
    ls = csub.add_parser("list", help="list the constitutions of a project")
    ls.add_argument("project")
    ls.set_defaults(func=cmd_constitution_list)


def cmd_project_init(args: argparse.Namespace) -> int:
    path = Path(args.path)
    with Project.create(path) as project:
        if args.starter:
            from cai_desktop.jobs.sample import add_starter_content

            add_starter_content(project)
    print(f"created {path}")
    return 0


def cmd_project_info(args: argparse.Namespace) -> int:

    with Project.open(args.path) as project:
        print(f"project {project.path} (artifacts: {project.artifacts_dir})")
        for c in project.constitutions.list():
            print(f"  constitution {c['name']} v{c['version']}: {c['enabled']}/{c['principles']} principles enabled")
        for s in project.prompts.sets():
            print(f"  prompt set {s['name']} ({s['kind']}): {s['n']} prompts, {s['n_test']} test")
        for r in project.runs.list()[:10]:
            print(f"  run {r['id']} {r['kind']}: {r['status']}")
    return 0


def cmd_project_check(args: argparse.Namespace) -> int:
    """Read every page of the file (opening a project never does: it only checks the header)."""
    from cai_desktop.store.project import check_file

    state = check_file(args.path)
    pending = state["pending"]
    schema = (f"schema v{state['schema']}, up to date" if not pending else
              f"schema v{state['schema']}; opening it will back it up and upgrade it to "
              f"v{state['schema'] + len(pending)}")
    print(f"{args.path}: ok (integrity check passed; {schema})")
    return 0


def cmd_constitution_import(args: argparse.Namespace) -> int:
    # Parse and validate fully before the project is touched, so a bad file changes nothing.
    c = formats.load_file(args.file, args.format, name=args.name)
    with Project.open(args.project) as project:
        version = project.constitutions.save(c, note=f"imported from {Path(args.file).name}")
    print(f"imported {c.name} v{version}: {len(c.principles)} principles, {len(c.few_shot)} few-shot examples")
    return 0


def cmd_constitution_export(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        c = project.constitutions.get(args.name, args.cversion)
    out = Path(args.file)
    if not out.parent.exists():
        raise ProjectError(f"The folder {out.parent} does not exist.")
    formats.dump_file(c, out, args.format)
    print(f"wrote {c.name} v{c.version} to {out} ({args.format})")
    return 0


def cmd_constitution_list(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        rows = project.constitutions.list()
    if not rows:
        print("no constitutions; import one with `cai-desktop constitution import`")
    for r in rows:
        print(f"{r['name']}\tv{r['version']}\t{r['enabled']}/{r['principles']} principles\t{r['title']}")
    return 0
