"""``cai-desktop review ...``: team review from the command line (issue 12).

- ``review export PROJECT PACK [--kind comparison|chain] [--ids 1,2] [--status S] [--principle KEY]
  [--run N] [--sample N --seed S] [--reviewers ann,bob --k 2] [--blind]``: write a review pack;
- ``review import PROJECT PACK``: merge a returned pack's decisions (a re-import adds nothing);
- ``review agreement PROJECT [--kind K] [--seed S] [--json]``: κ, α, human vs AI, progress;
- ``review log PROJECT OUT.csv|OUT.jsonl``: the decision log;
- ``review policy PROJECT [single|majority|adjudicator] [--adjudicator NAME]``: show or set the
  final-decision policy (setting it recomputes every item's final decision).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from cai_desktop.core.errors import ValidationError
from cai_desktop.store.project import Project


def _names(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


def _ids(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a list of item numbers like 1,2,5") from None


def register(sub: argparse._SubParsersAction, groups: dict) -> None:
    p = sub.add_parser("review", help="team review: review packs, agreement, the decision log, the review policy")
    rs = p.add_subparsers(dest="review_command", metavar="ACTION", required=True)

    e = rs.add_parser("export", help="write a review pack of chosen items for colleagues")
    e.add_argument("project")
    e.add_argument("pack", help="the pack file to write (.caipack)")
    e.add_argument("--kind", choices=("comparison", "chain"), default="comparison")
    e.add_argument("--ids", type=_ids, default=None, help="these items only (comma-separated numbers)")
    e.add_argument("--status", default=None,
                   help="chains with this review status (unreviewed, accepted, rejected, edited)")
    e.add_argument("--reviewed", choices=("yes", "no"), default=None, help="comparisons with / without a human choice")
    e.add_argument("--principle", default=None, help="items under this principle key")
    e.add_argument("--run", type=int, default=None, help="items of this run")
    e.add_argument("--sample", type=int, default=None, help="a random sample of this many, stratified by principle")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--reviewers", default="", help="who reviews (comma-separated names)")
    e.add_argument("--k", type=int, default=1, help="reviewers per item")
    e.add_argument("--blind", action="store_true", help="hide AI labels and model names")
    e.set_defaults(func=cmd_export)

    i = rs.add_parser("import", help="merge a returned review pack's decisions, edits and notes")
    i.add_argument("project")
    i.add_argument("pack")
    i.set_defaults(func=cmd_import)

    a = rs.add_parser("agreement", help="agreement between reviewers and with the AI, and progress per reviewer")
    a.add_argument("project")
    a.add_argument("--kind", choices=("comparison", "chain"), default=None)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--json", action="store_true", help="print the figures as JSON")
    a.set_defaults(func=cmd_agreement)

    lg = rs.add_parser("log", help="write the decision log (who, when, the principle shown, decision, note)")
    lg.add_argument("project")
    lg.add_argument("out", help="a .csv or .jsonl file")
    lg.set_defaults(func=cmd_log)

    po = rs.add_parser("policy", help="show or set how the final decision per item is made")
    po.add_argument("project")
    po.add_argument("policy", nargs="?", choices=("single", "majority", "adjudicator"), default=None)
    po.add_argument("--adjudicator", default=None, help="the adjudicator's name (adjudicator policy)")
    po.set_defaults(func=cmd_policy)


def cmd_export(args: argparse.Namespace) -> int:
    if args.sample is not None and args.sample < 1:
        raise ValidationError("--sample must be at least 1.")
    filters: dict[str, Any] = {}
    if args.principle:
        filters["principle_key"] = args.principle
    if args.run is not None:
        filters["run_id"] = args.run
    if args.kind == "chain" and args.status:
        filters["review_status"] = args.status
    if args.kind == "comparison" and args.reviewed:
        filters["reviewed"] = args.reviewed == "yes"
    with Project.open(args.project) as project:
        info = project.reviews.export_pack(args.pack, kind=args.kind, ids=args.ids, filters=filters,
                                           sample=args.sample, seed=args.seed, reviewers=_names(args.reviewers),
                                           k=args.k, blind=args.blind)
    who = ", ".join(f"{r} {n}" for r, n in info["assigned"].items()) or "anyone"
    print(f"review pack written: {info['path']} ({info['items']} {args.kind}s; assigned: {who})")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        r = project.reviews.import_pack(args.pack)
        policy = project.reviews.policy()
    print(f"imported {r['new']} new decisions ({r['known']} already in the project) from "
          f"{', '.join(r['reviewers']) or 'nobody'}; final decisions: {policy['policy']}")
    return 0


def _fmt(st: dict[str, Any] | None) -> str:
    if not st or st.get("value") is None or (isinstance(st["value"], float) and math.isnan(st["value"])):
        return f"—  (n={st.get('n', 0) if st else 0})"
    ci = f", 95% {st['low']:.2f} to {st['high']:.2f}" if st.get("low") is not None else ""
    return f"{st['value']:.3f}  (n={st['n']}{ci})"


def cmd_agreement(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        st = project.reviews.agreement(kind=args.kind, seed=args.seed)
        progress = project.reviews.progress()
        policy = project.reviews.policy()
    if args.json:
        print(json.dumps({"policy": policy, "progress": progress, **st}, indent=2))
        return 0
    print(f"final decisions: {policy['policy']}" + (f" (adjudicator {policy['adjudicator']})"
                                                    if policy["adjudicator"] else ""))
    for p in progress:
        print(f"  {p['reviewer'] or '(unnamed)'}: {p['done']} of {p['assigned']} assigned done, {p['decided']} decided")
    for p in st["pairs"]:
        print(f"Cohen's kappa {p['a']} / {p['b']}: {_fmt(p)}")
    print(f"Fleiss' kappa: {_fmt(st['fleiss'])}")
    print(f"Krippendorff's alpha: {_fmt(st['krippendorff'])}")
    for h in st["human_ai"]:
        corr = f"{h['correlation']:+.2f}" if h.get("correlation") is not None else "—"
        print(f"human vs AI, {h['principle']}: side match {_fmt(h)}; r(p(A), votes) {corr}")
    if not st["pairs"] and not st["human_ai"]:
        print("no figures yet: two reviewers must decide the same items (export a review pack).")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        n = project.reviews.export_log(args.out)
    print(f"decision log written: {args.out} ({n} decisions)")
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        if args.policy:
            r = project.reviews.set_policy(args.policy, args.adjudicator)
            print(f"final decisions now: {args.policy}; {r['changed']} items changed")
        else:
            pol = project.reviews.policy()
            print(pol["policy"] + (f" (adjudicator {pol['adjudicator']})" if pol["adjudicator"] else ""))
    return 0
