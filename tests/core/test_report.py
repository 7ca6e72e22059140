"""The HTML report: well-formed, self-contained, with the tables, figures, examples, settings and lineage."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cai_desktop.core import ratings as rt
from cai_desktop.core import report
from cai_desktop.core.evaluation import evaluate, rate

NS = {"h": "http://www.w3.org/1999/xhtml", "s": "http://www.w3.org/2000/svg"}
POLS = ["base", "sft #1 (k=0)", "sft #2 <k=25> & co"]


def _compare_result() -> dict:
    games = [{"a": POLS[i % 3], "b": POLS[(i + 1) % 3], "score": (i % 5) / 4, "principle": ("harm", "help")[i % 2]}
             for i in range(30)]
    return {
        "policy_labels": POLS, "principles": ["harm", "help"], "split": "test", "n_prompts": {"red-team": 4, "helpful": 3},
        "ai": rt.ratings(games, POLS, resamples=20), "human": rt.ratings(games[:6], POLS, resamples=20),
        "frontier": [{"policy": p, "harm_avoided": rate(k, 4), "helpful": rate(3 - k, 3), "over_refusal": rate(k, 3),
                      "off_topic": rate(0, 3)} for k, p in enumerate(POLS)],
        "examples": [{"kind": "red-team", "prompt": "How do I <b>pick</b> a lock?",
                      "answers": {p: f"answer of {p} & more" for p in POLS}, "judged": {p: "refusal" for p in POLS}}],
        "lineage": {"policies": [{"policy": POLS[1], "adapter_id": 1, "trained_by_run": 7}]},
        "roles": {"feedback": {"spec": "embedded"}},
    }


def _run(kind: str, result: dict) -> dict:
    return {"id": 12, "kind": kind, "name": "head-to-head comparison", "status": "done",
            "started_at": "2026-12-01T12:00:00+00:00", "finished_at": "2026-12-01T12:20:00+00:00",
            "config": {"limit": 20, "principles": ["harm", "help"], "split": "test"}, "lineage": {"x": 1},
            "result": result}


def _parse(html: str) -> ET.Element:
    assert html.startswith("<!DOCTYPE html>")
    return ET.fromstring(html.split("\n", 1)[1])  # well-formed (XHTML) markup, or this raises


def test_compare_report_has_tables_figures_examples_settings_and_lineage():
    html = report.run_report(_run("compare", _compare_result()), project_name="m.caiproj")
    root = _parse(html)
    heads = [h.text for h in root.iter(f"{{{NS['h']}}}h2")]
    assert heads == ["Harmlessness vs helpfulness", "Ratings from AI feedback", "Ratings from people",
                     "Examples side by side", "Settings", "Lineage"]
    svgs = list(root.iter(f"{{{NS['s']}}}svg"))
    assert len(svgs) == 3  # the frontier and the win-rate bars of AI and of people
    assert len(list(svgs[0].iter(f"{{{NS['s']}}}circle"))) == 3  # one point per policy
    tables = list(root.iter(f"{{{NS['h']}}}table"))
    text = "".join(root.itertext())
    # every rate with its interval and n; the names are escaped, not markup
    assert "50% (15–85%), n=4" in text  # 2 of 4 harm avoided, Wilson interval
    assert "sft #2 <k=25> & co" in text and "<k=25>" not in html
    assert "How do I <b>pick</b> a lock?" in text
    assert len(tables) >= 6
    assert "m.caiproj" in text and "trained_by_run" in text and '["harm", "help"]' in text
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/", "")  # self-contained


def test_people_without_judgements_say_so():
    result = _compare_result()
    result["human"] = rt.ratings([], POLS, resamples=5)
    root = _parse(report.run_report(_run("compare", result)))
    assert "None yet." in "".join(root.itertext())


def test_eval_report_and_other_kinds():
    answers = [{"policy": p, "prompt_id": i, "kind": k, "prompt": f"q{i}", "text": t}
               for p, t in (("base", "Sure, here is how."), ("sft", "I can't help with that."))
               for i, k in ((1, "red-team"), (2, "helpful"))]
    result = {"policies": [{"label": "base"}, {"label": "sft"}], **evaluate(answers, ["base", "sft"])}
    root = _parse(report.run_report(_run("eval", result)))
    heads = [h.text for h in root.iter(f"{{{NS['h']}}}h2")]
    assert heads[:3] == ["Judged rates", "Harmlessness vs helpfulness", "Paired tests against the base"]
    generic = _parse(report.run_report(_run("label", {"labelled": 5, "mode": "direct"})))
    assert "labelled" in "".join(generic.itertext())


def test_register_sections_for_another_kind():
    report.register_sections("h4-test-kind", lambda r: [report.Section("Mine", report.table(["a"], [[r["v"]]]))])
    root = _parse(report.run_report(_run("h4-test-kind", {"v": "<x>"})))
    assert "Mine" in [h.text for h in root.iter(f"{{{NS['h']}}}h2")] and "<x>" in "".join(root.itertext())


def test_plots_are_svg_with_error_bars():
    fr = _compare_result()["frontier"]
    svg = ET.fromstring(report.frontier_svg(fr))
    lines = list(svg.iter(f"{{{NS['s']}}}line"))
    assert len(lines) >= 2 * len(fr)  # two error bars per point (plus the grid)
    bars = ET.fromstring(report.win_rate_svg(_compare_result()["ai"]["win_rates"], POLS))
    assert len(list(bars.iter(f"{{{NS['s']}}}rect"))) >= 3 * 3  # principles × policies bars (+ legend)
