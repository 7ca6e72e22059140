"""Every declared job, in workflow order. The GUI's launch buttons and dialogs and the CLI's
``run`` subcommands are generated from this list; importing it loads no torch."""

from __future__ import annotations

from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs import critique, distill, dpo, evaluate, label, pairs, ppo, reward, sft
from cai_desktop.jobs.base import Job
from cai_desktop.jobs.compare import JOB as COMPARE_JOB
from cai_desktop.jobs.robustness import JOB as ROBUSTNESS_JOB

JOBS: dict[str, Job] = {j.kind: j for j in (
    critique.JOB, distill.JOB, sft.JOB, evaluate.JOB, pairs.JOB, label.JOB, reward.JOB, ppo.JOB, dpo.JOB,
)}
JOBS[ROBUSTNESS_JOB.kind] = ROBUSTNESS_JOB
JOBS[COMPARE_JOB.kind] = COMPARE_JOB

#: kinds that get a "New run" button, in workflow order
LAUNCHABLE = tuple(JOBS)
#: the buttons' rows
STAGES = (("Stage 1 · SL-CAI", ("critique", "distill", "sft", "eval")),
          ("Stage 2 · RL-CAI", ("pairs", "label", "reward", "ppo", "dpo")),
          ("Evaluation", ("compare", "robustness")))


def job(kind: str) -> Job:
    try:
        return JOBS[kind]
    except KeyError:
        raise ValidationError(f"Unknown job kind {kind!r}; the kinds are: {', '.join(JOBS)}.") from None
