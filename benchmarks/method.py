"""Human effort → harm avoided: the standard recipe with k = 0, 25, 50, 100 human demonstrations.

On the embedded model (or ``--model``): critique-and-revision chains on red-team training prompts
and helpful answers (teacher = student), then for each k one LoRA SFT adapter on those chains plus
k demonstrations written by a SCRIPTED STAND-IN reviewer (``benchmarks/standin_reviewer.py``; it
follows the general constitution's revision requests; it is not a person and never ships in
starter data): half of them refusals-with-alternatives for red-team training prompts, half helpful
answers to benign training prompts that look risky (what keeps over-refusal down). Every adapter and the base model answer the held-out sets (``heldout-harmful``,
``heldout-benign``: never trained on), judged by ``core/judge.py`` (its precision and recall are
measured in the tests). Prints the curve with n and 95 % Wilson intervals, the paired verdicts,
and as its last line ``k0_gain=<pp> k100_gain=<pp> overrefusal_k100=<pct>`` (gains in percentage
points of harm avoided over the base model).

    python benchmarks/method.py                      # the standard size (~30-45 min on 2 idle CPU cores)
    python benchmarks/method.py --quick              # a smoke run of the same pipeline (minutes)
    python benchmarks/method.py --svg docs/method_curve.svg
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from standin_reviewer import demonstration, helpful_demonstrations  # noqa: E402

STANDARD = dict(ks=(0, 25, 50, 100), red_team=32, helpful=32, revisions=1, sft_steps=40, human_weight=2.0,
                eval_limit=60, max_new_tokens=80)
QUICK = dict(ks=(0, 25), red_team=8, helpful=6, revisions=1, sft_steps=10, human_weight=2.0, eval_limit=12,
             max_new_tokens=48)


def _svg(points: list[tuple[int, float, float, float]], base: float, path: Path,
         over_refusal: list[tuple[int, float]] | None = None) -> None:
    """A small SVG plot of harm avoided (with its interval) against k, the base as a dashed line, and
    the over-refusal on benign prompts it costs (red)."""
    w, h, m = 480, 300, 50
    kmax = max(p[0] for p in points) or 1

    def x(k: float) -> float:
        return m + (w - 2 * m) * k / kmax

    def y(v: float) -> float:
        return h - m - (h - 2 * m) * v

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="12"><rect width="{w}" height="{h}" fill="white"/>',
             f'<line x1="{m}" y1="{y(0)}" x2="{w - m}" y2="{y(0)}" stroke="black"/>',
             f'<line x1="{m}" y1="{y(0)}" x2="{m}" y2="{y(1)}" stroke="black"/>']
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text x="{m - 8}" y="{y(v) + 4}" text-anchor="end">{100 * v:.0f}%</text>')
    for k, *_ in points:
        parts.append(f'<text x="{x(k)}" y="{y(0) + 16}" text-anchor="middle">{k}</text>')
    parts.append(f'<line x1="{m}" y1="{y(base)}" x2="{w - m}" y2="{y(base)}" stroke="gray" stroke-dasharray="4"/>'
                 f'<text x="{w - m}" y="{y(base) - 4}" text-anchor="end" fill="gray">base model</text>')
    for k, _rate, lo, hi in points:
        parts.append(f'<line x1="{x(k)}" y1="{y(lo)}" x2="{x(k)}" y2="{y(hi)}" stroke="#1f6feb"/>')
    parts.append('<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="'
                 + " ".join(f"{x(k)},{y(r)}" for k, r, _, _ in points) + '"/>')
    for k, r, _, _ in points:
        parts.append(f'<circle cx="{x(k)}" cy="{y(r)}" r="4" fill="#1f6feb"/>')
    if over_refusal:
        parts.append('<polyline fill="none" stroke="#b3261e" stroke-width="2" stroke-dasharray="6 3" points="'
                     + " ".join(f"{x(k)},{y(v)}" for k, v in over_refusal) + '"/>')
        k_last, v_last = over_refusal[-1]
        parts.append(f'<text x="{x(k_last) - 6}" y="{y(v_last) + 16}" text-anchor="end" fill="#b3261e">'
                     'over-refusal on benign prompts</text>')
    parts.append(f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">human demonstrations (k)</text>'
                 f'<text x="{w / 2}" y="20" text-anchor="middle">harm avoided on held-out harmful prompts '
                 '(95% interval)</text></svg>')
    path.write_text("\n".join(parts), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run of the same pipeline")
    ap.add_argument("--model", default=None, help="the student = teacher model (default: the embedded model)")
    ap.add_argument("--out", default="/tmp/cai-method", help="folder for the project file")
    ap.add_argument("--svg", default=None, help="write the curve as an SVG plot here")
    ap.add_argument("--json", default=None, help="write the figures as JSON here")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the project of an earlier run and reuse its finished chains, demonstrations and adapters")
    ap.add_argument("--ks", default=None,
                    help="comma-separated numbers of demonstrations to train with (default: 0,25,50,100; must include 0)")
    args = ap.parse_args()
    size = dict(QUICK if args.quick else STANDARD)
    if args.ks:
        size["ks"] = tuple(sorted({int(k) for k in args.ks.split(",")}))
        if 0 not in size["ks"]:
            ap.error("--ks must include 0 (the k0_gain figure)")

    from cai_desktop.jobs.context import ConsoleContext
    from cai_desktop.jobs.critique import CritiqueParams, run_critique
    from cai_desktop.jobs.demos import add_demonstrations
    from cai_desktop.jobs.evaluate import EvalParams, run_eval
    from cai_desktop.jobs.sample import add_starter_content
    from cai_desktop.jobs.sft import SFTParams, run_sft
    from cai_desktop.store.project import Project

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("method-quick.caiproj" if args.quick else "method.caiproj")
    if not args.reuse:
        for old in out.glob(path.name + "*"):
            old.unlink()
    with Project.create(path, exist_ok=True) as project:
        add_starter_content(project)
        if args.model:
            project.roles.set("student", args.model)
    ctx = ConsoleContext()
    t0 = time.monotonic()
    common = dict(project=str(path), constitution="general", split="train", batch_size=16,
                  max_new_tokens=128 if not args.quick else 48, critique_max_new_tokens=96 if not args.quick else 32)
    def finished(kind: str, **match) -> dict | None:
        """With --reuse: an earlier finished run of ``kind`` with these settings (a finished run is never
        reopened by the resume policy, so the benchmark looks it up itself)."""
        if not args.reuse:
            return None
        with Project.open(path) as project:
            for run in project.runs.list(kind):
                cfg = json.loads(run.get("config_json") or "{}")
                if run["status"] == "done" and all(cfg.get(k) == v for k, v in match.items()):
                    return {"run_id": run["id"], **json.loads(run.get("result_json") or "{}")}
        return None

    print("== critique and revision chains (teacher = student)")
    crit = finished("critique", prompt_set="red-team", revisions=size["revisions"], limit=size["red_team"]) or \
        run_critique(ctx, CritiqueParams(prompt_set="red-team", revisions=size["revisions"], limit=size["red_team"],
                                         **common))
    helpful = finished("critique", prompt_set="helpful", revisions=0, limit=size["helpful"]) or \
        run_critique(ctx, CritiqueParams(prompt_set="helpful", revisions=0, limit=size["helpful"], **common))
    with Project.open(path) as project:
        train = project.prompts.of("red-team", split="train")
        helpful_demos = helpful_demonstrations()
        demo_runs = {}
        for k in size["ks"]:
            earlier = [r for r in project.runs.list("demonstrations") if args.reuse and r["status"] == "done"
                       and json.loads(r.get("result_json") or "{}").get("demonstrations") == k]
            if k and earlier:
                demo_runs[k] = earlier[0]["id"]
            elif k:
                n_helpful = min(k // 2, len(helpful_demos))
                rows = [{"prompt": p["text"], "response": demonstration(p["text"], p["category"])}
                        for p in train[:k - n_helpful]] + helpful_demos[:n_helpful]
                demo_runs[k] = add_demonstrations(project, rows, prompt_set="stand-in demonstrations",
                                                  reviewer="scripted stand-in (benchmarks/standin_reviewer.py)")["run_id"]
    adapters: dict[int, int] = {}
    for k in size["ks"]:
        print(f"\n== SFT with k = {k} stand-in demonstrations")
        runs = [crit["run_id"], helpful["run_id"]] + ([demo_runs[k]] if k else [])
        r = finished("sft", run_ids=runs, max_steps=size["sft_steps"], human_weight=size["human_weight"]) or \
            run_sft(ctx, SFTParams(project=str(path), run_ids=runs, max_steps=size["sft_steps"], max_length=256,
                                   human_weight=size["human_weight"], include_distilled=False))
        adapters[k] = r["adapter_id"]
        print(f"adapter {r['adapter_id']}: {r['lineage']['data']['sources_weighted']}")
    print("\n== held-out evaluation (base and every adapter)")
    ev = run_eval(ctx, EvalParams(project=str(path), adapter_ids=list(adapters.values()), include_base=True,
                                  limit=size["eval_limit"], max_new_tokens=size["max_new_tokens"], examples=2))
    labels = {p.get("adapter_id"): p["label"] for p in ev["policies"]}
    judged = ev["judged"]
    base = judged[labels[None]]
    base_harm = base["red-team"]["harm_avoided"]
    print(f"\njudge: precision {ev['judge']['precision']:.2f}, recall {ev['judge']['recall']:.2f} "
          f"(n={ev['judge']['n']}, {ev['judge']['on']})")
    print(f"{'k':>4} {'harm avoided (95% CI)':>26} {'gain':>7} {'over-refusal (95% CI)':>26} {'on-topic':>9}")

    def row(name: str, s: dict) -> tuple[float, float]:
        h, o = s["red-team"]["harm_avoided"], s["helpful"]["over_refusal"]
        on_topic = 1 - s["helpful"]["off_topic"]["rate"]
        gain = 100 * (h["rate"] - base_harm["rate"])
        print(f"{name:>4} {100 * h['rate']:>6.1f}% ({100 * h['low']:.0f}–{100 * h['high']:.0f}%) of {h['n']:<4}"
              f" {gain:>+6.1f} {100 * o['rate']:>6.1f}% ({100 * o['low']:.0f}–{100 * o['high']:.0f}%) of {o['n']:<4}"
              f" {100 * on_topic:>8.1f}%")
        return gain, 100 * o["rate"]

    row("base", base)
    figures = {}
    for k, aid in adapters.items():
        figures[k] = row(str(k), judged[labels[aid]])
    for line in ev.get("verdicts") or []:
        print(line)
    minutes = (time.monotonic() - t0) / 60
    print(f"whole run: {minutes:.1f} min")
    points = [(k, judged[labels[aid]]["red-team"]["harm_avoided"]["rate"],
               judged[labels[aid]]["red-team"]["harm_avoided"]["low"],
               judged[labels[aid]]["red-team"]["harm_avoided"]["high"]) for k, aid in adapters.items()]
    if args.svg:
        _svg(points, base_harm["rate"], Path(args.svg), [(k, figures[k][1] / 100) for k in adapters])
    if args.json:
        Path(args.json).write_text(json.dumps({"figures": figures, "points": points, "base": base_harm,
                                               "verdicts": ev.get("verdicts"), "minutes": minutes}, indent=1))
    kmax = max(adapters)
    print(f"k0_gain={figures[0][0]:.1f} k{kmax}_gain={figures[kmax][0]:.1f} overrefusal_k{kmax}={figures[kmax][1]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
