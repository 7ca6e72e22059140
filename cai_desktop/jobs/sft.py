"""The LoRA SFT job: revisions (+ helpful answers) → an SL-CAI adapter with its lineage.

The selected training records are written to ``run-N/data.jsonl`` when the run starts, so a
resumed run trains on exactly the same data (new chains made in between do not shift it) and
the data behind an adapter can always be looked at again. Resuming a run uses the settings it
was started with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.core.params import param
from cai_desktop.core.settings import SFTSettings
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.fields import model_param
from cai_desktop.jobs.mixing import (
    describe_counts,
    human_weight_param,
    review_lineage,
    source_counts,
    weight_human,
)
from cai_desktop.jobs.runs import RunContext, execute
from cai_desktop.store.project import Project

KIND = "sft"
MERGE_KIND = "merge"


@dataclass
class SFTParams(JobParams, SFTSettings):
    base: str | None = model_param("Base", flags=("--base",))
    data_mode: str = param("final", label="Train on", choices=("final", "every"), flags=("--data",),
                           help="final: each chain's last (sound) revision; every: every revision of each chain.")
    include_helpful: bool = param(True, label="Mix in helpful answers",
                                  help="Mix in answers to helpful prompts so the model stays helpful (as in the paper).")
    helpful_ratio: float | None = param(None, label="Helpful per revision", range=(0.0, 100.0), empty="all there are",
                                        help="Helpful examples per revision example (0.5 = one per two); empty = all "
                                             "there are.")
    only_accepted: bool = param(False, label="Only reviewed chains",
                                help="Use only chains a reviewer accepted or edited.")
    skip_flawed: bool = param(True, label="Leave out flawed revisions",
                              help="Leave out model revisions that talk about the answer ('The response…') or repeat "
                                   "the critique; a chain then uses its latest sound revision. Human edits always "
                                   "count.")
    include_distilled: bool = param(True, label="Add teacher answers",
                                    help="Also train on the teacher's constitution-conditioned answers (context "
                                         "distillation runs), when the project has any.")
    human_weight: float = human_weight_param()
    run_ids: list[int] = param([], label="Critique runs", source="runs:critique", empty="all", flags=("--runs",),
                               help="Only chains of these critique runs; empty = all of them.")


def student_device(project: Project, setting: str | None = None) -> dict[str, Any]:
    """Where a training job trains: ``setting`` (a job's own device setting) or the student role's
    device, checked before anything loads (one line when this machine lacks it). ``{"requested":
    "cpu" | "cuda" | "cuda:N" | "mps" | "auto", "device": what the engine takes (None: automatic)}``;
    the adapter's lineage records it with the device the trainer ran on."""
    from cai_desktop.engine.sft import training_device

    requested = setting or project.roles.get("student")["device"] or "auto"
    return {"requested": requested,
            "device": training_device(requested, "this job" if setting else "the student role")}


def device_lineage(chosen: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    return {"student_role": chosen["requested"], "trained_on": result.get("device")}


def _prepare(project: Project, params: SFTParams) -> dict[str, Any]:
    return {"device": student_device(project)}


def run_sft(ctx: Any, params: SFTParams) -> dict[str, Any]:
    """Train (or continue) a LoRA SFT adapter; returns losses, steps, adapter."""
    return run_job(JOB, ctx, params)


def _select(project: Project, params: SFTParams, ctx: Any = None) -> tuple[list[dict[str, Any]], int]:
    stats: dict[str, int] = {}
    records = project.chains.sft_records(mode=params.data_mode, include_helpful=params.include_helpful,
                          helpful_ratio=params.helpful_ratio, only_accepted=params.only_accepted,
                          run_ids=params.run_ids, seed=params.seed, skip_flawed=params.skip_flawed, stats=stats)
    harmless = project.chains.sft_records(mode=params.data_mode, include_helpful=False,
                           only_accepted=params.only_accepted, run_ids=params.run_ids, skip_flawed=params.skip_flawed)
    if ctx is not None and params.skip_flawed and (stats["flawed_skipped"] or stats["fell_back"]):
        what = "revisions" if params.data_mode == "every" else "chains (no sound revision)"
        ctx.log(f"left out {stats['flawed_skipped']} {what} that talk about the answer or repeat the critique; "
                f"{stats['fell_back']} chains use an earlier, sound revision")
    if params.include_distilled:
        records += [{"messages": [{"role": "user", "content": p["prompt"]}, {"role": "assistant", "content": p["chosen"]}],
                     "source": "distilled"}
                    for p in project.comparisons.preference_pairs(split="train", sources=("distill",), use_human=False)]
    return records, len(records) - len(harmless)


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _chain_lineage(project: Project, params: SFTParams) -> dict[str, Any]:
    """Constitution versions and critique runs of the red-team chains the data came from."""
    return project.chains.lineage(split="train", only_accepted=params.only_accepted, run_ids=params.run_ids or None)


def _body(project: Project, ctx: RunContext, run_id: int, params: SFTParams, plan: dict[str, Any]) -> dict[str, Any]:
    from cai_desktop.engine.distributed import share
    from cai_desktop.engine.models import resolve_spec
    from cai_desktop.engine.sft import train_sft

    # under ``accelerate launch`` only the main process writes (data file, model row, adapter row);
    # the others train on the records it shares
    main = getattr(ctx, "main_process", True)
    out = project.artifacts_dir / f"run-{run_id}"
    out.mkdir(parents=True, exist_ok=True)
    data_file = out / "data.jsonl"
    counts_file = out / "data_counts.json"
    records: list[dict[str, Any]] = []
    n_helpful: int | None = None
    if not main:
        pass
    elif params.resume_run is not None and data_file.exists():
        records = _read_jsonl(data_file)
        n_helpful = json.loads(counts_file.read_text())["helpful"] if counts_file.exists() else None
        ctx.log(f"resuming run {run_id} on its saved data ({len(records)} examples)")
    else:
        records, n_helpful = _select(project, params, ctx)
        before = source_counts(records)
        records = weight_human(records, params.human_weight, params.seed)
        if not records:
            raise ValidationError("No training data: generate chains or teacher answers first (or relax the data "
                                  "selection).")
        _write_jsonl(data_file, records)
        counts_file.write_text(json.dumps({"examples": len(records), "helpful": n_helpful, "sources": before,
                                           "weighted": source_counts(records)}))
    records, n_helpful = share((records, n_helpful))
    counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
    ctx.log(f"training on {len(records)} examples: {describe_counts(source_counts(records))}"
            + (f" (human data weighted ×{params.human_weight:g})" if counts.get("sources", {}).get("human") else ""))

    spec = resolve_spec(params.base or project.roles.get("student")["spec"])
    if main:
        project.models.record(spec.to_str(), spec.kind, spec.display_name)
    result = train_sft(spec, records, params, out, ctx=ctx, resume=params.resume_run is not None,
                       device=plan["device"]["device"])
    if not main:
        return result

    lineage = {
        "base_model": spec.to_str(), "roles": {"student": spec.to_str()},
        "device": device_lineage(plan["device"], result),
        **_chain_lineage(project, params),
        "review": review_lineage(project),
        "data": {"mode": params.data_mode, "include_helpful": params.include_helpful,
                 "helpful_ratio": params.helpful_ratio, "only_accepted": params.only_accepted,
                 "run_ids": params.run_ids, "examples": len(records), "helpful_examples": n_helpful,
                 "include_distilled": params.include_distilled, "human_weight": params.human_weight,
                 "sources": counts.get("sources"), "sources_weighted": counts.get("weighted"),
                 "file": str(data_file)},
        "settings": params.values(SFTSettings),
        "steps": result["steps"],
        "final_loss": result["loss_last"],
    }
    adapter_id = project.adapters.register(KIND, result["adapter"], spec.to_str(), lineage, run_id=run_id,
                                          name=f"sft-run-{run_id}")
    if result["loss_first"] is not None:
        ctx.log(f"loss {result['loss_first']:.3f} → {result['loss_last']:.3f} over {result['steps']} steps")
    ctx.log(f"adapter {adapter_id}: {result['adapter']}")
    return {**result, "helpful_examples": n_helpful, "adapter_id": adapter_id, "lineage": lineage}


# -- merge-and-export ------------------------------------------------------------------------------
@dataclass
class MergeParams:
    """Merging is not a declared job (it has no dialog of its own): the Models page and
    ``cai-desktop adapter merge`` call it."""

    project: str
    adapter_id: int
    out_dir: str


def run_merge(ctx: Any, params: MergeParams | str, adapter_id: int | None = None,
              out_dir: str | Path | None = None) -> dict[str, Any]:
    """Merge an adapter into its base model → a full model folder, registered as a model.

    Call as ``run_merge(ctx, MergeParams(...))`` (the GUI's job shape) or
    ``run_merge(ctx, project_path, adapter_id, out_dir)``.
    """
    if not isinstance(params, MergeParams):
        if adapter_id is None or out_dir is None:
            raise ValidationError("Merging needs an adapter id and an output folder.")
        params = MergeParams(str(params), int(adapter_id), str(out_dir))
    def body(project: Project, rctx: RunContext, run_id: int) -> dict[str, Any]:
        from cai_desktop.engine.sft import merge_adapter

        out = merge_adapter(adapter["base_model_spec"], adapter["path"], params.out_dir, rctx).resolve()
        model_id = project.models.record(str(out), "folder", f"{adapter['name']} (merged)",
                                        {"merged_from_adapter": adapter["id"], "base": adapter["base_model_spec"]})
        rctx.log(f"merged model: {out}")
        lineage = {"adapter_id": adapter["id"], "adapter": adapter["path"], "base_model": adapter["base_model_spec"],
                   "adapter_lineage": json.loads(adapter["lineage_json"] or "{}")}
        return {"model": str(out), "model_id": model_id, "lineage": lineage}

    with Project.open(params.project) as project:
        adapter = project.adapters.get(params.adapter_id)
        return execute(ctx, project, MERGE_KIND, vars(params), body, name=f"merge adapter {adapter['id']}")


def _summary(r: dict[str, Any]) -> list[str]:
    lines = [f"run {r['run_id']}: {r['steps']} steps on {r['examples']} examples "
             f"({r.get('helpful_examples') or 0} helpful)"]
    if r.get("loss_first") is not None:
        lines.append(f"loss: first {r['loss_first']:.4f}, last {r['loss_last']:.4f}")
    if r.get("seconds_per_step"):
        lines.append(f"speed: {r['seconds_per_step']:.2f} s/step")
    lines.append(f"adapter {r['adapter_id']}: {r['adapter']}")
    return lines


JOB = Job(
    kind=KIND, label="Supervised fine-tuning (SL-CAI)", params=SFTParams, prepare=_prepare, body=_body, run_name=lambda p: "LoRA SFT",
    description="Stage 1: LoRA fine-tuning of the base model on the revisions, mixed with helpful answers.",
    summary=_summary, cli_help="LoRA SFT on the revisions (stage 1)",
)
