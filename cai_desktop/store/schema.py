"""The project file's schema, as ``sqlite_utils.Migrations`` applied in order on open.

Never edit a migration that has shipped: add a new one at the end. A project file records the
migrations it has had, so a file touched by a newer CAI Desktop (one with migrations this version
does not know) is refused instead of being damaged.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

MIGRATION_SET = "cai_desktop"
migrations = Migrations(MIGRATION_SET)


@migrations(name="m001_initial")
def m001_initial(db: Database) -> None:
    db.execute("CREATE TABLE project_meta (key TEXT PRIMARY KEY, value TEXT)")

    # Constitutions: the live, editable state plus an immutable snapshot per saved version.
    db.execute(
        """CREATE TABLE constitutions (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, title TEXT DEFAULT '',
            description TEXT DEFAULT '', system_prompt TEXT DEFAULT '',
            few_shot_json TEXT DEFAULT '[]', version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT, updated_at TEXT)"""
    )
    db.execute(
        """CREATE TABLE principles (
            id INTEGER PRIMARY KEY,
            constitution_id INTEGER NOT NULL REFERENCES constitutions(id) ON DELETE CASCADE,
            position INTEGER NOT NULL, key TEXT NOT NULL, title TEXT DEFAULT '',
            critique_request TEXT NOT NULL, revision_request TEXT NOT NULL,
            comparison_question TEXT DEFAULT '', tags_json TEXT DEFAULT '[]',
            enabled INTEGER NOT NULL DEFAULT 1,
            UNIQUE (constitution_id, key))"""
    )
    db.execute(
        """CREATE TABLE constitution_versions (
            id INTEGER PRIMARY KEY,
            constitution_id INTEGER NOT NULL REFERENCES constitutions(id) ON DELETE CASCADE,
            version INTEGER NOT NULL, content_json TEXT NOT NULL, content_hash TEXT NOT NULL,
            note TEXT DEFAULT '', created_at TEXT,
            UNIQUE (constitution_id, version))"""
    )
    # The exact principle text a generated record was made with; never updated, only added.
    db.execute(
        """CREATE TABLE principle_snapshots (
            id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, constitution_name TEXT,
            key TEXT NOT NULL, title TEXT DEFAULT '', critique_request TEXT,
            revision_request TEXT, comparison_question TEXT, tags_json TEXT DEFAULT '[]',
            created_at TEXT)"""
    )

    # Prompt sets with a stable, seeded train/test split.
    db.execute(
        """CREATE TABLE prompt_sets (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
            source TEXT DEFAULT '', split_seed INTEGER DEFAULT 0,
            test_fraction REAL DEFAULT 0.1, created_at TEXT)"""
    )
    db.execute(
        """CREATE TABLE prompts (
            id INTEGER PRIMARY KEY,
            set_id INTEGER NOT NULL REFERENCES prompt_sets(id) ON DELETE CASCADE,
            position INTEGER NOT NULL, text TEXT NOT NULL, category TEXT DEFAULT '',
            split TEXT NOT NULL DEFAULT 'train', meta_json TEXT DEFAULT '{}',
            UNIQUE (set_id, text))"""
    )
    db.execute("CREATE INDEX idx_prompts_set ON prompts(set_id, position)")

    # Models and adapters used or produced in this project.
    db.execute(
        """CREATE TABLE models (
            id INTEGER PRIMARY KEY, spec TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
            display_name TEXT DEFAULT '', info_json TEXT DEFAULT '{}', added_at TEXT)"""
    )

    # Runs (one per job launch), their metrics and log.
    db.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT DEFAULT '',
            status TEXT NOT NULL DEFAULT 'queued', config_json TEXT DEFAULT '{}',
            result_json TEXT DEFAULT '{}', lineage_json TEXT DEFAULT '{}', error TEXT,
            progress_done INTEGER DEFAULT 0, progress_total INTEGER DEFAULT 0,
            parent_run_id INTEGER REFERENCES runs(id),
            created_at TEXT, started_at TEXT, finished_at TEXT)"""
    )
    db.execute(
        """CREATE TABLE metrics (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            name TEXT NOT NULL, step INTEGER NOT NULL, value REAL, created_at TEXT)"""
    )
    db.execute("CREATE INDEX idx_metrics_run ON metrics(run_id, name, step)")
    db.execute(
        """CREATE TABLE run_logs (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            created_at TEXT, text TEXT)"""
    )

    # Stage 1: critique -> revision chains. Round 0 is the initial answer.
    db.execute(
        """CREATE TABLE chains (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            prompt_id INTEGER NOT NULL REFERENCES prompts(id),
            constitution_id INTEGER REFERENCES constitutions(id),
            constitution_version INTEGER, model_spec TEXT, style TEXT DEFAULT 'chat',
            n_revisions INTEGER, seed INTEGER, sampling_json TEXT DEFAULT '{}',
            initial_text TEXT, final_text TEXT,
            review_status TEXT NOT NULL DEFAULT 'unreviewed', human_revision TEXT,
            reviewer TEXT, note TEXT DEFAULT '', created_at TEXT, reviewed_at TEXT,
            UNIQUE (run_id, prompt_id))"""
    )
    db.execute("CREATE INDEX idx_chains_review ON chains(review_status)")
    db.execute(
        """CREATE TABLE chain_steps (
            id INTEGER PRIMARY KEY,
            chain_id INTEGER NOT NULL REFERENCES chains(id) ON DELETE CASCADE,
            round INTEGER NOT NULL,
            principle_snapshot_id INTEGER REFERENCES principle_snapshots(id),
            critique TEXT, revision TEXT, raw_revision TEXT, cleaned INTEGER DEFAULT 0,
            seed INTEGER, created_at TEXT,
            UNIQUE (chain_id, round))"""
    )

    # Stage 2: response pairs, AI comparisons (soft labels), human reviews.
    db.execute(
        """CREATE TABLE response_pairs (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            prompt_id INTEGER NOT NULL REFERENCES prompts(id),
            policy_spec TEXT, response_a TEXT, response_b TEXT, seed INTEGER,
            sampling_json TEXT DEFAULT '{}', created_at TEXT,
            UNIQUE (run_id, prompt_id))"""
    )
    db.execute(
        """CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            source TEXT NOT NULL DEFAULT 'pair', source_id INTEGER,
            prompt_id INTEGER REFERENCES prompts(id), prompt_text TEXT,
            response_a TEXT, response_b TEXT,
            principle_snapshot_id INTEGER REFERENCES principle_snapshots(id),
            feedback_model TEXT, mode TEXT DEFAULT 'direct', clamp TEXT DEFAULT 'none',
            p_a REAL, p_b REAL, raw_label REAL, label REAL, order_shift REAL,
            reasoning TEXT, seed INTEGER, kind TEXT DEFAULT 'harmless',
            human_choice TEXT, reviewer TEXT, reviewed_at TEXT, created_at TEXT,
            UNIQUE (run_id, source, source_id))"""
    )
    db.execute(
        """CREATE TABLE reviews (
            id INTEGER PRIMARY KEY, target_kind TEXT NOT NULL, target_id INTEGER NOT NULL,
            reviewer TEXT, decision TEXT, edited_text TEXT, note TEXT, created_at TEXT)"""
    )
    db.execute("CREATE INDEX idx_reviews_target ON reviews(target_kind, target_id)")
    db.execute(
        """CREATE TABLE adapters (
            id INTEGER PRIMARY KEY, name TEXT, kind TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            path TEXT NOT NULL, base_model_spec TEXT, lineage_json TEXT DEFAULT '{}',
            created_at TEXT)"""
    )


