"""The store file's tables, its schema version and the forward migrations.

The schema is a public contract (documented in ``docs/schema.md``): users open the
file in any DuckDB client. Every change is a new numbered migration; a store is never
rewritten in place by an older tracklite (it refuses a newer schema instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tracklite.errors import StoreCorruptError

SCHEMA_VERSION = 1

_V1 = """
CREATE TABLE schema_info (
    version INTEGER NOT NULL,
    migrated_at BIGINT NOT NULL
);
CREATE TABLE experiments (
    experiment_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    artifact_location VARCHAR NOT NULL,
    lifecycle_stage VARCHAR NOT NULL,
    creation_time BIGINT,
    last_update_time BIGINT
);
CREATE TABLE experiment_tags (
    experiment_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE TABLE runs (
    run_key INTEGER NOT NULL,
    run_id VARCHAR NOT NULL,
    experiment_id VARCHAR NOT NULL,
    run_name VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    start_time BIGINT NOT NULL,
    end_time BIGINT,
    lifecycle_stage VARCHAR NOT NULL,
    artifact_uri VARCHAR NOT NULL,
    deleted_time BIGINT,
    writer VARCHAR
);
CREATE TABLE params (
    run_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE TABLE tags (
    run_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE TABLE metric_keys (
    key_id INTEGER NOT NULL,
    key VARCHAR NOT NULL
);
CREATE TABLE metrics (
    run_key INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    step BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    value DOUBLE NOT NULL
);
CREATE TABLE latest_metrics (
    run_key INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    step BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    value DOUBLE NOT NULL
);
CREATE TABLE artifact_chunks (
    digest VARCHAR PRIMARY KEY,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE artifact_files (
    root VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    digest VARCHAR NOT NULL,
    chunks VARCHAR[] NOT NULL,
    created_time BIGINT NOT NULL
);
CREATE TABLE log_progress (
    log_name VARCHAR NOT NULL,
    applied_offset BIGINT NOT NULL,
    updated_time BIGINT NOT NULL
);
CREATE VIEW metric_history AS
    SELECT r.run_id, k.key, m.step, m.timestamp, m.value
    FROM metrics m
    JOIN runs r USING (run_key)
    JOIN metric_keys k USING (key_id);
CREATE VIEW latest_metric_values AS
    SELECT r.run_id, k.key, m.step, m.timestamp, m.value
    FROM latest_metrics m
    JOIN runs r USING (run_key)
    JOIN metric_keys k USING (key_id);
"""


def _migrate_to_1(con: Any) -> None:
    con.execute(_V1)
    now = int(time.time() * 1000)
    con.execute(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
        "last_update_time) VALUES ('0', 'Default', 'tracklite-artifacts:/0', 'active', ?, ?)",
        [now, now],
    )


# Migration N brings a store from version N-1 to N. Append; never edit a released one.
MIGRATIONS: dict[int, Callable[[Any], None]] = {1: _migrate_to_1}


def current_version(con: Any) -> int:
    """The schema version of an open store; 0 for a new, empty file."""
    present = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_info' AND schema_name = 'main'"
    ).fetchone()[0]
    if not present:
        return 0
    row = con.execute("SELECT max(version) FROM schema_info").fetchone()
    return int(row[0] or 0)


def ensure_schema(con: Any, path: str) -> int:
    """Create or migrate the schema of the store at ``path`` in one transaction.

    Returns:
        The schema version after migration.

    Raises:
        StoreCorruptError: if the file was written by a newer tracklite.
    """
    version = current_version(con)
    if version == SCHEMA_VERSION:
        return version
    if version > SCHEMA_VERSION:
        raise StoreCorruptError(
            f"store '{path}' has schema version {version}, newer than this tracklite understands "
            f"({SCHEMA_VERSION}); upgrade tracklite (`pip install -U tracklite`) to open it."
        )
    con.execute("BEGIN TRANSACTION")
    try:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](con)
            con.execute(
                "INSERT INTO schema_info (version, migrated_at) VALUES (?, ?)", [target, int(time.time() * 1000)]
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION
