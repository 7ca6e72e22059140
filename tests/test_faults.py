"""Fault injection: every job kind is killed with SIGKILL at seeded random moments after its run
started, then the same command is run again; nothing may be lost, doubled or left 'running'.

Each trial, on the tiny random model (``tiny_model_dir``):
1. start ``cai-desktop run KIND PROJECT ...`` (tiny sizes) in a child process; once its run is
   'running', wait for a seeded random point of progress (a number of committed records; for a
   trainer, the start or the appearance of a checkpoint folder, so kills also land while a
   checkpoint is being written), then a seeded random fraction of a second, and ``kill -9`` it (a
   child that finished first counts as a trial without a kill);
2. note what was committed (chains, pairs, comparisons with their ids and texts) and the newest
   complete checkpoint of a trainer;
3. run the same command again, to the end, and check: ``PRAGMA integrity_check`` is ok; no
   duplicate chains, pairs or comparisons, no chain without all its steps; every record committed
   before the kill is still there, unchanged; no run is left 'running'; the killed run was
   continued (no second run); a trainer resumed from the checkpoint it had (its step count is not
   reset) and ends at its last step, with one adapter row. PPO (``run ppo``, on an SL-CAI adapter
   and a preference model made once per project) keeps its own checkpoints (``step-N`` with a
   state file): its rerun must say it resumes from that step, and log its reward once per step.

Children are forked from a process that has imported torch, transformers, TRL and PEFT once
(``multiprocessing``'s forkserver with those modules preloaded); each runs the CLI's ``main`` with
the command's arguments, exactly what ``python -m cai_desktop run ...`` runs, without paying ~10 s
of imports per launch on a small machine. ``CAI_FAULTS_EXEC=1`` launches real
``python -m cai_desktop`` processes instead (slower).

The default is a short suite that fits CI (about 3 minutes on 2 cores): ``SHORT_TRIALS`` seeds per
kind. ``CAI_FAULTS_FULL=1`` runs ``FULL_TRIALS`` seeds per kind (the issue's >= 10). Both print
one line per kind (trials, kills, failures, ...) and a total, for the README.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
SEEDS = [3, 17, 29, 41, 59, 73, 89, 97, 113, 131, 151, 167]
#: trials per kind: the short suite (CI) and the full one (``CAI_FAULTS_FULL=1``)
SHORT_TRIALS = {"critique": 3, "pairs": 3, "label": 3, "sft": 2, "reward": 2, "dpo": 2, "ppo": 2}
FULL_TRIALS = 10
FULL = os.environ.get("CAI_FAULTS_FULL", "") not in ("", "0")
EXEC = os.environ.get("CAI_FAULTS_EXEC", "") not in ("", "0")
KINDS = ("critique", "pairs", "label", "sft", "reward", "dpo", "ppo")
TRAINERS = {"sft": "run-{}", "reward": "reward-{}", "dpo": "dpo-{}", "ppo": "ppo-{}"}
MAX_STEPS = 6
SAVE_STEPS = 2
N_PROMPTS = 12
#: after the seeded point of progress is reached, the kill comes within this many seconds
KILL_WITHIN = {"critique": 0.1, "pairs": 0.05, "label": 0.1, "sft": 1.0, "reward": 1.0, "dpo": 1.0, "ppo": 1.0}
CHILD_TIMEOUT = 120.0

PRELOAD = ["torch", "transformers", "peft", "datasets", "trl", "trl.trainer.sft_trainer", "trl.trainer.dpo_trainer",
           "trl.trainer.reward_trainer", "cai_desktop.cli", "cai_desktop.cli.jobs", "cai_desktop.jobs.registry",
           "cai_desktop.engine.models", "cai_desktop.engine.generation", "cai_desktop.engine.feedback",
           "cai_desktop.engine.sft", "cai_desktop.engine.reward", "cai_desktop.engine.dpo",
           "cai_desktop.engine.policy", "trl.experimental.ppo", "cai_desktop.engine.rl", "cai_desktop.jobs.ppo"]


# -- launching children ------------------------------------------------------------------------------
def _child(argv: list[str], log_path: str) -> None:
    """The child: the CLI's main with ``argv``, stdout and stderr into ``log_path``."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the child
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    from cai_desktop.cli import main

    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - a traceback is a finding: it goes to the log
        import traceback

        traceback.print_exc()
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Launcher:
    """Starts the CLI in a child process (forked from a preloaded server, or a fresh interpreter)."""

    def __init__(self) -> None:
        self.ctx = None
        if not EXEC:
            self.ctx = multiprocessing.get_context("forkserver")
            self.ctx.set_forkserver_preload(PRELOAD)

    def start(self, argv: list[str], log_path: Path):
        if self.ctx is None:
            fh = open(log_path, "a")  # noqa: SIM115 - closed when the process is reaped
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            return subprocess.Popen([sys.executable, "-m", "cai_desktop", *argv], stdout=fh, stderr=fh, env=env)
        proc = self.ctx.Process(target=_child, args=(argv, str(log_path)), daemon=True)
        proc.start()
        return proc

    @staticmethod
    def exitcode(proc) -> int | None:
        return proc.poll() if isinstance(proc, subprocess.Popen) else proc.exitcode

    @staticmethod
    def kill_and_reap(proc) -> int | None:
        proc.kill()  # SIGKILL
        if isinstance(proc, subprocess.Popen):
            return proc.wait(timeout=30)
        proc.join(timeout=30)
        return proc.exitcode

    def run(self, argv: list[str], log_path: Path) -> int:
        proc = self.start(argv, log_path)
        deadline = time.monotonic() + CHILD_TIMEOUT
        while self.exitcode(proc) is None:
            if time.monotonic() > deadline:
                self.kill_and_reap(proc)
                return -999
            time.sleep(0.05)
        return int(self.exitcode(proc))


