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

SCHEMA_VERSION = 8

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


# Version 2: the documented, stable views that ``tracklite.sql`` and the DuckDB shell query
# (``SET search_path = 'views,main'``). They hide the internal ids (``run_key``, ``key_id``,
# ``writer``); their tables are named ``main.`` so the views bind whatever the search path.
_V2 = """
CREATE SCHEMA views;
CREATE VIEW views.experiments AS
    SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time
    FROM main.experiments;
CREATE VIEW views.experiment_tags AS
    SELECT experiment_id, key, value FROM main.experiment_tags;
CREATE VIEW views.runs AS
    SELECT run_id, experiment_id, run_name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri
    FROM main.runs;
CREATE VIEW views.params AS
    SELECT run_id, key, value FROM main.params;
CREATE VIEW views.tags AS
    SELECT run_id, key, value FROM main.tags;
CREATE VIEW views.metrics AS
    SELECT r.run_id, k.key, m.step, m.timestamp, m.value
    FROM main.metrics m
    JOIN main.runs r USING (run_key)
    JOIN main.metric_keys k USING (key_id);
CREATE VIEW views.latest_metrics AS
    SELECT r.run_id, k.key, m.step, m.timestamp, m.value
    FROM main.latest_metrics m
    JOIN main.runs r USING (run_key)
    JOIN main.metric_keys k USING (key_id);
"""

# The views of schema ``views`` (version 2 on); ``tracklite.sql`` checks that writes leave them alone.
VIEWS = (
    "experiments",
    "experiment_tags",
    "runs",
    "params",
    "tags",
    "metrics",
    "latest_metrics",
    "logged_models",
    "logged_model_params",
    "logged_model_tags",
    "registered_models",
    "registered_model_tags",
    "model_versions",
    "model_version_tags",
    "registered_model_aliases",
    "registry_audit",
    "run_inputs",
)


def _migrate_to_2(con: Any) -> None:
    con.execute(_V2)


# Migration N brings a store from version N-1 to N. Append; never edit a released one.
def _migrate_to_3(con: Any) -> None:
    # Every call names a run by run_id; with thousands of runs a scan per call adds up.
    con.execute("CREATE UNIQUE INDEX runs_run_id ON runs (run_id)")


# Version 4: logged models (MLflow 3's LoggedModel). Their files are artifacts under the
# root ``<experiment>/models/<model_id>/artifacts``; params are copied from the source run.
_V4 = """
CREATE TABLE logged_models (
    model_id VARCHAR NOT NULL,
    experiment_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    source_run_id VARCHAR,
    artifact_location VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    model_type VARCHAR,
    creation_timestamp BIGINT NOT NULL,
    last_updated_timestamp BIGINT NOT NULL
);
CREATE UNIQUE INDEX logged_models_model_id ON logged_models (model_id);
CREATE TABLE logged_model_params (
    model_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE TABLE logged_model_tags (
    model_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE VIEW views.logged_models AS
    SELECT model_id, experiment_id, name, source_run_id, artifact_location, status, model_type,
           creation_timestamp, last_updated_timestamp
    FROM main.logged_models;
CREATE VIEW views.logged_model_params AS SELECT model_id, key, value FROM main.logged_model_params;
CREATE VIEW views.logged_model_tags AS SELECT model_id, key, value FROM main.logged_model_tags;
"""


def _migrate_to_4(con: Any) -> None:
    con.execute(_V4)


def _migrate_to_5(con: Any) -> None:
    # Searches join params and tags to runs; an integer key scans and hashes far less than
    # the 32-character run_id (about 2 ms per table at 10,000 runs).
    for table in ("params", "tags"):
        con.execute(f"ALTER TABLE {table} ADD COLUMN run_key INTEGER")
        con.execute(f"UPDATE {table} SET run_key = r.run_key FROM runs r WHERE r.run_id = {table}.run_id")


