"""Every declared job, in workflow order. The GUI's launch buttons and dialogs and the CLI's
``run`` subcommands are generated from this list; importing it loads no torch."""

from __future__ import annotations

from cai_desktop.core.errors import ValidationError
from cai_desktop.jobs import critique, distill, dpo, evaluate, label, pairs, ppo, reward, rloo, sft
from cai_desktop.jobs.base import Job
from cai_desktop.jobs.compare import JOB as COMPARE_JOB
from cai_desktop.jobs.implied import JOB as IMPLIED_JOB
from cai_desktop.jobs.monitor import JOB as MONITOR_JOB
from cai_desktop.jobs.robustness import JOB as ROBUSTNESS_JOB

JOBS: dict[str, Job] = {j.kind: j for j in (
    critique.JOB, distill.JOB, sft.JOB, evaluate.JOB, pairs.JOB, label.JOB, reward.JOB, rloo.JOB, ppo.JOB, dpo.JOB,
)}
JOBS[ROBUSTNESS_JOB.kind] = ROBUSTNESS_JOB
JOBS[COMPARE_JOB.kind] = COMPARE_JOB
JOBS[IMPLIED_JOB.kind] = IMPLIED_JOB
JOBS[MONITOR_JOB.kind] = MONITOR_JOB

#: kinds that get a "New run" button, in workflow order
LAUNCHABLE = tuple(JOBS)
#: the buttons' rows
STAGES = (("Stage 1 · SL-CAI", ("critique", "distill", "sft", "eval")),
          ("Stage 2 · RL-CAI", ("pairs", "label", "reward", "rloo", "ppo", "dpo")),
          ("Evaluation", ("compare", "robustness", "monitor")),
          ("Team review", ("implied",)))


#: kind -> why this installation cannot run it (None: it can); cheap enough for drawing buttons
UNAVAILABLE = {"ppo": ppo.unavailable}


def unavailable(kind: str) -> str | None:
    """Why a job kind is not offered here (PPO without a TRL that has it), in the GUI's words; None: offered."""
    check = UNAVAILABLE.get(kind)
    return check() if check else None


def job(kind: str) -> Job:
    try:
        return JOBS[kind]
    except KeyError:
        raise ValidationError(f"Unknown job kind {kind!r}; the kinds are: {', '.join(JOBS)}.") from None
