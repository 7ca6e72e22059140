"""The "Run the whole method" recipe: stage 1 end to end, sized for the data and the machine.

``plan(project, size)`` returns the ordered steps (job kind, params, a one-line description, the
generated tokens or training steps, and a time estimate) for one of three sizes:

- **quick**: a smoke run that shows every step working, in minutes;
- **standard**: the recipe sized to finish within ``STANDARD_BUDGET_S`` (45 min) on a 2-core CPU
  by the estimate, with enough held-out prompts for the intervals to mean something;
- **full**: every training prompt, the paper's 4 revision rounds, every held-out prompt.

The steps: critique → revision chains on the red-team training prompts; helpful answers (the same
job with 0 revisions on the helpful set, so SFT keeps helpfulness); teacher answers with the
constitution (context distillation) only when the project's teacher is a different model from its
student; LoRA SFT on all of it (chains, helpful answers, teacher answers, human demonstrations);
the before/after evaluation on the held-out sets.

The time estimate is tokens ÷ a generation rate plus steps × seconds per step, plus a fixed
start-up per job. The rates are measured on this project's own finished runs of the same model
when it has any (``measured_rates``), else the defaults below. Reading the plan only reads the
project (a few small queries): no torch, no Qt, fast enough for the GUI thread.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs.critique import CritiqueParams
from cai_desktop.jobs.distill import DistillParams
from cai_desktop.jobs.evaluate import TRAINED_KINDS, EvalParams, prompt_sets_for
from cai_desktop.jobs.mixing import describe_counts, source_counts
from cai_desktop.jobs.sft import SFTParams
from cai_desktop.store.project import Project

SIZES = ("quick", "standard", "full")
#: the standard size must fit in this by the estimate on the default 2-core CPU rates
STANDARD_BUDGET_S = 45 * 60

#: per size: prompts (None = every training prompt), rounds, answer/critique lengths, SFT epochs and
#: step bounds, held-out prompts per set (None = all)
SIZE_SETTINGS: dict[str, dict[str, Any]] = {
    "quick": dict(red_team=12, helpful=8, revisions=2, max_new_tokens=128, critique_max_new_tokens=96,
                  epochs=4, min_steps=8, max_steps=24, eval_limit=8, eval_max_new_tokens=96),
    "standard": dict(red_team=48, helpful=32, revisions=2, max_new_tokens=128, critique_max_new_tokens=96,
                     epochs=3, min_steps=20, max_steps=90, eval_limit=None, eval_max_new_tokens=128),
    "full": dict(red_team=None, helpful=None, revisions=4, max_new_tokens=200, critique_max_new_tokens=160,
                 epochs=2, min_steps=50, max_steps=1000, eval_limit=None, eval_max_new_tokens=128),
}
SFT_BATCH = 4
GEN_BATCH = 16


@dataclass(frozen=True)
class Rates:
    """How fast this machine goes: generated tokens per second (critique chains read long few-shot
    prompts, so they have their own rate), seconds per SFT step, and start-up seconds per job."""

    chain_tokens_per_s: float
    answer_tokens_per_s: float
    seconds_per_step: float
    startup_s: float
    source: str
    #: True when any figure was measured on this project's runs
    measured: bool = False


#: Defaults for the embedded SmolLM2-135M on a 2-core x86 CPU (bf16 generation on 1 thread, as the
#: window runs jobs; fp32 LoRA training). Where the figures come from:
#: - the README benchmark (2-core AMD EPYC build machine, quiet): 341 tokens/s decoding short
#:   prompts, bf16, batch 32, 1 thread. A job is slower: it reads long prompts (the constitution,
#:   few-shot critique examples, the answer under critique), loads the model, and its batches of 16
#:   end at different lengths.
#: - whole jobs measured on that machine while other work shared its 2 cores (load 2-3), batch 16,
#:   answers of up to 128 tokens and critiques of up to 96: chains (red-team, 1 round) 24 and 27
#:   tokens/s (8 and 32 prompts); answers (helpful, 0 rounds) 64 and 72 tokens/s (16 and 32
#:   prompts); LoRA SFT at batch 4 15-20 s/step (benchmarks/method.py --quick), 50 s/step at load 4.6.
#: - the defaults take those shared-machine figures about 1.3-1.5× faster (a machine with its 2
#:   cores free), rounded down to stay on the safe side: 35 and 90 tokens/s, 10 s per SFT step.
#: The project's own measured rates replace them after its first finished runs.
CPU_DEFAULT = Rates(chain_tokens_per_s=35.0, answer_tokens_per_s=90.0, seconds_per_step=10.0, startup_s=15.0,
                    source="default rates for a 2-core CPU (measured jobs of the embedded model; see "
                           "cai_desktop/jobs/recipe.py)")
#: A CUDA GPU: not measured here. A ~135M model's generation is bound by the ~25 ms of one decoding
#: step at batch 16 (~600 tokens/s) and a LoRA step takes a fraction of a second; a rough guide
#: until this project has a finished run on the GPU.
CUDA_DEFAULT = Rates(chain_tokens_per_s=400.0, answer_tokens_per_s=600.0, seconds_per_step=0.4, startup_s=10.0,
                     source="default rates for a CUDA GPU (a rough guide, not measured; see "
                            "cai_desktop/jobs/recipe.py)")


@dataclass
class Step:
    """One job of the recipe, with what it makes and how long it should take."""

    kind: str
    params: Any
    #: a few words ("helpful answers"): the queue shows it, the CLI heads the step with it
    title: str
    description: str
    amount: int
    unit: str  # "tokens" (at most this many generated) or "steps" (optimiser steps)
    seconds: float
    rates: str = ""

    @property
    def name(self) -> str:
        return f"{self.title} (whole method)"

    def line(self) -> str:
        what = f"≤ {self.amount:,} tokens" if self.unit == "tokens" else f"{self.amount:,} steps"
        return f"{self.description} — {what}, ~{format_duration(self.seconds)}"


@dataclass
class Plan:
    size: str
    steps: list[Step]
    #: the settings that matter, one line each
    settings: list[str] = field(default_factory=list)
    #: what the user should know (a step left out and why, where the rates come from)
    notes: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    def kinds(self) -> list[str]:
        return [s.kind for s in self.steps]

    def jobs(self) -> list[tuple[str, Any, str]]:
        """``(kind, params, name)`` per step, in order: what ``submit_job`` takes."""
        return [(s.kind, s.params, s.name) for s in self.steps]

    def describe(self) -> list[str]:
        """The lines shown to the user: the steps with their estimates, the settings, the total."""
        lines = [f"The whole method, {self.size} size: {len(self.steps)} jobs, run one after another."]
        lines += [f"  {i}. {s.line()}" for i, s in enumerate(self.steps, 1)]
        lines += ["Settings:"] + [f"  {s}" for s in self.settings]
        lines.append(f"Estimated time: ~{format_duration(self.total_seconds)} in total.")
        lines += [f"Note: {n}" for n in self.notes]
        return lines


def format_duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{round(minutes)} min"
    return f"{minutes / 60:.1f} h"


def model_key(spec: str | None) -> str:
    """A model spec as the runs store it: the embedded model under every name it has."""
    s = (spec or "").strip()
    return "default" if s.lower() in ("", "default", "embedded") else s


def _duration(run: dict[str, Any]) -> float | None:
    try:
        t = (datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None
    return t if t > 0 else None


def _run_figures(run: dict[str, Any]) -> tuple[str, str, float] | None:
    """``(rate kind, model, amount)`` of one finished run: tokens generated at most (by the same
    count as the plan's) or SFT steps; None when it says nothing about speed."""
    cfg, res = run.get("config") or {}, run.get("result") or {}
    if run["kind"] == "critique" and res.get("chains"):
        rounds = int(cfg.get("revisions") or 0)
        tokens = res["chains"] * (cfg.get("max_new_tokens", 200)
                                  + rounds * (cfg.get("max_new_tokens", 200) + cfg.get("critique_max_new_tokens", 160)))
        return ("chain" if rounds else "answer"), model_key(res.get("model")), tokens
    if run["kind"] == "eval" and res.get("policies"):
        n = sum(s.get("n", 0) for p in res["policies"] for s in (p.get("rates") or {}).values())
        model = next((p.get("model") for p in res["policies"]), None)
        return ("answer", model_key(model), n * cfg.get("max_new_tokens", 128)) if n else None
    if run["kind"] == "distill" and res.get("pairs"):
        roles = res.get("roles") or {}
        model = (roles.get("teacher") or {}).get("spec")
        return "answer", model_key(model), 2 * res["pairs"] * cfg.get("max_new_tokens", 160)
    if run["kind"] == "sft" and res.get("seconds_per_step") and res.get("steps"):
        return "sft", model_key(res.get("base_model")), float(res["steps"] - (res.get("resumed_from_step") or 0))
    return None


def measured_rates(project: Project, spec: str | None, default: Rates, newest: int = 3) -> Rates:
    """``default`` with each rate replaced by this project's own measurement of the model ``spec``
    where it has one: its newest ``newest`` finished runs of each sort (generated tokens, counted as
    the plan counts them, over the run's wall time, loading included; SFT: the trainer's seconds
    per step)."""
    want = model_key(spec)
    found: dict[str, list[tuple[float, float, int]]] = {"chain": [], "answer": [], "sft": []}
    for row in project.runs.list():  # newest first
        if row["status"] != "done" or row["kind"] not in ("critique", "eval", "distill", "sft"):
            continue
        if all(len(v) >= newest for v in found.values()):
            break
        run = project.runs.get(row["id"])
        seconds, figures = _duration(run), _run_figures(run)
        if seconds is None or figures is None or figures[1] != want:
            continue
        kind, _, amount = figures
        if kind == "sft":
            seconds = amount * float(run["result"]["seconds_per_step"])
        if len(found[kind]) < newest:
            found[kind].append((amount, seconds, run["id"]))
    values = {"chain_tokens_per_s": default.chain_tokens_per_s, "answer_tokens_per_s": default.answer_tokens_per_s,
              "seconds_per_step": default.seconds_per_step, "startup_s": default.startup_s}
    for kind, key in (("chain", "chain_tokens_per_s"), ("answer", "answer_tokens_per_s")):
        if found[kind]:
            values[key] = sum(a for a, _, _ in found[kind]) / sum(t for _, t, _ in found[kind])
    if found["sft"]:
        values["seconds_per_step"] = sum(t for _, t, _ in found["sft"]) / sum(a for a, _, _ in found["sft"])
    used = sorted(r for v in found.values() for _, _, r in v)
    if not used:
        return default
    parts = [f"rates measured on this project's runs {', '.join(str(r) for r in used)}"]
    if not all(found.values()):
        parts.append(f"else {default.source}")
    return Rates(**values, source="; ".join(parts), measured=True)


def _train_count(project: Project, name: str) -> int:
    for s in project.prompts.sets():
        if s["name"] == name:
            return int(s["n"]) - int(s["n_test"] or 0)
    return 0


def _test_count(project: Project, name: str) -> int:
    for s in project.prompts.sets():
        if s["name"] == name:
            return int(s["n_test"] or 0)
    return 0


def _constitution(project: Project) -> str:
    names = [c["name"] for c in project.constitutions.list() if c.get("enabled")]
    if not names:
        raise ValidationError("The project has no constitution with an enabled principle; add one (or the starter "
                              "content) first.")
    return "general" if "general" in names else names[0]


def _existing_sft_examples(project: Project) -> dict[str, int]:
    """Training examples the project already has, per source (earlier chains, helpful answers,
    human demonstrations and edits, teacher answers): the SFT step trains on them too."""
    counts = source_counts(project.chains.sft_records(include_helpful=True, skip_flawed=False))
    distilled = len(project.comparisons.preference_pairs(split="train", sources=("distill",), use_human=False))
    if distilled:
        counts["distilled"] = distilled
    return counts


def plan(project: Project, size: str = "standard") -> Plan:
    """The recipe for ``project`` at ``size`` (quick / standard / full); reads the project only."""
    if size not in SIZES:
        raise ValidationError(f"Unknown size {size!r}; the sizes are: {', '.join(SIZES)}.")
    cfg = SIZE_SETTINGS[size]
    path = str(project.path)
    constitution = _constitution(project)
    roles = {r: project.roles.get(r) for r in ("student", "teacher")}
    specs = {r: roles[r]["spec"] for r in roles}
    distinct_teacher = model_key(specs["teacher"]) != model_key(specs["student"])
    gpu = {r: roles[r].get("device") == "cuda" for r in roles}
    rates = {r: measured_rates(project, specs[r], CUDA_DEFAULT if gpu[r] else CPU_DEFAULT) for r in roles}

    def gen_seconds(tokens: int, role: str, chain: bool = False, loads: int = 1) -> float:
        r = rates[role]
        return loads * r.startup_s + tokens / (r.chain_tokens_per_s if chain else r.answer_tokens_per_s)

    steps: list[Step] = []
    notes: list[str] = []
    new: dict[str, int] = {}
    sampling = dict(split="train", max_new_tokens=cfg["max_new_tokens"], batch_size=GEN_BATCH)

    # 1. critique → revision chains on the red-team training prompts (the teacher writes them)
    n_red = _train_count(project, "red-team")
    if cfg["red_team"] is not None:
        n_red = min(n_red, cfg["red_team"])
    if n_red:
        rounds = cfg["revisions"]
        tokens = n_red * (cfg["max_new_tokens"] + rounds * (cfg["max_new_tokens"] + cfg["critique_max_new_tokens"]))
        steps.append(Step(
            "critique", CritiqueParams(project=path, constitution=constitution, prompt_set="red-team",
                                       revisions=rounds, limit=n_red,
                                       critique_max_new_tokens=cfg["critique_max_new_tokens"], **sampling),
            "critique → revision chains",
            f"Critique → revision chains: {n_red} red-team training prompts × {rounds} rounds under the "
            f"{constitution!r} constitution",
            tokens, "tokens", gen_seconds(tokens, "teacher", chain=True), rates["teacher"].source))
        new["ai_revision"] = n_red
    else:
        notes.append("no red-team training prompts: the critique step is left out (import a red-team set, or "
                     "add the starter content).")

    # 2. helpful answers: the same job with no revisions, so SFT keeps the model helpful
    n_help = _train_count(project, "helpful")
    if cfg["helpful"] is not None:
        n_help = min(n_help, cfg["helpful"])
    if n_help:
        tokens = n_help * cfg["max_new_tokens"]
        steps.append(Step(
            "critique", CritiqueParams(project=path, constitution=constitution, prompt_set="helpful", revisions=0,
                                       limit=n_help, **sampling),
            "helpful answers",
            f"Helpful answers: {n_help} helpful training prompts, no revisions (keeps the model helpful)",
            tokens, "tokens", gen_seconds(tokens, "teacher"), rates["teacher"].source))
        new["helpful"] = n_help
    else:
        notes.append("no helpful training prompts: SFT will not be mixed with helpful answers.")

    # 3. teacher answers with the constitution (context distillation): only from a different teacher
    if distinct_teacher and n_red:
        tokens = 2 * n_red * cfg["max_new_tokens"]
        seconds = (gen_seconds(n_red * cfg["max_new_tokens"], "teacher")
                   + gen_seconds(n_red * cfg["max_new_tokens"], "student"))
        steps.append(Step(
            "distill", DistillParams(project=path, constitution=constitution, prompt_set="red-team", limit=n_red,
                                     split="train", max_new_tokens=cfg["max_new_tokens"], batch_size=GEN_BATCH),
            "teacher answers",
            f"Teacher answers: {model_key(specs['teacher'])} answers {n_red} red-team prompts with the constitution, "
            f"the student without it (context distillation)",
            tokens, "tokens", seconds, rates["teacher"].source))
        new["distilled"] = n_red
    elif not distinct_teacher:
        notes.append("no teacher-answer step: the teacher is the student's own model. A stronger teacher (Models "
                     "page) adds context distillation, which is what teaches a small model best.")

    # 4. LoRA SFT on all of it; steps from the number of examples
    existing = _existing_sft_examples(project)
    examples = sum(new.values()) + sum(existing.values())
    if not examples:
        raise ValidationError("Nothing to train on: the project has no red-team or helpful training prompts and no "
                              "chains yet. Add prompts (or the starter content) first.")
    sft_steps = math.ceil(cfg["epochs"] * examples / SFT_BATCH)
    sft_steps = max(cfg["min_steps"], min(cfg["max_steps"], sft_steps))
    r = rates["student"]
    sft_params = SFTParams(project=path, max_steps=sft_steps, batch_size=SFT_BATCH)
    steps.append(Step(
        "sft", sft_params,
        "LoRA SFT",
        f"LoRA SFT of the student on ≈{examples} examples ({describe_counts(new) if new else 'none new'}"
        + (f"; already in the project: {describe_counts(existing)}" if existing else "")
        + f"): {sft_steps} steps ≈ {sft_steps * SFT_BATCH / examples:.1f} epochs at batch {SFT_BATCH}",
        sft_steps, "steps", r.startup_s + sft_steps * r.seconds_per_step, r.source))

    # 5. before/after on the held-out sets: the base, the new SFT adapter (and the newest RLOO/PPO/DPO
    # adapter already in the project, which the eval job adds by default)
    eval_params = EvalParams(project=path, limit=cfg["eval_limit"], max_new_tokens=cfg["eval_max_new_tokens"],
                             examples=2)
    names = prompt_sets_for(project, eval_params)
    held = {kind: _test_count(project, name) for kind, name in names.items()}
    if cfg["eval_limit"] is not None:
        held = {k: min(n, cfg["eval_limit"]) for k, n in held.items()}
    others = [k for k in TRAINED_KINDS if k != "sft" and project.adapters.list(k)]
    policies = 2 + len(others)
    n_held = sum(held.values())
    if n_held:
        tokens = policies * n_held * cfg["eval_max_new_tokens"]
        extra = f" and the newest {'/'.join(k.upper() for k in others)} adapter" if others else ""
        steps.append(Step(
            "eval", eval_params, "before/after evaluation",
            f"Before/after evaluation: the base model and the new SFT adapter{extra} answer {held['red-team']} "
            f"{names['red-team']} + {held['helpful']} {names['helpful']} held-out prompts, every answer judged",
            tokens, "tokens", gen_seconds(tokens, "student", loads=policies), r.source))
    else:
        notes.append("no held-out prompts: the evaluation step is left out (add the starter content for "
                     "heldout-harmful and heldout-benign).")

    settings = [
        f"student (trained): {_model_text(roles['student'])}; teacher (chains"
        f"{', teacher answers' if distinct_teacher else ''}): {_model_text(roles['teacher'])}"
        + ("" if distinct_teacher else " (the same model)"),
        f"constitution: {constitution}; answers up to {cfg['max_new_tokens']} tokens, critiques up to "
        f"{cfg['critique_max_new_tokens']}; {cfg['revisions']} revision rounds; batch {GEN_BATCH}",
        f"SFT: LoRA rank {sft_params.lora_rank}, learning rate {sft_params.learning_rate:g}, batch {SFT_BATCH}, "
        f"{sft_steps} steps, on {'sound revisions only' if sft_params.skip_flawed else 'every revision'}; "
        f"evaluation answers up to "
        f"{cfg['eval_max_new_tokens']} tokens, greedy",
    ]
    sources = sorted({rates["teacher"].source, rates["student"].source})
    measured = any(r.measured for r in rates.values())
    notes.append("time by " + " / ".join(sources) + ("" if measured else
                 "; after a first run the estimate uses this project's measured speed"))
    if (model_key(specs["student"]) != "default" or model_key(specs["teacher"]) != "default") and not measured:
        notes.append("the default rates are for the embedded 135M model: a larger model takes longer than this "
                     "estimate.")
    if not measured and not any(gpu.values()) and _nvidia_driver():
        notes.append("this machine seems to have an NVIDIA GPU: jobs on the automatic device may use it and finish "
                     "much sooner than this CPU estimate.")
    return Plan(size=size, steps=steps, settings=settings, notes=notes)


def _nvidia_driver() -> bool:
    """A cheap hint (no torch): the NVIDIA kernel driver is loaded."""
    return os.path.exists("/proc/driver/nvidia/version")


def _model_text(role: dict[str, Any]) -> str:
    spec = role.get("spec") or "the embedded SmolLM2-135M-Instruct"
    device = role.get("device")
    return spec + (f" on {device}" if device else "")
