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
    (
        # One row per finished attempt of a run (a restart keeps the run id); results, errors and
        # exit codes per attempt; the regression tests seen, with their categories.
        "004_attempts",
        """
        CREATE TABLE attempts (
            run_id INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
            attempt INTEGER NOT NULL CHECK (attempt >= 1),
            status TEXT NOT NULL,
            created_at TEXT,
            started_at TEXT,
            completed_at TEXT,
            tested TEXT,
            complete INTEGER NOT NULL DEFAULT 1,
            ingested_at TEXT NOT NULL,
            PRIMARY KEY (run_id, attempt)
        );
        INSERT INTO attempts
            SELECT run_id, 1, status, created_at, started_at, completed_at, tested, 1,
                   COALESCE(ingested_at, seen_at)
            FROM runs WHERE state = 'ingested';
        CREATE INDEX attempts_completed ON attempts (completed_at);
        CREATE TABLE attempt_tests (
            run_id INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            regression_id INTEGER NOT NULL,
            sample_id INTEGER,
            status TEXT NOT NULL,
            exit_code INTEGER,
            expected_rc INTEGER,
            PRIMARY KEY (run_id, attempt, regression_id),
            FOREIGN KEY (run_id, attempt) REFERENCES attempts (run_id, attempt) ON DELETE CASCADE
        ) WITHOUT ROWID;
        INSERT INTO attempt_tests
            SELECT t.run_id, 1, t.regression_id, t.sample_id, t.status, NULL, NULL
            FROM run_tests t JOIN attempts a ON a.run_id = t.run_id;
        DROP TABLE run_tests;
        ALTER TABLE attempt_tests RENAME TO run_tests;
        CREATE INDEX run_tests_failed ON run_tests (run_id, attempt) WHERE status != 'pass';
        CREATE TABLE attempt_sample_errors (
            run_id INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            sample_id INTEGER NOT NULL,
            count INTEGER NOT NULL,
            severity TEXT NOT NULL,
            PRIMARY KEY (run_id, attempt, sample_id),
            FOREIGN KEY (run_id, attempt) REFERENCES attempts (run_id, attempt) ON DELETE CASCADE
        ) WITHOUT ROWID;
        INSERT INTO attempt_sample_errors
            SELECT e.run_id, 1, e.sample_id, e.count, e.severity
            FROM sample_errors e JOIN attempts a ON a.run_id = e.run_id;
        DROP TABLE sample_errors;
        ALTER TABLE attempt_sample_errors RENAME TO sample_errors;
        CREATE TABLE attempt_type_errors (
            run_id INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            error_type TEXT NOT NULL,
            count INTEGER NOT NULL,
            severity TEXT NOT NULL,
            sample_ids TEXT NOT NULL,
            PRIMARY KEY (run_id, attempt, error_type),
            FOREIGN KEY (run_id, attempt) REFERENCES attempts (run_id, attempt) ON DELETE CASCADE
        ) WITHOUT ROWID;
        INSERT INTO attempt_type_errors
            SELECT e.run_id, 1, e.error_type, e.count, e.severity, e.sample_ids
            FROM type_errors e JOIN attempts a ON a.run_id = e.run_id;
        DROP TABLE type_errors;
        ALTER TABLE attempt_type_errors RENAME TO type_errors;
        CREATE TABLE regression_tests (
            regression_id INTEGER PRIMARY KEY,
            sample_id INTEGER,
            categories TEXT NOT NULL DEFAULT '[]',
            last_seen TEXT
        );
        INSERT INTO regression_tests (regression_id, sample_id, last_seen)
            SELECT t.regression_id, t.sample_id, MAX(a.completed_at)
            FROM run_tests t JOIN attempts a USING (run_id, attempt)
            GROUP BY t.regression_id
    """,
    ),
    (
        # What a channel has already delivered of one outbox item: a Slack message's ts, each reply
        # or webhook part, each email recipient that accepted it. A retry goes on from there.
        "005_outbox_parts",
        """
        CREATE TABLE outbox_parts (
            key TEXT NOT NULL REFERENCES outbox (key) ON DELETE CASCADE,
            part TEXT NOT NULL,
            value TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            PRIMARY KEY (key, part)
        ) WITHOUT ROWID
    """,
    ),
    (
        # Runs whose platform answers broke the contract (a record with a bad field): why, how
        # often, and when to read them again. Kept apart from runs: such a run may be unknown
        # otherwise, and runs.state's CHECK cannot be widened without rebuilding the table.
        "006_invalid_runs",
        """
        CREATE TABLE invalid_runs (
            run_id INTEGER PRIMARY KEY,
            reason TEXT NOT NULL,
            tries INTEGER NOT NULL CHECK (tries >= 1),
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            retry_at TEXT NOT NULL
        )
    """,
    ),
    (
        # The failing results hold every column the history reads: a year loads from this index alone.
        "007_failed_results_index",
        """
        DROP INDEX run_tests_failed;
        CREATE INDEX run_tests_failed
            ON run_tests (run_id, attempt, regression_id, sample_id, status, exit_code, expected_rc)
            WHERE status != 'pass'
    """,
    ),
)
