"""`cai-desktop run JOB PROJECT [options]`: one subcommand per declared job, generated from its
params fields (the same fields the window's "new run" dialog is generated from)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cai_desktop.core.errors import CaiError
from cai_desktop.core.params import ParamInfo, convert, infos
from cai_desktop.jobs.base import Job, run_job
from cai_desktop.jobs.context import ConsoleContext


def _type(info: ParamInfo) -> Any:
    """argparse ``type=``: text → the field's type, one clear line when it does not convert."""

    def conv(text: str) -> Any:
        if info.choices is not None and None in info.choices and info.empty is not None \
                and text.strip().lower() in (info.empty.lower(), "all", "none", "both", ""):
            return None
        try:
            return convert(info, text)
        except CaiError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    conv.__name__ = getattr(info.type, "__name__", "value")
    return conv


def _help(info: ParamInfo) -> str:
    text = info.help
    if info.choices is not None:
        text += " Choices: " + ", ".join(info.empty or "none" if c is None else str(c) for c in info.choices) + "."
    if info.default not in (None, [], "") or isinstance(info.default, bool):
        text += f" Default: {info.default}."
    elif info.empty:
        text += f" Default: {info.empty}."
    return text.replace("%", "%%")


def add_params_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One option per visible field of ``cls`` (plus ``--resume``), dest = the field name."""
    taken: set[str] = {"-h", "--help"}
    for info in infos(cls, include_hidden=True):
        if info.hidden and info.name != "resume_run":
            continue
        names = [f"--{info.name.replace('_', '-')}", *info.flags]
        names = [n for n in dict.fromkeys(names) if n not in taken]
        taken.update(names)
        kw: dict[str, Any] = {"dest": info.name, "default": info.default, "help": _help(info)}
        if info.type is bool and not info.optional:
            parser.add_argument(*names, action=argparse.BooleanOptionalAction, **kw)
            continue
        if info.is_list:
            item = "ID" if info.name.endswith("_ids") else info.name.upper().removesuffix("S")
            kw.update(nargs="+", type=str, metavar=item)
        else:
            kw.update(type=_type(info), metavar=info.name.upper() if info.choices is None else
                      "{" + ",".join(info.empty.split()[0] if c is None and info.empty else str(c)
                                     for c in info.choices) + "}")
        parser.add_argument(*names, **kw)


def params_from_args(cls: type, args: argparse.Namespace) -> Any:
    values: dict[str, Any] = {}
    for info in infos(cls, include_hidden=True):
        if not hasattr(args, info.name):
            continue
        value = getattr(args, info.name)
        if info.is_list and value is not None and value is not info.default:
            value = convert(info, ",".join(str(v) for v in value))
        values[info.name] = value
    return cls(**values)


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    from cai_desktop.jobs.registry import JOBS

    for job in JOBS.values():
        add_job_command(groups["run"], job)


def add_job_command(run: argparse._SubParsersAction, job: Job) -> argparse.ArgumentParser:
    p = run.add_parser(job.kind, help=job.cli_help or job.label, description=job.description.replace("%", "%%"))
    p.add_argument("project", help="the project file")
    add_params_arguments(p, job.params)
    p.set_defaults(func=lambda args, job=job: cmd_run(job, args))
    return p


def cmd_run(job: Job, args: argparse.Namespace) -> int:
    params = params_from_args(job.params, args)
    if params.resume_run is not None:
        print(f"resuming run {params.resume_run} with the settings it was started with", file=sys.stderr)
    ctx = ConsoleContext()
    with ctx.sigint_cancels():
        result = run_job(job, ctx, params)
    from cai_desktop.engine.distributed import is_main_process

    if not is_main_process():  # under accelerate launch the main process prints the summary
        return 0
    for line in (job.summary(result) if job.summary else [f"run {result['run_id']}: done"]):
        print(line)
    return 0