# Version 6: the model registry. A registered model has an internal ``model_key`` that a
# rename leaves alone, so versions, tags, aliases and the audit trail never need rewriting.
# Deleted versions stay as rows (stage ``Deleted_Internal``, hidden by the views) so that
# their numbers are never handed out again, as in MLflow.
_V6 = """
CREATE TABLE registered_models (
    model_key INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR,
    creation_timestamp BIGINT NOT NULL,
    last_updated_timestamp BIGINT NOT NULL
);
CREATE UNIQUE INDEX registered_models_name ON registered_models (name);
CREATE TABLE registered_model_tags (
    model_key INTEGER NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE TABLE model_versions (
    model_key INTEGER NOT NULL,
    version INTEGER NOT NULL,
    description VARCHAR,
    user_id VARCHAR,
    current_stage VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    run_id VARCHAR,
    run_link VARCHAR,
    model_id VARCHAR,
    storage_location VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    creation_timestamp BIGINT NOT NULL,
    last_updated_timestamp BIGINT NOT NULL
);
CREATE TABLE model_version_tags (
    model_key INTEGER NOT NULL,
    version INTEGER NOT NULL,
    key VARCHAR NOT NULL,
    value VARCHAR NOT NULL
);
CREATE TABLE registered_model_aliases (
    model_key INTEGER NOT NULL,
    alias VARCHAR NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE registry_audit (
    event_id BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    user_id VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    model_key INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    version INTEGER,
    key VARCHAR,
    old_value VARCHAR,
    new_value VARCHAR
);
CREATE VIEW views.registered_models AS
    SELECT name, description, creation_timestamp, last_updated_timestamp FROM main.registered_models;
CREATE VIEW views.registered_model_tags AS
    SELECT m.name, t.key, t.value FROM main.registered_model_tags t JOIN main.registered_models m USING (model_key);
CREATE VIEW views.model_versions AS
    SELECT m.name, v.version, v.current_stage, v.description, v.user_id, v.source, v.run_id, v.model_id,
           v.storage_location, v.status, v.creation_timestamp, v.last_updated_timestamp
    FROM main.model_versions v JOIN main.registered_models m USING (model_key)
    WHERE v.current_stage <> 'Deleted_Internal';
CREATE VIEW views.model_version_tags AS
    SELECT m.name, t.version, t.key, t.value
    FROM main.model_version_tags t JOIN main.registered_models m USING (model_key);
CREATE VIEW views.registered_model_aliases AS
    SELECT m.name, a.alias, a.version
    FROM main.registered_model_aliases a JOIN main.registered_models m USING (model_key);
CREATE VIEW views.registry_audit AS
    SELECT event_id, timestamp, user_id, action, name, version, key, old_value, new_value FROM main.registry_audit;
"""


def _migrate_to_6(con: Any) -> None:
    con.execute(_V6)


# Version 7: what a tracking server needs. ``run_inputs`` keeps the datasets a run logged
# (MLflow's ``log_inputs``); ``users`` and the two permission tables back ``--auth``
# (MLflow's basic-auth app). Passwords are stored only as salted hashes, and none of
# these auth tables is in the ``views`` schema that SQL users see.
_V7 = """
CREATE TABLE run_inputs (
    run_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    digest VARCHAR NOT NULL,
    source_type VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    schema VARCHAR,
    profile VARCHAR,
    tags VARCHAR NOT NULL
);
CREATE TABLE users (
    username VARCHAR NOT NULL,
    password_hash VARCHAR NOT NULL,
    is_admin BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (username);
CREATE TABLE experiment_permissions (
    experiment_id VARCHAR NOT NULL,
    username VARCHAR NOT NULL,
    permission VARCHAR NOT NULL
);
CREATE TABLE registered_model_permissions (
    name VARCHAR NOT NULL,
    username VARCHAR NOT NULL,
    permission VARCHAR NOT NULL
);
CREATE VIEW views.run_inputs AS
    SELECT run_id, name, digest, source_type, source, schema, profile, tags FROM main.run_inputs;
"""


def _migrate_to_7(con: Any) -> None:
    con.execute(_V7)


