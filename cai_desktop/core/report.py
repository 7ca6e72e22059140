"""A self-contained HTML report of an evaluation run, and the SVG plots it (and the jobs) draw.

One file a lab can send around: inline CSS, inline SVG figures, tables that give every rate with
its n and 95 % interval, examples side by side, the run's settings and its lineage (which model,
adapter and training run each policy came from). No scripts, no external fonts or images. The
markup is also well-formed XML, so it can be checked mechanically.

A report is a list of :class:`Section` s; :func:`sections_for` picks the builder for a run's kind.
Builders for ``eval`` and ``compare`` live here; another evaluation job adds its own with
:func:`register_sections` (``register_sections("robustness", my_sections)``, at import time of the
job's module) and reuses the helpers :func:`table`, :func:`rate_text`, :func:`figure`,
:func:`bars_svg` and :func:`side_by_side`. Plain Python (no Qt, no store): the caller passes the
run row and its result.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: policy colours of the plots (cycled)
COLOURS = ("#1f6feb", "#b3261e", "#1a7f37", "#8250df", "#bf8700", "#0a7ea4", "#cf222e", "#57606a")


@dataclass
class Section:
    title: str
    body: str  # well-formed HTML (already escaped)


SectionBuilder = Callable[[dict[str, Any]], list[Section]]
_BUILDERS: dict[str, SectionBuilder] = {}


def register_sections(kind: str, builder: SectionBuilder) -> None:
    """Use ``builder(result) -> [Section]`` for runs of ``kind``."""
    _BUILDERS[kind] = builder


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def rate_text(r: dict[str, Any] | None) -> str:
    """``"42% (30–55%), n=40"`` for a rate dict ``{"rate", "low", "high", "n"}``."""
    if not r or r.get("rate") is None:
        return f"n/a (n={(r or {}).get('n', 0)})"
    return f"{pct(r['rate'])} ({100 * r['low']:.0f}–{100 * r['high']:.0f}%), n={r['n']}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    """An HTML table; cells are escaped text."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(svg: str, caption: str) -> str:
    return f'<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>'


def side_by_side(examples: Sequence[dict[str, Any]], policies: Sequence[str]) -> str:
    """Each example prompt with every policy's answer in a column (and the judge's label)."""
    out = []
    for e in examples:
        cols = "".join(
            f'<div class="answer"><div class="who">{esc(p)}'
            + (f' · <span class="judge">{esc((e.get("judged") or {}).get(p))}</span>'
               if (e.get("judged") or {}).get(p) else "")
            + f'</div><pre>{esc((e.get("answers") or {}).get(p, ""))}</pre></div>'
            for p in policies)
        out.append(f'<div class="example"><div class="prompt"><span class="kind">{esc(e.get("kind"))}</span> '
                   f'{esc(e.get("prompt"))}</div><div class="answers">{cols}</div></div>')
    return "".join(out) or "<p>No examples.</p>"


def _num(x: float) -> str:
    return f"{x:.1f}"


def frontier_svg(points: Sequence[dict[str, Any]], width: int = 560, height: int = 420) -> str:
    """The harmlessness-vs-helpfulness scatter: x = helpful on benign prompts, y = harm avoided on
    harmful prompts, one point per policy with its 95 % interval as error bars on both axes."""
    m_l, m_r, m_t, m_b = 60, 20, 36, 56
    pw, ph = width - m_l - m_r, height - m_t - m_b

    def x(v: float) -> float:
        return m_l + pw * v

    def y(v: float) -> float:
        return m_t + ph * (1 - v)

    p = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>']
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        p.append(f'<line x1="{_num(x(v))}" y1="{_num(y(0))}" x2="{_num(x(v))}" y2="{_num(y(1))}" stroke="#e5e7eb"/>'
                 f'<line x1="{_num(x(0))}" y1="{_num(y(v))}" x2="{_num(x(1))}" y2="{_num(y(v))}" stroke="#e5e7eb"/>'
                 f'<text x="{_num(x(v))}" y="{_num(y(0) + 16)}" text-anchor="middle">{pct(v)}</text>'
                 f'<text x="{_num(x(0) - 6)}" y="{_num(y(v) + 4)}" text-anchor="end">{pct(v)}</text>')
    p.append(f'<rect x="{m_l}" y="{m_t}" width="{pw}" height="{ph}" fill="none" stroke="#57606a"/>')
    for i, pt in enumerate(points):
        hx, hy = pt.get("helpful") or {}, pt.get("harm_avoided") or {}
        if hx.get("rate") is None or hy.get("rate") is None:
            continue
        c = COLOURS[i % len(COLOURS)]
        cx, cy = x(hx["rate"]), y(hy["rate"])
        p.append(f'<line x1="{_num(x(hx["low"]))}" y1="{_num(cy)}" x2="{_num(x(hx["high"]))}" y2="{_num(cy)}" '
                 f'stroke="{c}" stroke-width="1.5"/>'
                 f'<line x1="{_num(cx)}" y1="{_num(y(hy["low"]))}" x2="{_num(cx)}" y2="{_num(y(hy["high"]))}" '
                 f'stroke="{c}" stroke-width="1.5"/>'
                 f'<circle cx="{_num(cx)}" cy="{_num(cy)}" r="5" fill="{c}"/>')
        label = str(pt["policy"])
        right = cx + 8 + 6.6 * len(label) <= width - 4  # about 6.6 px a character at 12 px
        p.append(f'<text x="{_num(cx + 8 if right else cx - 8)}" y="{_num(cy - 6 - 13 * (i % 2))}" fill="{c}" '
                 f'text-anchor="{"start" if right else "end"}">{esc(label)}</text>')
    p.append(f'<text x="{_num(m_l + pw / 2)}" y="{height - 14}" text-anchor="middle">helpful on held-out benign '
             'prompts (answered on topic, not refused)</text>'
             f'<text transform="translate(16 {_num(m_t + ph / 2)}) rotate(-90)" text-anchor="middle">harm avoided on '
             'held-out harmful prompts</text>'
             f'<text x="{_num(width / 2)}" y="20" text-anchor="middle" font-weight="bold">Harmlessness vs '
             'helpfulness (95% intervals)</text></svg>')
    return "".join(p)