@pytest.fixture(scope="module")
def launcher():
    return Launcher()


# -- the projects -------------------------------------------------------------------------------------
def _chain(run_id: int, prompt: dict, i: int) -> dict:
    answer, revision = f"Sure, here is how to do harm number {i}.", f"I can't help with that, but here is a safe option {i}."
    return {"run_id": run_id, "prompt_id": prompt["id"], "model_spec": "fake", "style": "chat", "n_revisions": 1,
            "seed": i, "sampling": {}, "initial_text": answer, "final_text": revision,
            "steps": [{"round": 0, "revision": answer, "raw_revision": answer, "cleaned": 0, "seed": i},
                      {"round": 1, "critique": "It helps with harm.", "revision": revision, "raw_revision": revision,
                       "cleaned": 0, "seed": i}]}


def _make_project(path: Path, kind: str, tiny: Path) -> dict:
    """A small project with what ``kind`` reads (made without training); returns ids for the command.
    PPO gets an SL-CAI adapter and a preference model on the tiny model (random weights, made once
    here, as ``tests/jobs/test_rl_jobs.py`` makes them)."""
    from cai_desktop.store.project import Project
    from tests.jobs.conftest import small_constitution

    ids: dict = {}
    with Project.create(path) as p:
        p.constitutions.save(small_constitution())
        p.prompts.add_set("rt", "red-team", [f"red team prompt number {i}" for i in range(N_PROMPTS)], test_fraction=0.2)
        p.prompts.add_set("help", "helpful", [f"helpful prompt number {i}" for i in range(4)], test_fraction=0.0)
        rt = p.prompts.of("rt")
        if kind == "sft":
            run_id = p.runs.create("critique", {})
            p.chains.save([_chain(run_id, q, i) for i, q in enumerate(rt)])
            p.runs.set_status(run_id, "done")
        if kind == "label":
            run_id = ids["pairs_run"] = p.runs.create("pairs", {})
            p.pairs.save([{"run_id": run_id, "prompt_id": q["id"], "response_a": f"No, I won't ({i}).",
                           "response_b": f"Sure, step one ({i})."} for i, q in enumerate(rt)])
            p.runs.set_status(run_id, "done")
        if kind in ("reward", "dpo"):
            run_id = ids["label_run"] = p.runs.create("label", {})
            p.comparisons.save([
                {"run_id": run_id, "source": "pair", "source_id": q["id"], "prompt_id": q["id"],
                 "prompt_text": q["text"],
                 "response_a": "I can't help with that, but here is a safe option." if i % 2 else "Sure, do harm.",
                 "response_b": "Sure, do harm." if i % 2 else "I can't help with that, but here is a safe option.",
                 "p_a": 0.8 if i % 2 else 0.2, "p_b": 0.2 if i % 2 else 0.8, "raw_label": 0.8 if i % 2 else 0.2,
                 "label": 0.8 if i % 2 else 0.2, "kind": "harmless", "mode": "direct", "clamp": "none"}
                for i, q in enumerate(rt)])
            p.runs.set_status(run_id, "done")
        if kind == "ppo":
            from tests.engine.test_rl import make_random_adapter, make_reward_model

            made = path.with_name("ppo-start")
            base = str(Path(tiny).resolve())
            ids["sft_adapter"] = p.adapters.register("sft", make_random_adapter(tiny, made / "sft"), base,
                                                     {"kind": "sft"}, name="sft")
            ids["reward_adapter"] = p.adapters.register("reward", make_reward_model(tiny, made / "rm"), base,
                                                        {"kind": "reward"}, name="rm")
    return ids