# Version 8: rows a repair had to take out of a table (a key stored twice while its unique
# index had lost entries, DuckDB 1.4), kept as JSON. Stores tracklite 0.1 on DuckDB 1.4.4
# may have damaged are repaired once after this migration (``ensure_schema``).
_V8 = """
CREATE TABLE IF NOT EXISTS set_aside_rows (
    table_name VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    row_json VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    set_aside_time BIGINT NOT NULL
);
"""


def _migrate_to_8(con: Any) -> None:
    con.execute(_V8)


# The unique indexes the migrations above create, by name: (table, column). A repair
# drops and recreates them (``store.integrity``).
UNIQUE_INDEXES: dict[str, tuple[str, str]] = {
    "runs_run_id": ("runs", "run_id"),
    "logged_models_model_id": ("logged_models", "model_id"),
    "registered_models_name": ("registered_models", "name"),
    "users_username": ("users", "username"),
}


# The migrations a lake can take in place (no indexes or keys in them).
LAKE_MIGRATIONS: dict[int, Callable[[Any], None]] = {8: _migrate_to_8}

MIGRATIONS: dict[int, Callable[[Any], None]] = {
    1: _migrate_to_1,
    2: _migrate_to_2,
    3: _migrate_to_3,
    4: _migrate_to_4,
    5: _migrate_to_5,
    6: _migrate_to_6,
    7: _migrate_to_7,
    8: _migrate_to_8,
}


def quote_identifier(name: str) -> str:
    """``name`` as a DuckDB identifier: in double quotes, inner double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """``value`` as a DuckDB string literal: in single quotes, inner single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def runs_wide_sql(con: Any) -> str:
    """The ``CREATE TEMP VIEW runs_wide`` statement for the store's current keys.

    One row per run: the columns of ``views.runs``, then one ``params.<key>`` column per
    param key (VARCHAR) and one ``metrics.<key>`` column per metric key (the latest value,
    DOUBLE), each sorted by key. Keys become quoted identifiers and string literals (quotes
    doubled), never bare SQL. The view depends on the data, so it is built per query.
    """
    param_keys = [r[0] for r in con.execute("SELECT DISTINCT key FROM main.params ORDER BY key").fetchall()]
    metric_keys = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT k.key FROM main.latest_metrics JOIN main.metric_keys k USING (key_id) ORDER BY k.key"
        ).fetchall()
    ]
    select = ["r.*"]
    joins = []
    for alias, prefix, keys, source in (
        ("p", "params", param_keys, "views.params"),
        ("m", "metrics", metric_keys, "views.latest_metrics"),
    ):
        if not keys:
            continue
        columns = ", ".join(
            f"any_value(value) FILTER (WHERE key = {quote_literal(k)}) AS {quote_identifier(f'{prefix}.{k}')}"
            for k in keys
        )
        joins.append(f" LEFT JOIN (SELECT run_id, {columns} FROM {source} GROUP BY run_id) {alias} USING (run_id)")
        select.append(f"{alias}.* EXCLUDE (run_id)")
    return f"CREATE OR REPLACE TEMP VIEW runs_wide AS SELECT {', '.join(select)} FROM views.runs r{''.join(joins)}"


def current_version(con: Any) -> int:
    """The schema version of an open store; 0 for a new, empty file."""
    present = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_info' AND schema_name = 'main' "
        "AND database_name = current_database()"
    ).fetchone()[0]
    if not present:
        return 0
    row = con.execute("SELECT max(version) FROM schema_info").fetchone()
    return int(row[0] or 0)