def bars_svg(groups: Sequence[tuple[str, Sequence[tuple[str, dict[str, Any]]]]], title: str,
             width: int = 560) -> str:
    """Horizontal bars with 95 % whiskers: ``groups`` = ``[(group label, [(series label, rate dict)])]``;
    a series keeps its colour across groups."""
    series: list[str] = []
    for _, items in groups:
        for s, _r in items:
            if s not in series:
                series.append(s)
    bar, gap, m_l, m_r, m_t = 12, 14, 170, 60, 34
    legend_h = 18 * len(series)
    height = m_t + sum(bar * len(items) + gap for _, items in groups) + legend_h + 30
    pw = width - m_l - m_r

    def x(v: float) -> float:
        return m_l + pw * v

    p = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{width / 2}" y="18" text-anchor="middle" font-weight="bold" font-size="12">{esc(title)}</text>']
    yy = m_t
    for v in (0, 0.5, 1.0):
        p.append(f'<line x1="{_num(x(v))}" y1="{m_t - 4}" x2="{_num(x(v))}" y2="{height - legend_h - 26}" '
                 f'stroke="#d0d7de" stroke-dasharray="{"" if v != 0.5 else "3"}"/>'
                 f'<text x="{_num(x(v))}" y="{height - legend_h - 14}" text-anchor="middle">{pct(v)}</text>')
    for label, items in groups:
        short = label if len(label) <= 26 else label[:25] + "…"
        p.append(f'<text x="{m_l - 6}" y="{_num(yy + bar * len(items) / 2 + 4)}" text-anchor="end">{esc(short)}</text>')
        for s, r in items:
            c = COLOURS[series.index(s) % len(COLOURS)]
            if r.get("rate") is not None:
                p.append(f'<rect x="{m_l}" y="{yy + 1}" width="{_num(pw * r["rate"])}" height="{bar - 2}" fill="{c}" '
                         f'fill-opacity="0.75"/>'
                         f'<line x1="{_num(x(r["low"]))}" y1="{yy + bar / 2}" x2="{_num(x(r["high"]))}" '
                         f'y2="{yy + bar / 2}" stroke="#24292f"/>'
                         f'<text x="{_num(x(r["high"]) + 4)}" y="{yy + bar - 2}" fill="#57606a">n={r.get("n", 0)}</text>')
            yy += bar
        yy += gap
    ly = height - legend_h - 4
    for i, s in enumerate(series):
        c = COLOURS[i % len(COLOURS)]
        p.append(f'<rect x="{m_l}" y="{ly + 18 * i}" width="10" height="10" fill="{c}"/>'
                 f'<text x="{m_l + 16}" y="{ly + 18 * i + 9}">{esc(s)}</text>')
    p.append("</svg>")
    return "".join(p)


def win_rate_svg(win_rates: dict[str, dict[str, dict[str, Any]]], policies: Sequence[str],
                 title: str = "Win rate per principle (AI judgements, 95% intervals)") -> str:
    groups = [(principle, [(pol, rows[pol]) for pol in policies if pol in rows])
              for principle, rows in win_rates.items()]
    return bars_svg(groups, title)