def _command(kind: str, project: Path, tiny: Path, ids: dict) -> list[str]:
    tiny, project = str(tiny), str(project)
    train = ["--max-steps", str(MAX_STEPS), "--batch-size", "2", "--save-steps", str(SAVE_STEPS), "--lora-rank", "4",
             "--lora-alpha", "8"]
    return {
        "critique": ["run", "critique", project, "--constitution", "tiny", "--set", "rt", "--model", tiny,
                     "--revisions", "1", "--max-new-tokens", "6", "--critique-max-new-tokens", "6",
                     "--batch-size", "2", "--split", "all"],
        "pairs": ["run", "pairs", project, "--set", "rt", "--model", tiny, "--max-new-tokens", "6",
                  "--batch-size", "2", "--split", "all"],
        "label": ["run", "label", project, "--source", "pairs", "--runs", str(ids.get("pairs_run")),
                  "--constitution", "tiny", "--model", tiny, "--batch-size", "2", "--split", "all"],
        "sft": ["run", "sft", project, "--base", tiny, "--max-length", "48", "--no-include-helpful", *train],
        "reward": ["run", "reward", project, "--base", tiny, "--runs", str(ids.get("label_run")), "--max-length", "64",
                   "--helpful-mix", "0", "--device", "cpu", *train],
        "dpo": ["run", "dpo", project, "--base", tiny, "--runs", str(ids.get("label_run")), "--split", "all",
                "--max-length", "48", *train],
        # PPO: MAX_STEPS rollouts of 2 prompts (episodes = steps x batch), a checkpoint (its own
        # step-N folder with a state file) every SAVE_STEPS steps
        "ppo": ["run", "ppo", project, "--adapter", str(ids.get("sft_adapter")), "--reward",
                str(ids.get("reward_adapter")), "--set", "rt", "--split", "all", "--limit", "4",
                "--episodes", str(2 * MAX_STEPS), "--batch-size", "2", "--response-length", "4", "--ppo-epochs", "1",
                "--max-prompt-length", "16", "--save-every", str(SAVE_STEPS), "--sample-every", "0",
                "--lora-rank", "4", "--lora-alpha", "8"],
    }[kind]


# -- what the file holds --------------------------------------------------------------------------
def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def _running_run(path: Path, kind: str, pid: int) -> int | None:
    try:
        con = _db(path)
        try:
            row = con.execute("SELECT id FROM runs WHERE kind=? AND status='running' AND owner_pid=?",
                              [kind, pid]).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