def _migrate(con: Any, migrations: dict[int, Callable[[Any], None]], version: int) -> None:
    """Bring a store of ``version`` to ``SCHEMA_VERSION`` in one transaction, recording each step."""
    con.execute("BEGIN TRANSACTION")
    try:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            migrations[target](con)
            con.execute(
                "INSERT INTO schema_info (version, migrated_at) VALUES (?, ?)", [target, int(time.time() * 1000)]
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def ensure_schema(con: Any, path: str) -> int:
    """Create or migrate the schema of the store at ``path`` in one transaction.

    A new file gets every migration in order; a file of an older version gets the ones it
    lacks (a version 1 store gains the ``views`` schema), all or none of them. A store
    older than version 8 then has its unique indexes checked and repaired; a current one
    gets back a unique index that an interrupted repair left dropped.

    Returns:
        The schema version after migration.

    Raises:
        StoreCorruptError: if the file was written by a newer tracklite.
    """
    from tracklite.store.integrity import repair_unique_indexes, restore_unique_indexes

    version = current_version(con)
    if version == SCHEMA_VERSION:
        restore_unique_indexes(con)
        return version
    if version > SCHEMA_VERSION:
        raise StoreCorruptError(
            f"store '{path}' has schema version {version}, newer than this tracklite understands "
            f"({SCHEMA_VERSION}); upgrade tracklite (`pip install -U tracklite`) to open it."
        )
    if 0 < version < 8:
        # Once, for what tracklite 0.1 on DuckDB 1.4.4 may have damaged; before the version
        # moves, so that a repair that fails is tried again by the next open.
        con.execute(_V8)
        repair_unique_indexes(con)
    _migrate(con, MIGRATIONS, version)
    # Fold the migration's updates into the file now: updated columns scan slower until then.
    con.execute("CHECKPOINT")
    return SCHEMA_VERSION


def ensure_lake_schema(con: Any, uri: str) -> int:
    """Create the schema in the lake attached as ``con``'s default catalog, or check an
    existing one's version. The caller holds the lake's write lock.

    A lake gets the latest schema in one step, copied from a store built by the migrations
    above (so there is one definition of every table and view), minus what DuckLake cannot
    hold: indexes and key constraints. Uniqueness is kept by the store's code instead, whose
    writes take turns on the lake (``store.lake_store``).

    Raises:
        StoreCorruptError: for a lake of another schema version.
    """
    import duckdb

    version = current_version(con)
    if version == SCHEMA_VERSION:
        return version
    if version and all(target in LAKE_MIGRATIONS for target in range(version + 1, SCHEMA_VERSION + 1)):
        _migrate(con, LAKE_MIGRATIONS, version)
        return SCHEMA_VERSION
    if version:
        newer = version > SCHEMA_VERSION
        raise StoreCorruptError(
            f"lake '{uri}' has schema version {version}, "
            + (
                f"newer than this tracklite understands ({SCHEMA_VERSION}); upgrade tracklite to open it."
                if newer
                else f"and this tracklite ({SCHEMA_VERSION}) cannot migrate a lake in place; copy it into a "
                "new lake with `tracklite migrate` using the tracklite that wrote it."
            )
        )
    template = duckdb.connect()
    try:
        ensure_schema(template, ":memory:")
        schemas = [
            r[0] for r in template.execute("SELECT schema_name FROM duckdb_schemas() WHERE NOT internal").fetchall()
        ]
        columns = template.execute(
            "SELECT table_name, list(format('{} {}{}', column_name, data_type, "
            "CASE WHEN is_nullable THEN '' ELSE ' NOT NULL' END) ORDER BY column_index) "
            "FROM duckdb_columns() WHERE database_name = 'memory' AND schema_name = 'main' AND NOT internal "
            "AND table_name IN (SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory') "
            "GROUP BY table_name ORDER BY table_name"
        ).fetchall()
        views = [
            r[0]
            for r in template.execute(
                "SELECT sql FROM duckdb_views() WHERE database_name = 'memory' AND NOT internal "
                "ORDER BY schema_name, view_name"
            ).fetchall()
        ]
        con.execute("BEGIN TRANSACTION")
        try:
            for schema in schemas:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
            for table, cols in columns:
                con.execute(f"CREATE TABLE main.{quote_identifier(table)} ({', '.join(cols)})")
                rows = template.execute(f"SELECT * FROM main.{quote_identifier(table)}").fetch_arrow_table()
                if rows.num_rows:
                    con.register("_tracklite_rows", rows)
                    con.execute(f"INSERT INTO main.{quote_identifier(table)} SELECT * FROM _tracklite_rows")
                    con.unregister("_tracklite_rows")
            for view in views:
                con.execute(view)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        template.close()
    return SCHEMA_VERSION