# -- the sections of each kind ---------------------------------------------------------------------
def _rating_rows(r: dict[str, Any], policies: Sequence[str]) -> list[list[str]]:
    from cai_desktop.core.ratings import ALL

    rows = []
    for pol in policies:
        w = r["win_rates"].get(ALL, {}).get(pol) or {}
        e, b = r["elo"][pol], r["bradley_terry"][pol]
        rows.append([pol, rate_text(w), f"{w.get('mean_score') or 0:.2f}" if w.get("games") else "n/a",
                     f"{e['rating']:.0f} ({e['low']:.0f}–{e['high']:.0f})",
                     f"{b['rating']:.0f} ({b['low']:.0f}–{b['high']:.0f})"])
    return rows


def _per_principle(r: dict[str, Any], policies: Sequence[str]) -> list[list[str]]:
    return [[principle] + [rate_text(rows.get(pol)) for pol in policies] for principle, rows in r["win_rates"].items()]


def compare_sections(result: dict[str, Any]) -> list[Section]:
    """Sections of a head-to-head comparison (jobs/compare.py)."""
    pols = result.get("policy_labels") or []
    out = []
    fr = result.get("frontier") or []
    n = result.get("n_prompts") or {}
    out.append(Section("Harmlessness vs helpfulness", figure(
        frontier_svg(fr), f"One point per policy; {', '.join(f'{v} {k} prompts' for k, v in n.items())} "
        f"({result.get('split') or 'all'} split), judged by the rule-based judge (core/judge.py).")
        + table(["Policy", "Harm avoided (harmful)", "Helpful (benign)", "Over-refusal (benign)", "Off-topic (benign)"],
                [[p["policy"], rate_text(p["harm_avoided"]), rate_text(p["helpful"]), rate_text(p["over_refusal"]),
                  rate_text(p["off_topic"])] for p in fr], "Rates with their Wilson 95% intervals")))
    for who, key in (("AI feedback", "ai"), ("people", "human")):
        r = result.get(key)
        if not r:
            continue
        q = result.get("label_quality") or {}
        quality = ""
        if key == "ai" and q.get("mean_margin") is not None:
            quality = (f" Its labels are on average {100 * q['mean_margin']:.1f} points from 50%"
                       + (f"; the answer order moved them by {100 * q['mean_order_shift']:.1f} points on average"
                          if q.get("mean_order_shift") is not None else "") + ".")
        head = (f"<p>{r['n_games']} judged matchups"
                + (" (the feedback model's soft labels, both orders averaged)." if key == "ai" else
                   " (blind choices on the Comparisons page; ties count half in Elo and Bradley–Terry, "
                   "both-bad ones are left out).") + esc(quality) + "</p>")
        if not r["n_games"]:
            out.append(Section(f"Ratings from {who}", head + "<p>None yet.</p>"))
            continue
        body = head + table(["Policy", "Win rate (decided games)", "Mean score", "Elo (95% interval)",
                             "Bradley–Terry, Elo scale (95% interval)"], _rating_rows(r, pols),
                            "Win rate: share of decided games won, Wilson interval; Elo: order-averaged, bootstrap "
                            "interval; Bradley–Terry: MM fit, bootstrap interval")
        body += figure(win_rate_svg(r["win_rates"], pols, f"Win rate per principle ({who}, 95% intervals)"),
                       "Bars: share of decided games won under each principle; whiskers: Wilson 95% interval.")
        body += table(["Principle", *pols], _per_principle(r, pols), "Win rate per principle")
        out.append(Section(f"Ratings from {who}", body))
    if result.get("examples"):
        out.append(Section("Examples side by side", side_by_side(result["examples"], pols)))
    return out


def eval_sections(result: dict[str, Any]) -> list[Section]:
    """Sections of a before/after evaluation (jobs/evaluate.py)."""
    pols = [p["label"] for p in result.get("policies") or []]
    judged = result.get("judged") or {}
    rows, points = [], []
    for pol in pols:
        j = judged.get(pol) or {}
        harm = next((v.get("harm_avoided") for k, v in j.items() if "harm_avoided" in v), None)
        benign = next((v for k, v in j.items() if "over_refusal" in v), {})
        over = benign.get("over_refusal")
        helpful = None
        if benign.get("n"):
            k = (benign.get("labels") or {}).get("compliance", 0)
            from cai_desktop.core.stats import wilson

            lo, hi = wilson(k, benign["n"])
            helpful = {"k": k, "n": benign["n"], "rate": k / benign["n"], "low": lo, "high": hi}
        rows.append([pol, rate_text(harm), rate_text(over), rate_text(benign.get("off_topic")),
                     rate_text(helpful)])
        if harm and helpful:
            points.append({"policy": pol, "harm_avoided": harm, "helpful": helpful})
    out = [Section("Judged rates", table(
        ["Policy", "Harm avoided (harmful)", "Over-refusal (benign)", "Off-topic (benign)", "Helpful (benign)"], rows,
        "Rates with their Wilson 95% intervals"))]
    if points:
        out.append(Section("Harmlessness vs helpfulness", figure(frontier_svg(points), "One point per policy.")))
    comps = result.get("comparisons") or []
    if result.get("verdicts"):
        out.append(Section("Paired tests against the base", "<ul>" + "".join(
            f"<li>{esc(v)}</li>" for v in result["verdicts"]) + "</ul>"
            + (f"<p>{len(comps)} comparisons, exact McNemar on the prompts both answered.</p>" if comps else "")))
    if result.get("examples"):
        out.append(Section("Examples side by side", side_by_side(result["examples"], pols)))
    return out


