"""The critique → revision job (stage 1, SL-CAI data).

For each prompt: the initial answer, then N rounds of (draw a principle, critique the latest
answer under its critique request, revise under its revision request). A batch of prompts advances
round by round through the batched engine; each finished batch of chains is committed in one
transaction, so a cancel or a killed process loses at most the batch in flight. Running the same
job again continues the matching earlier run: prompts that already have a chain are skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cai_desktop.core.constitution import PrincipleSampler
from cai_desktop.core.context import CancelOnly, check_cancelled
from cai_desktop.core.params import param
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
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.fields import (
    adapter_param,
    batch_param,
    limit_param,
    max_tokens_param,
    model_param,
    seed_param,
    split_param,
    top_p_param,
)
from cai_desktop.jobs.roles import load_role_model, role_model, role_record
from cai_desktop.jobs.runs import RunContext
from cai_desktop.store.project import Project

KIND = "critique"
@dataclass
class CritiqueParams(JobParams):
    constitution: str = param("general", label="Constitution", source="constitutions",
                              help="The constitution whose principles are drawn for critiques and revisions.")
    prompt_set: str = param("red-team", label="Prompt set", source="prompt_sets", flags=("--set",),
                            help="The prompts to answer (usually red-team prompts).")
    revisions: int = param(4, label="Revisions per prompt", range=(0, 16),
                           help="Critique → revision rounds per prompt (the paper uses 4; 0 = answers only, e.g. "
                                "for helpful prompts). Each round costs two generations.")
    limit: int | None = limit_param(16)
    model: str | None = model_param("Teacher", project_role="teacher")
    adapter: str | None = adapter_param()
    style: str = param("chat", label="Prompt style", choices=STYLES,
                       help="chat: chat-template messages (instruct models); transcript: a plain-text dialogue "
                            "(base models).")
    split: str | None = split_param("train")
    seed: int = seed_param("the principle draws and the samples")
    batch_size: int = batch_param(8)
    temperature: float = param(0.7, label="Temperature", range=(0.0, 2.0),
                               help="Sampling temperature; 0 = greedy (always the most likely token).")
    top_p: float = top_p_param(0.95)
    max_new_tokens: int = max_tokens_param(200, "The longest answer or revision, in tokens.")
    critique_max_new_tokens: int = param(160, label="Longest critique (tokens)", range=(1, 8192),
                                         help="The longest critique, in tokens.")
    few_shot: int = param(1, label="Few-shot examples", range=(0, 16),
                          help="Worked critique/revision examples shown before each request (each costs prompt "
                               "length; they keep a small model in its role).")


def step_seed(seed: int, prompt_id: int, round_: int, what: str) -> int:
    digest = hashlib.sha256(f"{seed}:{prompt_id}:{round_}:{what}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _prepare(project: Project, params: CritiqueParams) -> None:
    project.constitutions.get(params.constitution)  # fail early with a clear message
    project.prompts.of(params.prompt_set, limit=1)


def run_critique(ctx: Any, params: CritiqueParams) -> dict[str, Any]:
    return run_job(JOB, ctx, params)


def _body(project: Project, ctx: RunContext, run_id: int, params: CritiqueParams, plan: None) -> dict[str, Any]:
    from cai_desktop.engine.generation import GenerationRequest, SamplingSettings, generate

    constitution = project.constitutions.get(params.constitution)
    cid = project.constitutions.id(params.constitution)
    prompts = project.prompts.of(params.prompt_set, split=params.split, limit=params.limit)
    done = project.chains.done_prompt_ids(run_id)
    todo = [p for p in prompts if p["id"] not in done]
    sampler = PrincipleSampler(constitution, params.seed) if params.revisions else None
    if not todo:
        ctx.log(f"nothing to do: all {len(prompts)} prompts already have a chain in run {run_id}")
        return {"chains": 0, "skipped": len(done)}
    # progress counts generations (an answer, then a critique and a revision per round), so the bar
    # moves and the ETA starts inside the first batch; prompts done before a resume count as done
    per_prompt = 1 + 2 * params.revisions
    total_steps = (len(todo) + len(done & {p["id"] for p in prompts})) * per_prompt
    steps_done = (total_steps - len(todo) * per_prompt)
    ctx.log(f"{len(todo)} prompts to process ({len(done)} already done) with {params.revisions} revisions each")

    chosen = role_model(project, "teacher", params.model)
    ctx.log(f"teacher: {chosen['spec'] or 'the embedded model'} ({chosen['source']})")
    lm = load_role_model(chosen, params.adapter, ctx)
    model_spec = lm.spec.to_str()
    project.models.record(model_spec, lm.spec.kind, lm.spec.display_name)
    snapshots = {p.key: project.constitutions.snapshot(p, constitution.name) for p in constitution.enabled_principles}
    transcript = params.style == "transcript"
    stops = TRANSCRIPT_STOPS if transcript else ()

    def sampling(max_new: int, seed: int) -> SamplingSettings:
        return SamplingSettings(params.temperature, params.top_p, max_new, stops, seed)

    def request(messages_or_text: Any, max_new: int, seed: int) -> GenerationRequest:
        if transcript:
            return GenerationRequest(text=messages_or_text, sampling=sampling(max_new, seed))
        return GenerationRequest(messages=messages_or_text, sampling=sampling(max_new, seed))

    gen_ctx = CancelOnly(ctx)
    made = changed = cleaned_n = revisions_n = echoed = 0
    total = len(todo)

    def advance(n: int, what: str) -> None:
        nonlocal steps_done
        steps_done += n
        ctx.progress(steps_done, total_steps, what)

    ctx.progress(steps_done, total_steps, f"loading the model; {total} prompts to go")
    for start in range(0, total, params.batch_size):
        batch = todo[start: start + params.batch_size]
        where = f"batch {start // params.batch_size + 1} of {-(-total // params.batch_size)}"
        ctx.log(f"{where}: answering {len(batch)} prompt{'s' if len(batch) != 1 else ''}")
        # 1. initial answers
        reqs = [
            request(answer_transcript(p["text"]) if transcript else answer_messages(constitution, p["text"]),
                    params.max_new_tokens, step_seed(params.seed, p["id"], 0, "answer"))
            for p in batch
        ]
        answers = [r.text for r in generate(lm, reqs, ctx=gen_ctx, batch_size=len(reqs))]
        advance(len(batch), f"{where}: answers")
        draws = [sampler.draw(p["id"], params.revisions) if sampler else [] for p in batch]
        turns: list[list[Turn]] = [[] for _ in batch]
        steps: list[list[dict[str, Any]]] = [
            [{"round": 0, "revision": a, "raw_revision": a, "cleaned": 0,
              "seed": step_seed(params.seed, p["id"], 0, "answer")}]
            for p, a in zip(batch, answers)
        ]
        build = chain_transcript if transcript else chain_messages
        for rnd in range(1, params.revisions + 1):
            check_cancelled(ctx)
            ctx.log(f"{where}: critiques and revisions, round {rnd} of {params.revisions}")
            # 2. critiques
            reqs = [
                request(build(constitution, p["text"], answers[i], turns[i], draws[i][rnd - 1], "critique",
                              few_shot=params.few_shot),
                        params.critique_max_new_tokens, step_seed(params.seed, p["id"], rnd, "critique"))
                for i, p in enumerate(batch)
            ]
            critiques = [clean_critique(r.text) for r in generate(lm, reqs, ctx=gen_ctx, batch_size=len(reqs))]
            advance(len(batch), f"{where}: critiques, round {rnd}")
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
            advance(len(batch), f"{where}: revisions, round {rnd}")
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
                             "adapter": params.adapter, "few_shot": params.few_shot, "role": "teacher"},
                "initial_text": answers[i], "final_text": final, "steps": steps[i],
            })
        project.chains.save(rows)
        made += len(rows)
        ctx.log(f"{where}: saved {made} of {total} chain{'s' if total != 1 else ''}")
    summary = f"made {made} chain{'s' if made != 1 else ''}"
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
        "roles": {"teacher": role_record(chosen, model_spec, params.adapter)},
    }


def _summary(r: dict[str, Any]) -> list[str]:
    lines = [f"run {r['run_id']}: {r['chains']} new chains, {r['skipped']} already there"]
    if r.get("changed_rate") is not None:
        lines.append(f"revisions that changed the answer: {100 * r['changed_rate']:.0f}%")
    return lines


JOB = Job(
    kind=KIND, label="Critique & revision", params=CritiqueParams, prepare=_prepare, body=_body,
    description="Stage 1: the model answers red-team prompts, then critiques and revises its answer under "
                "randomly drawn principles. Each prompt costs 1 + 2 × revisions generations: 16 prompts with 4 "
                "revisions take minutes on a CPU; a whole 192-prompt set takes about 12 times as long.",
    run_name=lambda p: f"critique {p.prompt_set} × {p.constitution}", summary=_summary,
    cli_help="generate critique → revision chains (stage 1 data)",
)