@migrations(name="m002_run_owner")
def m002_run_owner(db: Database) -> None:
    """Who runs a 'running' run: the process (pid, host) and when it last showed it was alive, so a
    run left 'running' by a killed process is continued and one running elsewhere is not taken."""
    db.execute("ALTER TABLE runs ADD COLUMN owner_pid INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN owner_host TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN heartbeat_at TEXT")


#: an SQL expression for a fresh random uid (32 hex characters)
_NEW_UID = "lower(hex(randomblob(16)))"


@migrations(name="m003_team_review")
def m003_team_review(db: Database) -> None:
    """Team review (issue 12): every decision is kept per reviewer, with a uid (so a review pack
    imports once), the principle text the reviewer was shown and the pack it came back in; chains
    and comparisons get a uid (review packs name items by it); packs and their assignments of items
    to reviewers are recorded; the project gets a uid and a review policy (``single``)."""
    for table in ("chains", "comparisons"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN uid TEXT")
        db.execute(f"UPDATE {table} SET uid = {_NEW_UID} WHERE uid IS NULL")
        db.execute(f"CREATE UNIQUE INDEX idx_{table}_uid ON {table}(uid)")
        db.execute(
            f"""CREATE TRIGGER trg_{table}_uid AFTER INSERT ON {table} FOR EACH ROW WHEN NEW.uid IS NULL
                BEGIN UPDATE {table} SET uid = {_NEW_UID} WHERE id = NEW.id; END"""
        )
    for col in ("uid", "principle_text", "pack_uid", "item_uid"):
        db.execute(f"ALTER TABLE reviews ADD COLUMN {col} TEXT")
    # A demonstration was a chain written as 'edited' without a log entry: it gets one, so the log
    # holds every decision and the final decision can always be worked out from the log.
    db.execute(
        """INSERT INTO reviews (target_kind, target_id, reviewer, decision, edited_text, note, created_at)
           SELECT 'chain', c.id, c.reviewer, 'edited', c.human_revision, NULL, COALESCE(c.reviewed_at, c.created_at)
           FROM chains c WHERE c.n_revisions = 0 AND c.human_revision IS NOT NULL AND NOT EXISTS
               (SELECT 1 FROM reviews r WHERE r.target_kind = 'chain' AND r.target_id = c.id)"""
    )
    db.execute(f"UPDATE reviews SET uid = {_NEW_UID} WHERE uid IS NULL")
    db.execute(
        """UPDATE reviews SET item_uid = (SELECT uid FROM chains WHERE chains.id = reviews.target_id)
           WHERE target_kind = 'chain'"""
    )
    db.execute(
        """UPDATE reviews SET item_uid = (SELECT uid FROM comparisons WHERE comparisons.id = reviews.target_id)
           WHERE target_kind = 'comparison'"""
    )
    # the principle text shown: a comparison's question; a chain's critique requests, one per round
    db.execute(
        """UPDATE reviews SET principle_text = (
               SELECT ps.key || ': ' || COALESCE(NULLIF(ps.comparison_question, ''), ps.critique_request, '')
               FROM comparisons c JOIN principle_snapshots ps ON ps.id = c.principle_snapshot_id
               WHERE c.id = reviews.target_id) WHERE target_kind = 'comparison'"""
    )
    db.execute(
        """UPDATE reviews SET principle_text = (
               SELECT group_concat(line, char(10)) FROM (
                   SELECT DISTINCT ps.key || ': ' || COALESCE(ps.critique_request, '') AS line
                   FROM chain_steps s JOIN principle_snapshots ps ON ps.id = s.principle_snapshot_id
                   WHERE s.chain_id = reviews.target_id ORDER BY s.round))
           WHERE target_kind = 'chain'"""
    )
    db.execute("CREATE UNIQUE INDEX idx_reviews_uid ON reviews(uid)")
    db.execute("CREATE INDEX idx_reviews_reviewer ON reviews(reviewer)")
    db.execute(
        f"""CREATE TRIGGER trg_reviews_uid AFTER INSERT ON reviews FOR EACH ROW WHEN NEW.uid IS NULL
            BEGIN UPDATE reviews SET uid = {_NEW_UID} WHERE id = NEW.id; END"""
    )
    db.execute(
        """CREATE TRIGGER trg_reviews_item_uid AFTER INSERT ON reviews FOR EACH ROW WHEN NEW.item_uid IS NULL
           BEGIN UPDATE reviews SET item_uid = CASE NEW.target_kind
               WHEN 'chain' THEN (SELECT uid FROM chains WHERE id = NEW.target_id)
               WHEN 'comparison' THEN (SELECT uid FROM comparisons WHERE id = NEW.target_id) END
           WHERE id = NEW.id; END"""
    )
    db.execute(
        """CREATE TABLE review_packs (
            uid TEXT PRIMARY KEY, name TEXT DEFAULT '', created_at TEXT, blind INTEGER NOT NULL DEFAULT 0,
            k INTEGER NOT NULL DEFAULT 1, reviewers_json TEXT DEFAULT '[]', n_items INTEGER DEFAULT 0,
            selection_json TEXT DEFAULT '{}')"""
    )
    db.execute(
        """CREATE TABLE review_assignments (
            id INTEGER PRIMARY KEY, pack_uid TEXT NOT NULL REFERENCES review_packs(uid) ON DELETE CASCADE,
            target_kind TEXT NOT NULL, target_id INTEGER NOT NULL, reviewer TEXT NOT NULL,
            UNIQUE (pack_uid, target_kind, target_id, reviewer))"""
    )
    db.execute("CREATE INDEX idx_assignments_reviewer ON review_assignments(reviewer, target_kind, target_id)")
    db.execute(
        """CREATE TABLE pack_imports (
            id INTEGER PRIMARY KEY, pack_uid TEXT NOT NULL, file_hash TEXT, reviewers_json TEXT DEFAULT '[]',
            n_new INTEGER DEFAULT 0, n_known INTEGER DEFAULT 0, imported_at TEXT)"""
    )
    for key, value in (("uid", None), ("review_policy", "single"), ("review_adjudicator", "")):
        db.execute(
            f"INSERT OR IGNORE INTO project_meta (key, value) VALUES (?, {_NEW_UID if value is None else '?'})",
            [key] if value is None else [key, value],
        )


@migrations(name="m004_monitoring")
def m004_monitoring(db: Database) -> None:
    """Monitoring (issue 13): imported production logs (one row per import: its file and time),
    their prompt → answer items, the flags a monitor run gave them (per principle, from the
    feedback model, and the judge's label), and reviewers' decisions (each kept, never overwritten)."""
    db.execute(
        """CREATE TABLE monitor_imports (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT DEFAULT '', format TEXT DEFAULT '',
            file_hash TEXT DEFAULT '', n_items INTEGER DEFAULT 0, n_conversations INTEGER DEFAULT 0,
            n_unanswered INTEGER DEFAULT 0, note TEXT DEFAULT '', imported_at TEXT)"""
    )
    db.execute(
        """CREATE TABLE monitor_items (
            id INTEGER PRIMARY KEY,
            import_id INTEGER NOT NULL REFERENCES monitor_imports(id) ON DELETE CASCADE,
            position INTEGER NOT NULL, prompt TEXT NOT NULL, response TEXT NOT NULL,
            source_where TEXT DEFAULT '', source_time TEXT DEFAULT '', source_id TEXT DEFAULT '',
            status TEXT NOT NULL DEFAULT 'unchecked', added_json TEXT DEFAULT '{}',
            UNIQUE (import_id, position))"""
    )
    db.execute("CREATE INDEX idx_monitor_items_status ON monitor_items(status)")
    db.execute(
        """CREATE TABLE monitor_flags (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            item_id INTEGER NOT NULL REFERENCES monitor_items(id) ON DELETE CASCADE,
            source TEXT NOT NULL, principle_key TEXT NOT NULL DEFAULT '',
            principle_snapshot_id INTEGER REFERENCES principle_snapshots(id),
            score REAL, flagged INTEGER NOT NULL DEFAULT 0, detail TEXT DEFAULT '', created_at TEXT,
            UNIQUE (run_id, item_id, source, principle_key))"""
    )
    db.execute("CREATE INDEX idx_monitor_flags_item ON monitor_flags(item_id)")
    db.execute(
        """CREATE TABLE monitor_reviews (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES monitor_items(id) ON DELETE CASCADE,
            reviewer TEXT, decision TEXT NOT NULL, note TEXT DEFAULT '', created_at TEXT)"""
    )
    db.execute("CREATE INDEX idx_monitor_reviews_item ON monitor_reviews(item_id)")
