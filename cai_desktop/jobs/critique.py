"""The critique → revision job (stage 1, SL-CAI data).

For each prompt: the initial answer, then N rounds of (draw a principle, critique the latest
answer under its critique request, revise under its revision request). A batch of prompts advances
round by round through the batched engine; each finished batch of chains is committed in one
transaction, so a cancel or a killed process loses at most the batch in flight. Running the same
job again continues the matching earlier run: prompts that already have a chain are skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from cai_desktop.core.constitution import PrincipleSampler
from cai_desktop.core.errors import Cancelled, ValidationError
from cai_desktop.core.prompting import (
    STYLES,
    TRANSCRIPT_STOPS,
    Turn,
    answer_messages,
    answer_transcript,
    chain_messages,
    chain_transcript,
    clean_critique,
    clean_revision,
    echoes_critique,
)
from cai_desktop.jobs.runs import RunContext, execute, find_matching_run
from cai_desktop.store.chains import done_prompt_ids, save_chains
from cai_desktop.store.project import Project
from cai_desktop.store.prompts import prompts_of

KIND = "critique"
# Settings that do not change what a chain is; a run with the same remaining settings is continued.
_NOT_IDENTITY = {"project", "limit", "batch_size", "resume_run"}


@dataclass
class CritiqueParams:
    project: str
    constitution: str = "general"
    prompt_set: str = "red-team"
    revisions: int = 4
    limit: int | None = None
    model: str | None = None
    adapter: str | None = None
    style: str = "chat"
    split: str | None = "train"
    seed: int = 0
    batch_size: int = 16
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 200
    critique_max_new_tokens: int = 160
    few_shot: int = 1  # few-shot examples included in critique/revision prompts (each costs prompt length)
    resume_run: int | None = None

    def check(self) -> None:
        if self.style not in STYLES:
            raise ValidationError(f"Unknown prompt style {self.style!r}; choose chat or transcript.")
        if not 0 <= self.revisions <= 16:
            raise ValidationError("Revisions must be between 0 and 16 (the paper uses 4).")
        if self.batch_size < 1:
            raise ValidationError("The batch size must be at least 1.")
        if self.limit is not None and self.limit < 1:
            raise ValidationError("The limit must be at least 1 (or leave it empty for all prompts).")
        if not 0 <= self.temperature <= 2:
            raise ValidationError("The temperature must be between 0 and 2.")


class _CancelOnly:
    """Lets the engine see cancel and logs between its batches without its own progress reports
    (the job reports progress in chains, not in generations)."""

    def __init__(self, ctx: Any):
        self._ctx = ctx

    def cancelled(self) -> bool:
        return bool(self._ctx is not None and self._ctx.cancelled())

    def log(self, text: str) -> None:
        if self._ctx is not None:
            self._ctx.log(text)

    def progress(self, done: int, total: int, msg: str = "") -> None:
        pass

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        pass


def step_seed(seed: int, prompt_id: int, round_: int, what: str) -> int:
    digest = hashlib.sha256(f"{seed}:{prompt_id}:{round_}:{what}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def find_resumable_run(project: Project, params: CritiqueParams) -> int | None:
    """The latest critique run made with the same settings (any status), to continue it."""
    return find_matching_run(project, KIND, asdict(params), _NOT_IDENTITY)


def run_critique(ctx: Any, params: CritiqueParams) -> dict[str, Any]:
    params.check()
    resume = params.resume_run
    if resume is None:
        with Project.open(params.project) as project:
            project.get_constitution(params.constitution)  # fail early with a clear message
            prompts_of(project, params.prompt_set, limit=1)
            resume = find_resumable_run(project, params)
    return execute(
        ctx, params.project, KIND, asdict(params), lambda p, rc, rid: _body(p, rc, rid, params),
        resume_run=resume, name=f"critique {params.prompt_set} × {params.constitution}",
    )


def _body(project: Project, ctx: RunContext, run_id: int, params: CritiqueParams) -> dict[str, Any]:
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate
    from cai_desktop.engine.models import load_model

    constitution = project.get_constitution(params.constitution)
    cid = project.constitution_id(params.constitution)
    prompts = prompts_of(project, params.prompt_set, split=params.split, limit=params.limit)
    done = done_prompt_ids(project, run_id)
    todo = [p for p in prompts if p["id"] not in done]
    sampler = PrincipleSampler(constitution, params.seed) if params.revisions else None
    if not todo:
        ctx.log(f"nothing to do: all {len(prompts)} prompts already have a chain in run {run_id}")
        return {"chains": 0, "skipped": len(done)}
    ctx.log(f"{len(todo)} prompts to process ({len(done)} already done) with {params.revisions} revisions each")

    lm = load_model(params.model, adapter=params.adapter, ctx=ctx)
    model_spec = lm.spec.to_str()
    project.record_model(model_spec, lm.spec.kind, lm.spec.display_name)
    snapshots = {p.key: project.snapshot_principle(p, constitution.name) for p in constitution.enabled_principles}
    transcript = params.style == "transcript"
    stops = TRANSCRIPT_STOPS if transcript else ()

    def sampling(max_new: int, seed: int) -> SamplingSettings:
        return SamplingSettings(params.temperature, params.top_p, max_new, stops, seed)

    def request(messages_or_text: Any, max_new: int, seed: int) -> GenerationRequest:
        if transcript:
            return GenerationRequest(text=messages_or_text, sampling=sampling(max_new, seed))
        return GenerationRequest(messages=messages_or_text, sampling=sampling(max_new, seed))

    gen_ctx = _CancelOnly(ctx)
    made = changed = cleaned_n = revisions_n = echoed = 0
    total = len(todo)
    ctx.progress(0, total, "starting")
    for start in range(0, total, params.batch_size):
        batch = todo[start: start + params.batch_size]
        where = f"batch {start // params.batch_size + 1} of {-(-total // params.batch_size)}"
        ctx.log(f"{where}: answering {len(batch)} prompts")
        # 1. initial answers
        reqs = [
            request(answer_transcript(p["text"]) if transcript else answer_messages(constitution, p["text"]),
                    params.max_new_tokens, step_seed(params.seed, p["id"], 0, "answer"))
            for p in batch
        ]
        answers = [r.text for r in generate(lm, reqs, ctx=gen_ctx, batch_size=len(reqs))]
        draws = [sampler.draw(p["id"], params.revisions) if sampler else [] for p in batch]
        turns: list[list[Turn]] = [[] for _ in batch]
        steps: list[list[dict[str, Any]]] = [
            [{"round": 0, "revision": a, "raw_revision": a, "cleaned": 0,
              "seed": step_seed(params.seed, p["id"], 0, "answer")}]
            for p, a in zip(batch, answers)
        ]
        build = chain_transcript if transcript else chain_messages
        for rnd in range(1, params.revisions + 1):
            if ctx.cancelled():
                raise Cancelled("cancelled by the user")
            ctx.log(f"{where}: critiques and revisions, round {rnd} of {params.revisions}")
            # 2. critiques
            reqs = [
                request(build(constitution, p["text"], answers[i], turns[i], draws[i][rnd - 1], "critique",
                              few_shot=params.few_shot),
                        params.critique_max_new_tokens, step_seed(params.seed, p["id"], rnd, "critique"))
                for i, p in enumerate(batch)
            ]
            critiques = [clean_critique(r.text) for r in generate(lm, reqs, ctx=gen_ctx, batch_size=len(reqs))]
            for i in range(len(batch)):
                turns[i].append(Turn(draws[i][rnd - 1], critiques[i]))
            # 3. revisions
            reqs = [
                request(build(constitution, p["text"], answers[i], turns[i], draws[i][rnd - 1], "revision",
                              few_shot=params.few_shot),
                        params.max_new_tokens, step_seed(params.seed, p["id"], rnd, "revision"))
                for i, p in enumerate(batch)
            ]
            for i, r in enumerate(generate(lm, reqs, ctx=gen_ctx, batch_size=len(reqs))):
                text, was_cleaned = clean_revision(r.text)
                previous = turns[i][-2].revision if len(turns[i]) > 1 else answers[i]
                turns[i][-1].revision = text
                steps[i].append({
                    "round": rnd, "principle_snapshot_id": snapshots[draws[i][rnd - 1].key],
                    "critique": critiques[i], "revision": text, "raw_revision": r.text,
                    "cleaned": int(was_cleaned), "seed": step_seed(params.seed, batch[i]["id"], rnd, "revision"),
                })
                revisions_n += 1
                cleaned_n += int(was_cleaned)
                changed += int(text.strip() != (previous or "").strip())
                echoed += int(echoes_critique(text, critiques[i]))
        rows = []
        for i, p in enumerate(batch):
            final = turns[i][-1].revision if turns[i] else answers[i]
            rows.append({
                "run_id": run_id, "prompt_id": p["id"], "constitution_id": cid,
                "constitution_version": constitution.version, "model_spec": model_spec,
                "style": params.style, "n_revisions": params.revisions, "seed": params.seed,
                "sampling": {"temperature": params.temperature, "top_p": params.top_p,
                             "max_new_tokens": params.max_new_tokens,
                             "critique_max_new_tokens": params.critique_max_new_tokens,
                             "adapter": params.adapter, "few_shot": params.few_shot},
                "initial_text": answers[i], "final_text": final, "steps": steps[i],
            })
        save_chains(project, rows)
        made += len(rows)
        ctx.progress(made, total, f"{made}/{total} chains")
    summary = f"made {made} chains"
    if revisions_n:
        summary += (f"; {100 * changed / revisions_n:.0f}% of revisions changed the answer, "
                    f"{100 * cleaned_n / revisions_n:.0f}% had a preamble cleaned, "
                    f"{100 * echoed / revisions_n:.0f}% mostly repeated the critique")
    ctx.log(summary)
    return {
        "chains": made, "skipped": len(done), "revisions": revisions_n,
        "changed_rate": changed / revisions_n if revisions_n else None,
        "cleaned_rate": cleaned_n / revisions_n if revisions_n else None,
        "echo_rate": echoed / revisions_n if revisions_n else None,
        "model": model_spec, "constitution_version": constitution.version,
    }
