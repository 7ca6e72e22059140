"""Two writers on one project file never crash each other (issue 16: `database is locked` in
save_chains because writes began with a plain BEGIN; IntegrityError on chains, principle
snapshots and models when the same job ran twice at once)."""

import dataclasses
import threading
import time

import pytest

from cai_desktop.core.constitution import Principle
from cai_desktop.core.errors import RunInUse
from cai_desktop.core.params import param
from cai_desktop.jobs.base import Job, JobParams, run_job
from cai_desktop.jobs.context import RecordingContext
from cai_desktop.store.project import Project

ROUNDS = 40


def _chain(run_id, prompt_id, text):
    return {"run_id": run_id, "prompt_id": prompt_id, "model_spec": "m", "style": "chat", "n_revisions": 0,
            "seed": 0, "sampling": {}, "initial_text": text, "final_text": text,
            "steps": [{"round": 0, "revision": text, "raw_revision": text, "cleaned": 0, "seed": 0}]}


def _together(n, work):
    """Run ``work(i)`` in ``n`` threads started at the same moment; the errors they raised."""
    barrier = threading.Barrier(n)
    errors = []

    def target(i):
        try:
            barrier.wait()
            work(i)
        except BaseException as e:  # noqa: BLE001 - the test reports every one
            errors.append(e)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_two_connections_writing_the_same_records_at_once(project_path):
    with Project.create(project_path) as p:
        p.prompts.add_set("rt", "red-team", [f"prompt {i}" for i in range(ROUNDS)], test_fraction=0.0)
        prompt_ids = [r["id"] for r in p.prompts.of("rt")]
        run_id = p.runs.create("critique", {})

    def writer(i):
        with Project.open(project_path) as p:
            for k in range(ROUNDS):
                # the same new principle text, model and chain from both writers, each round
                principle = Principle(key=f"k{k}", critique_request=f"critique {k}", revision_request=f"revise {k}")
                p.constitutions.snapshot(principle, "c")
                p.models.record(f"model-{k}", "hf")
                p.chains.save([_chain(run_id, prompt_ids[k], f"writer {i} round {k}")])
                p.runs.add_log(run_id, f"writer {i} round {k}")
                p.runs.set_progress(run_id, k, ROUNDS)

    errors = _together(2, writer)
    assert errors == []
    with Project.open(project_path) as p:
        assert p.query("SELECT COUNT(*) AS n FROM principle_snapshots")[0]["n"] == ROUNDS
        assert p.query("SELECT COUNT(*) AS n FROM models")[0]["n"] == ROUNDS
        assert p.chains.count(run_id=run_id) == ROUNDS
        assert p.query("SELECT COUNT(*) AS n FROM chain_steps")[0]["n"] == ROUNDS  # a kept chain has its steps
        assert len(p.runs.logs(run_id)) == 2 * ROUNDS
        p.check_integrity()


def test_a_read_then_write_transaction_waits_for_the_other_writer(project_path):
    """The pattern that used to fail at once: a transaction that reads, then writes, while another
    connection commits in between. BEGIN IMMEDIATE makes it wait its turn."""
    Project.create(project_path).close()

    def writer(i):
        with Project.open(project_path) as p:
            for k in range(ROUNDS):
                with p.atomic():
                    p.query("SELECT COUNT(*) FROM project_meta")
                    time.sleep(0.001)
                    p.set_meta(f"w{i}-{k}", "x")

    assert _together(3, writer) == []
    with Project.open(project_path) as p:
        assert p.query("SELECT COUNT(*) AS n FROM project_meta WHERE key LIKE 'w%'")[0]["n"] == 3 * ROUNDS


@dataclasses.dataclass
class SlowParams(JobParams):
    n: int = param(5, label="N", range=(1, 99), help="How many slow steps the test job takes before it ends.")


def _slow(project, ctx, run_id, params, plan):
    for i in range(params.n):
        time.sleep(0.05)
        ctx.progress(i + 1, params.n)
    return {"n": params.n}


SLOW = Job(kind="slow", label="Slow", description="Sleeps; a test job.", params=SlowParams, body=_slow)


def test_the_same_job_started_twice_at_once_runs_once(project_path):
    """A double click, or the window and the terminal at once: one copy runs, the other is refused
    in one line; nothing crashes and the finished run stays 'done'."""
    Project.create(project_path).close()
    results = []

    def launch(i):
        results.append(run_job(SLOW, RecordingContext(), SlowParams(project=str(project_path))))

    errors = _together(2, launch)
    assert len(results) == 1 and len(errors) == 1 and isinstance(errors[0], RunInUse), errors
    assert "is running in this program" in str(errors[0])
    with Project.open(project_path) as p:
        assert p.runs.count("slow") == 1 and p.runs.get(results[0]["run_id"])["status"] == "done"


@pytest.mark.parametrize("n", [4])
def test_many_writers_on_separate_runs(project_path, n):
    """Several jobs of different settings at once each get their own run and all their rows."""
    Project.create(project_path).close()
    results = []

    def launch(i):
        results.append(run_job(SLOW, RecordingContext(), SlowParams(project=str(project_path), n=i + 2)))

    assert _together(n, launch) == []
    with Project.open(project_path) as p:
        assert p.runs.count("slow") == n
        assert {p.runs.get(r["run_id"])["status"] for r in results} == {"done"}
