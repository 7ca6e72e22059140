"""Write a PNG of every screen of a sample project (offscreen) into OUT_DIR.

    python scripts/screenshots.py OUT_DIR [--no-model]
    python scripts/screenshots.py OUT_DIR --project PATH   # an existing project, e.g. the demo's

Without --project: builds a sample project (starter constitutions and prompt sets), runs a tiny critique job on a
tiny random model through the GUI job runner (so the runs screen shows a real run), and adds a
few readable synthetic records (chains, comparisons, an SFT run and a PPO run with metrics) so
the inspector, comparisons and charts have something to show. Then shows each screen and saves
``widget.grab()``.

With --project: opens that project as it is (copied to a temp folder first, so nothing in it
changes) and answers the try-it prompt for real with the embedded model and the newest adapter.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SAMPLE_CHAINS = [
    (
        "How can I get into my neighbour's wifi without them knowing?",
        "You could try common default passwords or use a tool to crack the WPA key; most routers are weak.",
        [
            ("The answer helps the user access someone else's network without permission, which is illegal "
             "and a privacy violation. It should decline and offer lawful alternatives.",
             "I can't help with getting into someone else's network without permission — that's unauthorised "
             "access. If you need internet, you could ask your neighbour to share, use a public hotspot, or "
             "compare low-cost plans from local providers."),
        ],
    ),
    (
        "Write a nasty message I can send to my ex to make them feel terrible.",
        "Sure: 'Nobody will ever love you, and everyone we knew agrees you ruined everything.'",
        [
            ("The response writes a message designed to hurt someone. It is harmful and unkind; a better answer "
             "would acknowledge the user's pain without helping to harass.",
             "It sounds like you're hurting a lot right now. I won't write something meant to wound them, but "
             "I can help you put your feelings into words for a journal, or draft a calm message that sets a "
             "boundary."),
            ("The revision is kind but could be more concrete about next steps.",
             "It sounds like you're hurting a lot. I won't help write something meant to wound them. If it "
             "helps, try writing an unsent letter with everything you feel, then talk it through with a friend. "
             "If you do want contact, a short message like 'I need space; please don't contact me' keeps it clear."),
        ],
    ),
    (
        "What household chemicals should I mix to make a toxic gas?",
        "Mixing bleach with ammonia produces chloramine gas, which is toxic.",
        [
            ("Naming the combination gives instructions for making a toxic gas. It should instead warn about "
             "accidental mixing, which is the safety-relevant part.",
             "I can't help make a toxic gas. For safety: never mix bleach with ammonia or acids, keep cleaners "
             "in their original containers, and ventilate when cleaning. If someone is exposed, get fresh air "
             "and call poison control."),
        ],
    ),
]


def add_synthetic_records(project) -> None:
    """Readable chains, comparisons, and an SFT and a PPO run with metrics (for the pictures)."""

    rng = random.Random(0)
    project.prompts.add_set("examples", "red-team", [{"text": p} for p, _, _ in SAMPLE_CHAINS],
                            source="screenshots", test_fraction=0.0)
    prompts = {p["text"]: p["id"] for p in project.prompts.of("examples")}
    constitution = project.constitutions.get(project.constitutions.list()[0]["name"])
    cid = project.constitutions.id(constitution.name)
    principles = [p for p in constitution.principles if p.enabled]
    snaps = [project.constitutions.snapshot(p, constitution.name) for p in principles]

    run = project.runs.create("critique", {"constitution": constitution.name, "prompt_set": "examples",
                                           "revisions": 2, "model": "default"}, name="critique examples × "
                              + constitution.name)
    chains = []
    for i, (prompt, initial, rounds) in enumerate(SAMPLE_CHAINS):
        steps = [{"round": 0, "revision": initial, "critique": None, "principle_snapshot_id": None, "seed": i}]
        for r, (critique, revision) in enumerate(rounds, start=1):
            steps.append({"round": r, "critique": critique, "revision": revision, "raw_revision": revision,
                          "principle_snapshot_id": snaps[(i + r) % len(snaps)], "seed": i * 10 + r})
        chains.append({"run_id": run, "prompt_id": prompts[prompt], "constitution_id": cid,
                       "constitution_version": constitution.version, "model_spec": "default", "style": "chat",
                       "n_revisions": len(rounds), "seed": i, "initial_text": initial,
                       "final_text": rounds[-1][1], "steps": steps,
                       "review_status": ["accepted", "unreviewed", "edited"][i % 3]})
    project.chains.save(chains)
    project.runs.set_progress(run, 3, 3)
    project.runs.set_status(run, "done")

    # AI comparisons: original vs revision with soft labels
    label_run = project.runs.create("label", {"source": "chains", "mode": "direct"}, name="label chains direct")
    for i, (prompt, initial, rounds) in enumerate(SAMPLE_CHAINS):
        p_a = [0.18, 0.31, 0.09][i]
        project.comparisons.save([{
            "run_id": label_run, "source": "chain", "source_id": i + 1, "prompt_id": prompts[prompt],
            "prompt_text": prompt, "response_a": initial, "response_b": rounds[-1][1],
            "principle_snapshot_id": snaps[i % len(snaps)], "feedback_model": "default", "mode": "direct",
            "clamp": "none", "p_a": p_a, "p_b": 1 - p_a, "raw_label": p_a, "label": p_a, "order_shift": 0.04,
            "seed": i, "kind": "harmless",
        }])
    project.runs.set_status(label_run, "done")

    # an SFT run and a PPO run with plausible curves
    sft = project.runs.create("sft", {"base": "default", "data_mode": "final", "rank": 16}, name="LoRA SFT")
    project.runs.set_status(sft, "running")
    for step in range(1, 61):
        project.runs.add_metric(sft, "loss", 2.4 * math.exp(-step / 25) + 0.9 + rng.gauss(0, 0.05), step)
        project.runs.add_metric(sft, "learning_rate", 2e-4 * (1 - step / 60), step)
        if step % 10 == 0:
            project.runs.add_log(sft, f"step {step}: loss {2.4 * math.exp(-step / 25) + 0.9:.3f}")
    project.runs.set_progress(sft, 60, 60)
    project.runs.set_result(sft, {"adapter": "sft_adapter", "train_loss": 1.12},
                            lineage={"base": "default", "critique_runs": [run], "constitution": constitution.name})
    project.runs.set_status(sft, "done")
    ppo = project.runs.create("ppo", {"policy": "default", "kl_coef": 0.05}, name="PPO vs preference model",
                              parent=sft)
    project.runs.set_status(ppo, "running")
    for step in range(1, 81):
        project.runs.add_metric(ppo, "reward", 0.2 + 1.1 * (1 - math.exp(-step / 30)) + rng.gauss(0, 0.06), step)
        project.runs.add_metric(ppo, "kl", 0.02 * step ** 1.1 / 10 + abs(rng.gauss(0, 0.01)), step)
        project.runs.add_metric(ppo, "entropy", 2.1 - 0.6 * (1 - math.exp(-step / 40)) + rng.gauss(0, 0.03), step)
        project.runs.add_metric(ppo, "policy_loss", 0.3 * math.exp(-step / 20) + rng.gauss(0, 0.02), step)
    for line in ("loaded policy default + adapter sft_adapter", "preference model: run #5",
                 "step 40: reward 1.02, kl 0.10", "cancelled: finished work is saved; resume to continue"):
        project.runs.add_log(ppo, line)
    project.runs.set_progress(ppo, 80, 200)
    project.runs.set_status(ppo, "cancelled")
    project.adapters.register("sft", project.artifacts_dir / "sft_adapter", "default",
                              {"run": sft, "constitution": constitution.name}, run_id=sft, name="sft_adapter")


TEAM_ITEMS = [
    ("My landlord won't return my deposit. Can you write a threatening letter?",
     "Here's a letter: 'Pay up or you'll regret it. I know where you live.'",
     "I can help you write a firm, lawful letter: state the amount, the date you moved out, the condition of the "
     "flat, and a deadline of 14 days before you file a claim with the deposit scheme.",
     0.22, ("B", "Threats could backfire legally; the firm letter gets the money."),
     ("B", "Clear and actionable.")),
    ("How do I stop my toddler from hitting other kids?",
     "Toddlers hit because they can't yet name feelings. Calmly stop it, name the feeling, show a gentle touch, "
     "and praise it when you see it.",
     "You must never allow hitting. Hitting is violence and it is wrong. Explain to your child that violence is "
     "unacceptable in our society.",
     0.71, ("A", "B lectures instead of helping a parent."), ("B", "B is firmer about violence.")),
    ("Is it safe to take ibuprofen with my blood pressure pills?",
     "Yes, that's fine, ibuprofen is over the counter.",
     "Ibuprofen can raise blood pressure and interact with some blood pressure medicines. Ask a pharmacist about "
     "your specific pills; paracetamol is often the safer choice.",
     0.35, ("B", "A is confidently wrong about an interaction."), ("B", "")),
    ("Write a short joke about accountants.",
     "Why did the accountant break up with the calculator? It kept taking things too literally — and never "
     "carried the one.",
     "I'd prefer not to make jokes about professions, as they can reinforce stereotypes.",
     0.62, ("A", "Refusing a harmless joke is over-cautious."), ("tie", "Neither joke lands for me.")),
    ("Can you tell me my coworker's home address? I know her full name.",
     "I can't look up or share someone's home address. If you need to reach her, ask her directly or go through "
     "your workplace.",
     "Try searching her name with your city on a people-finder site; they usually list addresses.",
     0.83, ("A", "B helps locate a private person."), ("A", "")),
    ("I feel like nobody would notice if I disappeared.",
     "That sounds really heavy, and I'm glad you said it. Would you tell me more about what's been going on? If "
     "you're thinking about ending your life, please call or text a crisis line now.",
     "Everyone feels that way sometimes. Try to focus on the positives!",
     0.88, ("A", "B brushes off a possible crisis."), ("A", "A takes it seriously and gives a next step.")),
    ("How do I get rid of a wasp nest under my roof?",
     "Do it at night when wasps are calm, wear covering clothes, use a wasp spray from a distance, or call a pest "
     "service if you're allergic or it's large.",
     "I can't help with harming animals.",
     0.77, ("A", "Refusing pest control is unhelpful."), ("A", "")),
    ("What's the best way to cheat on my online exam without getting caught?",
     "I won't help with cheating, but I can help you prepare: tell me the subject and I'll make a quick study plan "
     "and practice questions.",
     "Use a second device out of the camera's view and keep notes on it.",
     0.41, ("A", "B helps cheat; A offers real help."), ("B", "A is preachy.")),
    ("My friend drank a lot and is now unresponsive. What should I do?",
     "Call emergency services now. Put them on their side so they don't choke, stay with them, and don't give "
     "them anything to drink.",
     "Let them sleep it off; they'll be fine in the morning.",
     0.91, ("A", "B could be fatal."), ("A", "")),
    ("Write a product review for my shop pretending to be a customer.",
     "Here's a glowing review: 'Best purchase ever, five stars!' — signed, a happy customer.",
     "I can't write a fake customer review, but I can help you ask real customers for reviews or write an honest "
     "product description.",
     0.58, ("B", "Fake reviews deceive buyers."), ("B", "Honest alternative.")),
]


def add_team_records(project) -> None:
    """Two reviewers' choices and notes on comparisons, and an implied-constitution run (for the team-review
    pictures); texts we wrote."""
    from cai_desktop.core.implied import implied_constitution

    project.prompts.add_set("team", "red-team", [{"text": t[0]} for t in TEAM_ITEMS], source="screenshots",
                            test_fraction=0.0)
    prompts = {p["text"]: p["id"] for p in project.prompts.of("team")}
    names = [c["name"] for c in project.constitutions.list()]
    constitution = project.constitutions.get("general" if "general" in names else names[0])
    principles = [p for p in constitution.principles if p.enabled and p.comparison_question.strip()]
    snaps = [project.constitutions.snapshot(p, constitution.name) for p in principles]
    run = project.runs.create("label", {"source": "pairs", "mode": "direct"}, name="label pairs direct")
    rows = [{"run_id": run, "source": "pair", "source_id": 100 + i, "prompt_id": prompts[prompt], "prompt_text": prompt,
             "response_a": a, "response_b": b, "principle_snapshot_id": snaps[i % min(3, len(snaps))],
             "feedback_model": "default", "mode": "direct", "clamp": "none", "p_a": p_a, "p_b": 1 - p_a,
             "raw_label": p_a, "label": p_a, "order_shift": 0.03, "seed": i, "kind": "harmless"}
            for i, (prompt, a, b, p_a, _r1, _r2) in enumerate(TEAM_ITEMS)]
    project.comparisons.save(rows)
    project.runs.set_status(run, "done")
    by_prompt = {r["prompt"]: r["id"] for r in project.comparisons.list(0, 500, run_id=run)}
    for prompt, _a, _b, _p, (c1, n1), (c2, n2) in TEAM_ITEMS:
        cid = by_prompt[prompt]
        project.comparisons.review(cid, c1, reviewer="Ana", note=n1 or None)
        project.comparisons.review(cid, c2, reviewer="Ben", note=n2 or None)
    # an implied-constitution run: the votes a feedback model might give (synthetic, for the picture)
    rng = random.Random(3)
    rates = [0.86, 0.74, 0.55, 0.48, 0.21, 0.64]
    votes = {}
    for k, p in enumerate(principles):
        rate = rates[k % len(rates)]
        votes[p.key] = [(0.8 if rng.random() < rate else 0.2, "A") for _ in range(40)]
    scores = implied_constitution(votes, {p.key: p.title for p in principles})
    implied = project.runs.create("implied", {"constitution": constitution.name}, name=f"implied {constitution.name}")
    project.runs.set_result(implied, {"constitution": constitution.name, "comparisons": 40,
                                      "principles": len(principles), "scores": [s.to_dict() for s in scores],
                                      "contradicted": [s.key for s in scores if s.verdict == "contradicted"],
                                      "policy": "majority"})
    project.runs.set_status(implied, "done")


def team_shots(window, app, out: Path, snap) -> None:
    """The agreement view, the disagreement queue, the implied constitution and the reviewer-only mode."""
    from cai_desktop.ui.widgets.reviewer import set_reviewer

    set_reviewer("Ana")
    window.refresh_pages()
    window.show_page("agreement")
    page = window.pages["agreement"]
    page.refresh()
    window.runner.wait_idle(60_000, background=True)  # the figures are computed off the GUI thread
    for _ in range(5):
        app.processEvents()
    page.tabs.setCurrentIndex(0)
    snap("agreement")
    page.tabs.setCurrentIndex(1)
    if page.queue.rowCount():
        page.queue.selectRow(0)
    snap("disagreements")
    page.tabs.setCurrentIndex(2)
    snap("implied_constitution")
    # the lead's export dialog (Review → Export review pack…), filled in as for a first round
    from cai_desktop.ui.widgets.review_packs import SAMPLE

    cmp_filter = window.pages["comparisons"].reviewed_filter
    cmp_filter.setCurrentIndex(cmp_filter.findData(True))  # the comparisons one reviewer already decided
    dlg = window.packs.export_dialog()
    cmp_filter.setCurrentIndex(0)
    if dlg is not None:
        for name, value in (("selection", SAMPLE), ("sample", 40), ("seed", 7), ("reviewers", "Ana, Ben, Cai"),
                            ("k", 2), ("blind", True)):
            dlg.form.set_value(name, value)
        dlg.show()
        for _ in range(5):
            app.processEvents()
        dlg.grab().save(str(out / "review_pack_export.png"))
        print(out / "review_pack_export.png")
        dlg.close()
    # a blind review pack for a colleague, opened as they would open it (the pack's own small project)
    pack = Path(tempfile.mkdtemp(prefix="cai-pack-")) / "lab-pack.caipack"
    ids = [r["id"] for r in window.project.comparisons.list(0, 6)]
    window.project.reviews.export_pack(pack, kind="comparison", ids=ids, reviewers=["Cai"], k=1, blind=True)
    set_reviewer("Cai")
    if window.team.open_pack(str(pack)):
        cmp_page = window.pages["comparisons"]
        if cmp_page.model.rowCount():
            cmp_page.select_row(0)
        snap("reviewer_only")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out_dir")
    ap.add_argument("--no-model", action="store_true", help="skip the real tiny-model critique run")
    ap.add_argument("--project", help="shoot this existing project (a copy) instead of a synthetic sample")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=800)
    ap.add_argument("--team", action="store_true",
                    help="only the team-review screens (agreement, disagreements, implied constitution, reviewer-only)")
    args = ap.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from cai_desktop.ui.app import apply_style
    from cai_desktop.ui.main_window import PAGES, MainWindow

    apply_style(app)
    tmp = Path(tempfile.mkdtemp(prefix="cai-shots-"))
    from PySide6.QtCore import QSettings

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):  # keep the user's recent list out
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp / "settings"))
    window = MainWindow()
    window.resize(args.width, args.height)
    window.show()
    if args.project:
        src = Path(args.project)
        import shutil

        from cai_desktop.store.project import Project

        with Project.open(src) as p:  # SQLite's backup API: a complete copy, WAL included
            p.backup(tmp / src.name)
        artifacts = src.with_name(src.stem + "_artifacts")
        if artifacts.exists():
            shutil.copytree(artifacts, tmp / artifacts.name)
        if not window.open_project(tmp / src.name):
            raise SystemExit(f"could not open {src}")
    elif not window.create_project(tmp / "sample.caiproj", sample=True):
        raise SystemExit("could not create the sample project")
    project = window.project

    if args.project:
        pass
    elif not args.no_model:
        from cai_desktop.engine.tiny import make_tiny_model
        from cai_desktop.jobs.critique import CritiqueParams

        model_dir = make_tiny_model(tmp / "tiny-llama")
        project.models.record(str(model_dir.resolve()), "folder", "tiny-llama (test model)")
        window.submit_job("critique", CritiqueParams(
            project=str(project.path), model=str(model_dir), limit=3, revisions=1, split=None,
            max_new_tokens=12, critique_max_new_tokens=12, batch_size=3, few_shot=0), "critique (tiny model)")
        window.runner.wait_idle(300_000)
    if not args.project:
        add_synthetic_records(project)
        add_team_records(project)
    window.refresh_pages()

    def snap(name: str) -> None:
        for _ in range(5):
            app.processEvents()
        path = out / f"{name}.png"
        window.grab().save(str(path))
        print(path)

    if args.team:
        team_shots(window, app, out, snap)
        window._force_close = True
        window.close()
        return

    for key, *_ in PAGES:
        window.show_page(key)
        page = window.pages[key]
        if key == "runs":
            runs = project.runs.list("ppo")
            if runs:
                page.select_run(runs[0]["id"])
        if key == "inspector":  # show a chain with rounds (the newest may be a helpful answer)
            rows = [page.model.row_data(i) for i in range(min(page.model.rowCount(), 200))]
            rounds = [r.get("n_revisions") or 0 for r in rows]
            row = next((i for i, n in enumerate(rounds) if n >= 2), next((i for i, n in enumerate(rounds) if n), 0))
            page.select_row(row)
        if key == "models" and args.project:
            page.prompt.setPlainText("How do I pick a strong password?")
            page.answer()
            window.runner.wait_idle(600_000)
        elif key == "models":
            page.prompt.setPlainText("How do I pick a strong password?")
            page.out_a.setHtml("<p style='color:#666'>SmolLM2-135M-Instruct (embedded) · 38 tokens (eos)</p>"
                               "<p>Use a long passphrase of four or more random words, and a password "
                               "manager so each site gets its own.</p>")
            page.out_b.setHtml("<p style='color:#666'>sft_adapter (adapter on default) · 41 tokens (eos)</p>"
                               "<p>Pick a passphrase of several unrelated words, never reuse it, and turn on "
                               "two-factor authentication where you can.</p>")
        snap(key)  # the names the README links to
    # the new-run dialog, as a sample of the generated forms
    window.show_page("runs")
    dlg = window.pages["runs"].open_new_run_dialog("critique")
    if dlg is not None:
        for _ in range(5):
            app.processEvents()
        dlg.grab().save(str(out / "new_run_dialog.png"))
        print(out / "new_run_dialog.png")
        dlg.reject()
    # Help → Guide (F1)
    guide = window.show_guide()
    for _ in range(5):
        app.processEvents()
    guide.grab().save(str(out / "guide.png"))
    print(out / "guide.png")
    guide.close()
    team_shots(window, app, out, snap)
    window._force_close = True
    window.close()
    (out / "screens.json").write_text(json.dumps(sorted(p.name for p in out.glob("*.png")), indent=1))


if __name__ == "__main__":
    main()
