"""Which data each page shows and which data each job changes, so the window refreshes only the
pages a finished job (or another page's edit) made stale. Plain data; no Qt.

Job kinds are those of ``cai_desktop.jobs.registry.JOBS`` (a test keeps the two in step); a kind
not listed here (a new job, a light call) refreshes every page.
"""

from __future__ import annotations

CONSTITUTIONS = "constitutions"
PROMPTS = "prompts"
CHAINS = "chains"
COMPARISONS = "comparisons"
RUNS = "runs"
MODELS = "models"
ADAPTERS = "adapters"
MONITORING = "monitoring"

ALL: frozenset[str] = frozenset({CONSTITUTIONS, PROMPTS, CHAINS, COMPARISONS, RUNS, MODELS, ADAPTERS, MONITORING})

#: page key -> the data kinds it shows (the inspector and comparisons also filter by prompt set)
PAGE_DATA: dict[str, frozenset[str]] = {
    "start": ALL,
    "constitution": frozenset({CONSTITUTIONS}),
    "prompts": frozenset({PROMPTS}),
    "inspector": frozenset({CHAINS, PROMPTS}),
    "comparisons": frozenset({COMPARISONS, PROMPTS}),
    "runs": frozenset({RUNS}),
    "models": frozenset({MODELS, ADAPTERS}),
    "monitoring": frozenset({MONITORING, RUNS, PROMPTS}),
    "agreement": frozenset({CHAINS, COMPARISONS, RUNS}),  # reviews, the disagreement queue, implied runs
}

#: job kind -> the data kinds it changes (a cancelled or failed job has changed them too:
#: every finished batch is kept)
JOB_CHANGES: dict[str, frozenset[str]] = {
    "critique": frozenset({CHAINS, RUNS}),
    "distill": frozenset({COMPARISONS, RUNS, MODELS}),
    "sft": frozenset({ADAPTERS, RUNS, MODELS}),
    "eval": frozenset({RUNS}),
    "robustness": frozenset({RUNS}),
    "monitor": frozenset({MONITORING, RUNS}),
    "compare": frozenset({COMPARISONS, RUNS}),
    "pairs": frozenset({COMPARISONS, RUNS}),
    "label": frozenset({COMPARISONS, RUNS}),
    "reward": frozenset({ADAPTERS, RUNS, MODELS}),
    "rloo": frozenset({ADAPTERS, RUNS, MODELS}),
    "ppo": frozenset({ADAPTERS, RUNS, MODELS}),
    "dpo": frozenset({ADAPTERS, RUNS, MODELS}),
    "tryit": frozenset(),  # a quick answer on the Models page; records nothing
    "gguf-export": frozenset(),  # GGUF files written to a folder; records nothing
    "implied": frozenset({RUNS}),  # its votes and scores are the run's result
    "draft_principle": frozenset(),  # a teacher's draft, opened in the editor; records nothing
}


def page_data(key: str) -> frozenset[str]:
    """The data kinds page ``key`` shows (an unknown page: everything)."""
    return PAGE_DATA.get(key, ALL)


def job_changes(kind: str) -> frozenset[str]:
    """The data kinds a job of ``kind`` changes (an unknown kind: everything)."""
    return JOB_CHANGES.get(kind, ALL)
