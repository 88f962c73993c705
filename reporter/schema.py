"""The state file's schema: named migrations, applied in order and recorded in ``migrations``."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "001_runs",
        """
        CREATE TABLE runs (
            run_id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            repository TEXT NOT NULL,
            branch TEXT,
            commit_sha TEXT NOT NULL,
            pr_number INTEGER,
            test_type TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT,
            started_at TEXT,
            completed_at TEXT,
            state TEXT NOT NULL CHECK (state IN ('pending', 'ingested', 'filtered', 'abandoned')),
            seen_at TEXT NOT NULL,
            ingested_at TEXT
        );
        CREATE INDEX runs_state ON runs (state);
        CREATE INDEX runs_completed ON runs (completed_at);
        CREATE TABLE run_tests (
            run_id INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
            regression_id INTEGER NOT NULL,
            sample_id INTEGER,
            status TEXT NOT NULL,
            PRIMARY KEY (run_id, regression_id)
        ) WITHOUT ROWID;
        CREATE TABLE sample_errors (
            run_id INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
            sample_id INTEGER NOT NULL,
            count INTEGER NOT NULL,
            severity TEXT NOT NULL,
            PRIMARY KEY (run_id, sample_id)
        ) WITHOUT ROWID;
        CREATE TABLE type_errors (
            run_id INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
            error_type TEXT NOT NULL,
            count INTEGER NOT NULL,
            severity TEXT NOT NULL,
            sample_ids TEXT NOT NULL,
            PRIMARY KEY (run_id, error_type)
        ) WITHOUT ROWID;
        CREATE TABLE samples (sample_id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    ),
    (
        "002_digests_outbox",
        """
        CREATE TABLE digests (
            period TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            findings TEXT NOT NULL
        );
        CREATE TABLE outbox (
            key TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            period TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
    """,
    ),
    (
        "003_tested_sets",
        """
        ALTER TABLE runs ADD COLUMN tested TEXT;
        UPDATE runs SET tested = (
            SELECT group_concat(sample_id) FROM run_tests t
            WHERE t.run_id = runs.run_id AND t.sample_id IS NOT NULL
              AND t.status IN ('pass', 'fail', 'missing_output'));
        CREATE INDEX run_tests_failed ON run_tests (run_id) WHERE status != 'pass'
    """,
    ),
)