RECORDS = {  # kind -> (table, key columns, compared columns)
    "critique": ("chains", "run_id, prompt_id", "id, final_text, initial_text"),
    "pairs": ("response_pairs", "run_id, prompt_id", "id, response_a, response_b"),
    "label": ("comparisons", "run_id, source, source_id", "id, label, p_a"),
}


def _records(path: Path, kind: str, run_id: int) -> dict:
    if kind not in RECORDS:
        return {}
    table, key, cols = RECORDS[kind]
    con = _db(path)
    try:
        return {tuple(r[:-3]): tuple(r[-3:])
                for r in con.execute(f"SELECT {key}, {cols} FROM {table} WHERE run_id=?", [run_id])}
    finally:
        con.close()


def _progress(path: Path, kind: str, run_id: int) -> int:
    """How far a run is: its committed records, or a trainer's newest checkpoint folder (whole or not)."""
    if kind in TRAINERS:
        folder = _checkpoints_folder(path, kind, run_id)
        prefix = "step-" if kind == "ppo" else "checkpoint-"  # PPO's are step-N (step-N.tmp while written)
        names = [p.name[len(prefix):].removesuffix(".tmp") for p in folder.glob(prefix + "*")] \
            if folder.is_dir() else []
        return max((int(n) for n in names if n.isdigit()), default=0)
    try:
        return len(_records(path, kind, run_id))
    except sqlite3.Error:
        return 0


def _kill_point(kind: str, rng: random.Random) -> int:
    """The seeded point of progress after which the kill comes."""
    if kind in TRAINERS:
        return rng.choice(range(0, MAX_STEPS, SAVE_STEPS))
    return rng.randrange(0, N_PROMPTS - 4)  # the last batches go fast: a kill there mostly comes too late


def _checkpoints_folder(path: Path, kind: str, run_id: int) -> Path:
    return path.with_name(path.stem + "_artifacts") / TRAINERS[kind].format(run_id) / "checkpoints"


def _checkpoint_step(path: Path, kind: str, run_id: int) -> tuple[int, int]:
    """(step of the newest complete checkpoint, number of half-written ones) of a trainer run."""
    from cai_desktop.engine.sft import checkpoint_complete, complete_checkpoint

    folder = _checkpoints_folder(path, kind, run_id)
    if kind == "ppo":  # its own checkpoints: step-N with a state file; step-N.tmp while being written
        from cai_desktop.engine.rl import STATE_FILE, ppo_checkpoint_step

        broken = sum(1 for p in folder.glob("step-*") if p.is_dir() and not (p / STATE_FILE).is_file()) \
            if folder.is_dir() else 0
        return ppo_checkpoint_step(folder.parent), broken
    last = complete_checkpoint(folder, remove_broken=False)
    broken = sum(1 for p in folder.glob("checkpoint-*") if p.is_dir() and not checkpoint_complete(p)) \
        if folder.is_dir() else 0
    return (int(Path(last).name.rsplit("-", 1)[1]) if last else 0), broken


def trials(kind: str) -> int:
    return FULL_TRIALS if FULL else SHORT_TRIALS[kind]


