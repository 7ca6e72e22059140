"""Review packs, the store's side: export from a project, open on a reviewer's machine, return,
and import back (the format: ``core/packs.py``).

The flow
1. ``export_pack(project, path, ...)``: chosen items (ids, or filters, or a random sample
   stratified by principle), each assigned to ``k`` of the named reviewers (round robin), written as
   one gzipped JSON file; the pack and its assignments are recorded in the project (progress per
   reviewer counts them). ``blind`` leaves out AI labels and model names.
2. ``open_pack(path)``: on the reviewer's machine (no model needed), the pack becomes a small
   project file beside it (``name.review.caiproj``, reopened with its decisions if it exists) with
   only the pack's items, flagged in its meta (``pack_uid``): the inspector and comparisons pages
   work on it as on any project, and every decision goes to its review log as usual.
3. ``return_pack(workspace, path)``: the pack again, with the decisions made in the workspace.
4. ``import_pack(project, path)``: the decisions merged into the project's log (each once, by its
   uid: a re-import adds nothing), then the final decisions recomputed. A pack from another
   project, naming items the project no longer has (or has changed), truncated, of a newer format
   or edited by hand into nonsense is refused in one line and the project is left unchanged.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from cai_desktop.core import packs as fmt
from cai_desktop.core.constitution import Principle
from cai_desktop.core.errors import ProjectError, ValidationError
from cai_desktop.store.base import now
from cai_desktop.store.project import Project

WORKSPACE_SUFFIX = ".review.caiproj"


# -- items as pack content ---------------------------------------------------------------------------
def _chain_item(project: Project, cid: int, blind: bool) -> dict[str, Any]:
    c = project.chains.get(cid)
    steps = [{"round": s["round"], "principle_key": s.get("principle_key"), "critique_request": s.get("critique_request"),
              "revision_request": s.get("revision_request"), "critique": s.get("critique"),
              "revision": s.get("revision")} for s in c["steps"]]
    content = {"prompt": c["prompt"], "initial_text": c.get("initial_text"), "final_text": c.get("final_text"),
               "steps": steps}
    keys = [s["principle_key"] for s in steps if s.get("principle_key")]
    return {"uid": c["uid"], "kind": "chain", "hash": fmt.content_hash("chain", content),
            "principle_key": keys[0] if keys else None,
            "principle_text": project.reviews.principle_text("chain", cid), "content": content,
            "ai": None if blind else {"model_spec": c.get("model_spec")}}


def _comparison_item(project: Project, cid: int, blind: bool) -> dict[str, Any]:
    c = project.comparisons.get(cid)
    content = {"prompt": c.get("prompt_text"), "response_a": c.get("response_a"), "response_b": c.get("response_b"),
               "principle_key": c.get("principle_key"), "comparison_question": c.get("comparison_question")}
    ai = None if blind else {k: c.get(k) for k in ("p_a", "p_b", "raw_label", "label", "order_shift", "reasoning",
                                                   "feedback_model", "mode", "clamp")}
    return {"uid": c["uid"], "kind": "comparison", "hash": fmt.content_hash("comparison", content),
            "principle_key": c.get("principle_key"),
            "principle_text": project.reviews.principle_text("comparison", cid), "content": content, "ai": ai}


def _candidates(project: Project, kind: str, filters: dict[str, Any]) -> list[tuple[int, str]]:
    """(id, principle key) of the items of ``kind`` that match ``filters`` (the pages' filters)."""
    out: list[tuple[int, str]] = []
    manager = project.chains if kind == "chain" else project.comparisons
    offset = 0
    while True:
        page = manager.list(offset, 500, **filters)
        if not page:
            break
        offset += len(page)
        out += [(r["id"], "") for r in page]
    if kind == "comparison":
        keys = {r["id"]: r.get("principle_key") or "" for r in project.query(
            "SELECT c.id, ps.key AS principle_key FROM comparisons c LEFT JOIN principle_snapshots ps "
            "ON ps.id = c.principle_snapshot_id")}
    else:
        keys = {r["id"]: r.get("principle_key") or "" for r in project.query(
            """SELECT c.id, (SELECT ps.key FROM chain_steps s JOIN principle_snapshots ps
                              ON ps.id = s.principle_snapshot_id WHERE s.chain_id = c.id ORDER BY s.round LIMIT 1)
                       AS principle_key FROM chains c""")}
    return sorted((i, keys.get(i, "")) for i, _ in out)


def stratified_sample(items: list[tuple[int, str]], n: int, seed: int = 0) -> list[int]:
    """``n`` ids drawn at random (seeded) with each principle's share kept (largest remainders)."""
    if n >= len(items):
        return [i for i, _ in items]
    groups: dict[str, list[int]] = {}
    for i, key in items:
        groups.setdefault(key, []).append(i)
    quotas = {k: n * len(v) / len(items) for k, v in groups.items()}
    take = {k: int(q) for k, q in quotas.items()}
    for k in sorted(quotas, key=lambda k: (-(quotas[k] - take[k]), k))[: n - sum(take.values())]:
        take[k] += 1
    rng = random.Random(seed)
    out: list[int] = []
    for k in sorted(groups):
        out += rng.sample(groups[k], take[k])
    return sorted(out)


def assign(n_items: int, reviewers: list[str], k: int) -> list[list[str]]:
    """Each item to ``k`` different reviewers, round robin (every reviewer gets an even share)."""
    if not reviewers:
        return [[] for _ in range(n_items)]
    if not 1 <= k <= len(reviewers):
        raise ValidationError(f"Each item can go to 1 to {len(reviewers)} reviewers (the number named), not {k}.")
    return [[reviewers[(i + j) % len(reviewers)] for j in range(k)] for i in range(n_items)]


def export_pack(project: Project, path: str | Path, *, kind: str = "comparison", ids: list[int] | None = None,
                filters: dict[str, Any] | None = None, sample: int | None = None, reviewers: list[str] | None = None,
                k: int = 1, blind: bool = False, seed: int = 0, name: str = "") -> dict[str, Any]:
    """Write a review pack of items of ``kind`` (chain or comparison): ``ids``, or those matching
    ``filters`` (the list filters of ``project.chains`` / ``project.comparisons``), optionally a
    random ``sample`` of that many stratified by principle; each item assigned to ``k`` of
    ``reviewers``. Returns ``{"pack_uid", "path", "items", "assigned": {reviewer: n}}``."""
    if kind not in fmt.KINDS:
        raise ValidationError(f"A review pack holds chains or comparisons, not {kind!r}.")
    reviewers = [r.strip() for r in (reviewers or []) if r and r.strip()]
    if len(set(reviewers)) != len(reviewers):
        raise ValidationError("A reviewer is named twice.")
    path = Path(path)
    if not path.parent.is_dir():
        raise ValidationError(f"The folder {path.parent} does not exist.")
    if ids is not None:
        for i in ids:
            (project.chains if kind == "chain" else project.comparisons).get(int(i))  # refuses a missing id
        chosen = sorted({int(i) for i in ids})
    else:
        cands = _candidates(project, kind, filters or {})
        chosen = stratified_sample(cands, sample, seed) if sample else [i for i, _ in cands]
    if not chosen:
        raise ValidationError(f"No {kind}s match: the pack would be empty.")
    make = _chain_item if kind == "chain" else _comparison_item
    items = [make(project, i, blind) for i in chosen]
    assignments = assign(len(items), reviewers, k)
    for it, who in zip(items, assignments, strict=True):
        it["assigned"] = who
    pack = {"format": fmt.FORMAT, "version": fmt.VERSION, "pack_uid": fmt.new_uid(),
            "project_uid": project_uid(project), "project_name": project.path.stem, "name": name or path.stem,
            "created_at": now(), "blind": bool(blind), "k": k if reviewers else 0, "reviewers": reviewers,
            "items": items, "decisions": []}
    fmt.dump_pack(pack, path)
    with project.atomic():
        project.db["review_packs"].insert({
            "uid": pack["pack_uid"], "name": pack["name"], "created_at": pack["created_at"], "blind": int(blind),
            "k": pack["k"], "reviewers_json": json.dumps(reviewers), "n_items": len(items),
            "selection_json": json.dumps({"kind": kind, "ids": ids, "filters": filters, "sample": sample,
                                          "seed": seed})})
        for i, who in zip(chosen, assignments, strict=True):
            for r in who:
                project.db.execute("INSERT OR IGNORE INTO review_assignments (pack_uid, target_kind, target_id, "
                                   "reviewer) VALUES (?, ?, ?, ?)", [pack["pack_uid"], kind, i, r])
    counts: dict[str, int] = {}
    for who in assignments:
        for r in who:
            counts[r] = counts.get(r, 0) + 1
    return {"pack_uid": pack["pack_uid"], "path": path, "items": len(items), "assigned": counts}


def project_uid(project: Project) -> str:
    uid = project.meta("uid")
    if not uid:
        raise ProjectError(f"{project.path.name} has no project uid (open it once with this version to upgrade it).")
    return uid


# -- the reviewer's side -----------------------------------------------------------------------------
def workspace_path(pack_path: str | Path) -> Path:
    p = Path(pack_path)
    stem = p.name.split(".")[0] or "pack"
    return p.with_name(stem + WORKSPACE_SUFFIX)


def open_pack(path: str | Path, workspace: str | Path | None = None) -> Project:
    """Open a review pack as a small project holding only its items (made on first open beside the
    pack, or at ``workspace``; reopened with the decisions made so far). Its meta names the pack
    (``pack_uid``, ``pack_json``): ``is_pack(project)`` is true and the window shows only the review
    pages."""
    pack = fmt.read_pack(path)
    ws = Path(workspace) if workspace else workspace_path(path)
    if ws.exists():
        p = Project.open(ws)
        if p.meta("pack_uid") == pack["pack_uid"]:
            return p
        p.close()
        raise ValidationError(f"{ws.name} beside the pack belongs to another review pack; move it away and "
                              "open the pack again.")
    p = Project.create(ws)
    try:
        _fill_workspace(p, pack)
    except BaseException:
        p.close()
        ws.unlink(missing_ok=True)
        raise
    return p


def _fill_workspace(p: Project, pack: dict[str, Any]) -> None:
    with p.atomic():
        run = p.runs.create("review-pack", {"pack_uid": pack["pack_uid"]}, name=f"review pack {pack.get('name', '')}")
        set_id = p.db["prompt_sets"].insert({"name": "review pack", "kind": "red-team", "created_at": now()}).last_pk
        prompt_ids: dict[str, int] = {}

        def prompt(text: str | None) -> int:
            text = text or ""
            if text not in prompt_ids:
                prompt_ids[text] = p.db["prompts"].insert(
                    {"set_id": set_id, "position": len(prompt_ids), "text": text, "split": "train"}).last_pk
            return prompt_ids[text]

        for it in pack["items"]:
            c, ai = it["content"], it.get("ai") or {}
            if it["kind"] == "chain":
                cid = p.db["chains"].insert({
                    "uid": it["uid"], "run_id": run, "prompt_id": prompt(c.get("prompt")),
                    "model_spec": ai.get("model_spec") or "",
                    "n_revisions": sum(1 for s in c["steps"] if s["round"] > 0),
                    "initial_text": c.get("initial_text"), "final_text": c.get("final_text"), "created_at": now(),
                }).last_pk
                for s in c["steps"]:
                    snap = None
                    if s.get("principle_key"):
                        snap = p.constitutions.snapshot(Principle(
                            s["principle_key"], s["principle_key"], s.get("critique_request") or "",
                            s.get("revision_request") or ""), "review pack")
                    p.db["chain_steps"].insert({"chain_id": cid, "round": s["round"], "principle_snapshot_id": snap,
                                                "critique": s.get("critique"), "revision": s.get("revision"),
                                                "created_at": now()})
            else:
                snap = None
                if c.get("principle_key"):
                    snap = p.constitutions.snapshot(Principle(
                        c["principle_key"], c["principle_key"], "-", "-", c.get("comparison_question") or ""),
                        "review pack")
                p.db["comparisons"].insert({
                    "uid": it["uid"], "run_id": run, "source": "pair", "source_id": hash_id(it),
                    "prompt_id": prompt(c.get("prompt")), "prompt_text": c.get("prompt"),
                    "response_a": c.get("response_a"), "response_b": c.get("response_b"),
                    "principle_snapshot_id": snap, **{k: ai.get(k) for k in (
                        "p_a", "p_b", "raw_label", "label", "order_shift", "reasoning", "feedback_model")},
                    "created_at": now()})
        for key, value in (("pack_uid", pack["pack_uid"]), ("pack_json", json.dumps(pack)),
                           ("pack_blind", "1" if pack.get("blind") else "0")):
            p.set_meta(key, value)
    # decisions already in the pack (a pack returned, then opened again) come back into the log
    _merge(p, pack, check_content=False)


def hash_id(item: dict[str, Any]) -> int:
    return int(hashlib.sha256(item["uid"].encode()).hexdigest()[:12], 16)


def is_pack(project: Project) -> bool:
    """Whether this project is a review pack opened by a reviewer (reviewer-only mode)."""
    return bool(project.meta("pack_uid"))


def pack_info(project: Project) -> dict[str, Any] | None:
    """The opened pack's header (uid, project name, reviewers, blind, number of items), or None."""
    raw = project.meta("pack_json")
    if not raw:
        return None
    pack = json.loads(raw)
    return {k: pack.get(k) for k in ("pack_uid", "project_name", "name", "created_at", "blind", "k", "reviewers")} | {
        "items": len(pack.get("items", []))}


def assigned_to(project: Project, reviewer: str) -> dict[str, list[int]]:
    """In an opened pack: ``{"chain": [ids], "comparison": [ids]}`` assigned to ``reviewer`` (all
    items when the pack names no reviewers)."""
    pack = json.loads(project.meta("pack_json") or "{}")
    uids = {it["uid"] for it in pack.get("items", []) if not it.get("assigned") or reviewer in it["assigned"]}
    out: dict[str, list[int]] = {"chain": [], "comparison": []}
    for table, kind in (("chains", "chain"), ("comparisons", "comparison")):
        out[kind] = [r["id"] for r in project.query(f"SELECT id, uid FROM {table} ORDER BY id") if r["uid"] in uids]
    return out


def return_pack(project: Project, path: str | Path) -> int:
    """Write the opened pack back with the decisions, edits and notes made in it (every one of the
    workspace's log rows). Returns the number of decisions in the file."""
    raw = project.meta("pack_json")
    if not raw:
        raise ValidationError(f"{project.path.name} is not an opened review pack: export a pack from the project "
                              "instead.")
    pack = json.loads(raw)
    uids = {it["uid"] for it in pack["items"]}
    decisions = {d["uid"]: d for d in pack.get("decisions", [])}
    for r in project.reviews.log():
        if r.get("item_uid") not in uids or not (r.get("reviewer") or "").strip():
            continue
        decisions[r["uid"]] = {"uid": r["uid"], "item_uid": r["item_uid"], "reviewer": r["reviewer"],
                               "decision": r["decision"], "edited_text": r.get("edited_text"), "note": r.get("note"),
                               "created_at": r["created_at"], "principle_text": r.get("principle_text")}
    pack["decisions"] = sorted(decisions.values(), key=lambda d: (d["created_at"], d["uid"]))
    pack["returned_at"] = now()
    fmt.validate_pack(pack, Path(path).name)
    fmt.dump_pack(pack, path)
    return len(pack["decisions"])


# -- back in the project ------------------------------------------------------------------------------
def import_pack(project: Project, path: str | Path) -> dict[str, Any]:
    """Merge a returned pack's decisions into the project (see the module docstring). Returns
    ``{"pack_uid", "new", "known", "reviewers", "changed"}``; ``new`` is 0 on a re-import."""
    pack = fmt.read_pack(path)
    name = Path(path).name
    if pack["project_uid"] != project_uid(project):
        raise ValidationError(f"{name} was made from another project ({pack.get('project_name') or 'unnamed'}), "
                              f"not {project.path.name}: import it into the project it came from. Nothing was imported.")
    result = _merge(project, pack, name=name)
    if not result["new"]:
        return {"pack_uid": pack["pack_uid"], **result}  # a re-import: nothing at all changes
    with project.atomic():
        project.db["pack_imports"].insert({
            "pack_uid": pack["pack_uid"], "file_hash": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
            "reviewers_json": json.dumps(result["reviewers"]), "n_new": result["new"], "n_known": result["known"],
            "imported_at": now()})
    return {"pack_uid": pack["pack_uid"], **result}


def _merge(project: Project, pack: dict[str, Any], name: str = "the pack", check_content: bool = True) -> dict[str, Any]:
    ids: dict[str, tuple[str, int]] = {}
    missing, changed = [], []
    for it in pack["items"]:
        table = "chains" if it["kind"] == "chain" else "comparisons"
        row = project.query(f"SELECT id FROM {table} WHERE uid=?", [it["uid"]])
        if not row:
            missing.append(it)
            continue
        ids[it["uid"]] = (it["kind"], row[0]["id"])
        if check_content:
            now_item = (_chain_item if it["kind"] == "chain" else _comparison_item)(project, row[0]["id"], True)
            if now_item["hash"] != it["hash"]:
                changed.append(it)
    if missing:
        raise ValidationError(f"{name} names {len(missing)} item{'s' if len(missing) > 1 else ''} that no longer "
                              f"exist{'s' if len(missing) == 1 else ''} in {project.path.name} (a {missing[0]['kind']}, "
                              f"uid {missing[0]['uid'][:8]}…); nothing was imported.")
    if changed:
        raise ValidationError(f"{name} holds {len(changed)} item{'s' if len(changed) > 1 else ''} that changed in "
                              f"{project.path.name} since the pack was made; nothing was imported.")
    new = known = 0
    with project.atomic():
        for d in pack.get("decisions", []):
            kind, target = ids[d["item_uid"]]
            rid = project.reviews.add(kind, target, d["decision"], d["reviewer"], d.get("edited_text"), d.get("note"),
                                      created_at=d["created_at"], uid=d["uid"], pack_uid=pack["pack_uid"],
                                      principle_text=d.get("principle_text"))
            new, known = new + (rid is not None), known + (rid is None)
    return {"new": new, "known": known, "reviewers": sorted({d["reviewer"] for d in pack.get("decisions", [])})}