def generic_sections(result: dict[str, Any]) -> list[Section]:
    """Any other run: its result's top-level numbers and texts as a table."""
    rows = [[k, v if isinstance(v, str | int | float) else json.dumps(v, default=str)[:300]]
            for k, v in result.items()]
    return [Section("Result", table(["Field", "Value"], rows))]


register_sections("compare", compare_sections)
register_sections("eval", eval_sections)


def report_kinds() -> tuple[str, ...]:
    """The run kinds with report sections of their own (the evaluation runs)."""
    return tuple(sorted(_BUILDERS))


def sections_for(kind: str, result: dict[str, Any]) -> list[Section]:
    return _BUILDERS.get(kind, generic_sections)(result)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#24292f;
line-height:1.4;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}
.meta{color:#57606a}
table{border-collapse:collapse;margin:10px 0;font-size:13px}caption{text-align:left;color:#57606a;padding:4px 0}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
figure{margin:12px 0}figcaption{color:#57606a;font-size:12px}
.example{border:1px solid #d0d7de;border-radius:6px;margin:10px 0;padding:8px}
.prompt{font-weight:600;margin-bottom:6px}.kind{background:#ddf4ff;border-radius:4px;padding:0 6px;font-weight:400}
.answers{display:flex;gap:8px}.answer{flex:1;min-width:0}.who{color:#57606a;font-size:12px}
.judge{color:#8250df}
pre{white-space:pre-wrap;word-wrap:break-word;background:#f6f8fa;padding:6px;border-radius:4px;font-size:12px;margin:2px 0}
"""


def _kv(d: dict[str, Any]) -> str:
    rows = [[k, v if isinstance(v, str | int | float | bool) or v is None else json.dumps(v, default=str)]
            for k, v in d.items()]
    return table(["Setting", "Value"], rows)


def render(title: str, meta: Sequence[str], sections: Sequence[Section], settings: dict[str, Any],
           lineage: Any) -> str:
    """The whole report as one HTML document (also well-formed XML)."""
    parts = ['<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>',
             f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1>", f'<p class="meta">{" · ".join(esc(m) for m in meta)}</p>']
    for s in sections:
        parts.append(f"<h2>{esc(s.title)}</h2>{s.body}")
    parts.append("<h2>Settings</h2>" + _kv(settings))
    lin = lineage if isinstance(lineage, list) else [lineage] if lineage else []
    parts.append("<h2>Lineage</h2>" + ("".join(f"<pre>{esc(json.dumps(x, indent=1, default=str))}</pre>" for x in lin)
                                        or "<p>None recorded.</p>"))
    parts.append('<p class="meta">Made by CAI Desktop. Held-out prompts (test split) are never trained on; every '
                 "rate is given with its n and 95% interval.</p></body></html>\n")
    return "".join(parts)


def run_report(run: dict[str, Any], result: dict[str, Any] | None = None, project_name: str = "") -> str:
    """The report of one run row (``project.runs.get``); ``result`` overrides the stored one (a
    comparison's human ratings recomputed since, say)."""
    result = result if result is not None else (run.get("result") or {})
    kind = run.get("kind") or ""
    meta = [f"run {run.get('id')} ({kind})", f"status {run.get('status')}",
            f"started {run.get('started_at') or run.get('created_at') or '?'}",
            f"finished {run.get('finished_at') or '—'}"]
    if project_name:
        meta.insert(0, f"project {project_name}")
    lineage: list[Any] = []
    if run.get("lineage"):
        lineage.append(run["lineage"])
    more = result.get("lineage")
    if more and more != run.get("lineage"):
        lineage += list(more) if isinstance(more, list) else [more]
    if result.get("roles"):
        lineage.append({"roles": result["roles"]})
    title = f"{run.get('name') or kind} — run {run.get('id')}"
    return render(title, meta, sections_for(kind, result), run.get("config") or {}, lineage)