def _problems_after(path: Path, kind: str, run_id: int, before: dict, ckpt_step: int, n_runs: int,
                    was_killed_running: bool) -> list[str]:
    """Everything the rerun must have put right (or a launch that was not killed did); empty
    when it did."""
    problems = []
    con = _db(path)
    try:
        if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            problems.append("integrity check failed")
        running = con.execute("SELECT id FROM runs WHERE status='running'").fetchall()
        if running:
            problems.append(f"runs left running: {running}")
        runs = con.execute("SELECT id, status, result_json FROM runs WHERE kind=? ORDER BY id", [kind]).fetchall()
        if len(runs) != n_runs:
            problems.append(f"{len(runs)} {kind} runs, expected {n_runs} (the killed run was not continued)")
        status = {r[0]: (r[1], json.loads(r[2] or "{}")) for r in runs}
        if status.get(run_id, ("missing",))[0] != "done":
            problems.append(f"run {run_id} ended {status.get(run_id, ('missing',))[0]!r}")
        logs = [r[0] for r in con.execute("SELECT text FROM run_logs WHERE run_id=?", [run_id])]
        if was_killed_running and not any(f"run {run_id} was left running by a process that is gone" in t for t in logs):
            problems.append("the rerun did not say it took over the dead run")
        for table, key in (("chains", "run_id, prompt_id"), ("response_pairs", "run_id, prompt_id"),
                           ("comparisons", "run_id, source, source_id")):
            dup = con.execute(f"SELECT {key}, COUNT(*) FROM {table} GROUP BY {key} HAVING COUNT(*) > 1").fetchall()
            if dup:
                problems.append(f"duplicate {table}: {dup[:3]}")
        partial = con.execute("SELECT c.id FROM chains c WHERE (SELECT COUNT(*) FROM chain_steps s WHERE "
                              "s.chain_id = c.id) != c.n_revisions + 1").fetchall()
        if partial:
            problems.append(f"chains without all their steps: {partial[:3]}")
        if kind in TRAINERS:
            result = status.get(run_id, ("", {}))[1]
            if result.get("steps") != MAX_STEPS:
                problems.append(f"ended at step {result.get('steps')}, not {MAX_STEPS}")
            said = f"resuming from step-{ckpt_step}: {ckpt_step} steps" if kind == "ppo" \
                else f"resuming from checkpoint-{ckpt_step}"
            if ckpt_step and not any(said in t for t in logs):
                problems.append(f"did not resume from its checkpoint at step {ckpt_step} (step count reset?)")
            adapters = con.execute("SELECT COUNT(*) FROM adapters WHERE run_id=?", [run_id]).fetchone()[0]
            if adapters != 1:
                problems.append(f"{adapters} adapter rows for the run")
            metric = "reward" if kind == "ppo" else "loss"
            steps = [r[0] for r in con.execute("SELECT step FROM metrics WHERE run_id=? AND name=?", [run_id, metric])]
            if len(steps) != len(set(steps)):
                problems.append(f"{metric} metric repeated at steps {sorted(s for s in set(steps) if steps.count(s) > 1)}")
            if kind == "ppo" and sorted(set(steps)) != list(range(1, MAX_STEPS + 1)):
                problems.append(f"reward logged at steps {sorted(set(steps))}, not 1..{MAX_STEPS}")
    finally:
        con.close()
    after = _records(path, kind, run_id)
    lost = [k for k in before if k not in after]
    changed = [k for k in before if k in after and after[k] != before[k]]
    if lost:
        problems.append(f"{len(lost)} committed records lost")
    if changed:
        problems.append(f"{len(changed)} committed records changed")
    want = N_PROMPTS if kind in RECORDS else None
    if want is not None and len(after) != want:
        problems.append(f"{len(after)} records after the rerun, expected {want}")
    return problems


# -- the suite ----------------------------------------------------------------------------------------
@dataclass
class Figures:
    trials: int = 0
    kills: int = 0
    #: launches that ended before their kill moment (checked as they are)
    finished_first: int = 0
    failures: int = 0
    resumed_checkpoints: int = 0
    half_written_met: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


FIGURES: dict[str, Figures] = {}


@pytest.fixture(scope="module", autouse=True)
def report(request):
    t0 = time.monotonic()
    yield
    lines = [f"fault suite ({'full' if FULL else 'short'}, {'exec' if EXEC else 'forked'} children, seeds "
             f"from {SEEDS}):"]
    for kind, f in FIGURES.items():
        lines.append(f"  {kind:9s} trials={f.trials} kills={f.kills} finished_first={f.finished_first} "
                     f"failures={f.failures} "
                     f"resumed_from_checkpoint={f.resumed_checkpoints} half_written_checkpoints={f.half_written_met} "
                     f"seconds={f.seconds:.0f}")
        lines += [f"    {n}" for n in f.notes]
    total = sum(f.trials for f in FIGURES.values())
    lines.append(f"  total trials={total} kills={sum(f.kills for f in FIGURES.values())} "
                 f"failures={sum(f.failures for f in FIGURES.values())} wall={time.monotonic() - t0:.0f}s")
    text = "\n".join(lines)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:  # shown whatever the capture mode, for the README's figures
        with capture.global_and_fixture_disabled():
            print("\n" + text, flush=True)
    else:
        print("\n" + text)
    out = os.environ.get("CAI_FAULTS_REPORT")
    if out:
        Path(out).write_text(json.dumps({k: vars(v) for k, v in FIGURES.items()}, indent=2))


@pytest.fixture(scope="module", autouse=True)
def stop_forkserver():
    yield
    from multiprocessing import forkserver

    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if stop is not None:
        stop()


@pytest.mark.parametrize("kind", KINDS)
def test_kill_9_then_the_same_command(kind, tmp_path, tiny_model_dir, launcher):
    figures = FIGURES.setdefault(kind, Figures())
    t0 = time.monotonic()
    path = tmp_path / "f.caiproj"
    ids = _make_project(path, kind, Path(tiny_model_dir))
    argv = _command(kind, path, Path(tiny_model_dir), ids)
    n_runs = 0
    for n, seed in enumerate(SEEDS[:trials(kind)]):
        figures.trials += 1
        log = tmp_path / f"trial-{n}.log"
        rng = random.Random(f"{kind}:{seed}")
        proc = launcher.start(argv, log)
        run_id, deadline = None, time.monotonic() + CHILD_TIMEOUT
        while run_id is None and launcher.exitcode(proc) is None and time.monotonic() < deadline:
            run_id = _running_run(path, kind, proc.pid)
            time.sleep(0.02)
        problems: list[str] = []
        if run_id is None:
            launcher.kill_and_reap(proc)
            problems.append(f"the run never started (exit {launcher.exitcode(proc)}): {log.read_text()[-400:]}")
        else:
            n_runs += 1
            point = _kill_point(kind, rng)
            while launcher.exitcode(proc) is None and _progress(path, kind, run_id) < point \
                    and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, KILL_WITHIN[kind]))
            killed_running = False
            if launcher.exitcode(proc) is None:
                launcher.kill_and_reap(proc)
                figures.kills += 1
                con = _db(path)
                killed_running = con.execute("SELECT status FROM runs WHERE id=?", [run_id]).fetchone()[0] == "running"
                con.close()
            else:
                figures.finished_first += 1
                while launcher.exitcode(proc) is None:
                    time.sleep(0.02)
                if launcher.exitcode(proc) != 0:
                    problems.append(f"the launch failed (exit {launcher.exitcode(proc)}): {log.read_text()[-400:]}")
            before = _records(path, kind, run_id)
            ckpt_step, broken = _checkpoint_step(path, kind, run_id) if kind in TRAINERS else (0, 0)
            figures.half_written_met += broken
            if killed_running:
                figures.resumed_checkpoints += bool(ckpt_step)
                rc = launcher.run(argv, log)
                if rc != 0:
                    problems.append(f"the rerun failed (exit {rc}): {log.read_text()[-600:]}")
            else:
                ckpt_step = 0  # a finished run: nothing to resume
            if not problems:
                problems += _problems_after(path, kind, run_id, before, ckpt_step, n_runs, killed_running)
        text = log.read_text() if log.exists() else ""
        if "Traceback" in text:
            problems.append("a traceback was printed: " + text[text.index("Traceback"):][:600])
        if problems:
            figures.failures += 1
            figures.notes.append(f"seed {seed}: " + "; ".join(problems))
    figures.seconds += time.monotonic() - t0
    assert figures.failures == 0, "\n".join(figures.notes)
