"""Logged models in the store file: their rows, params and tags (files are artifacts).

A logged model's files live under the artifact root ``<experiment>/models/<model_id>/artifacts``
(the layout of MLflow 3's file store), chunked and deduplicated like every artifact.
Functions take an open connection; ``DuckDBStore`` wraps them in its transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from tracklite.entities import LoggedModel, LoggedModelStatus
from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist

_COLUMNS = (
    "model_id, experiment_id, name, artifact_location, creation_timestamp, last_updated_timestamp, status, "
    "source_run_id, model_type"
)


def new_model_id() -> str:
    """A fresh logged-model id, ``m-<32 hex>`` as MLflow 3's."""
    return f"m-{uuid.uuid4().hex}"


def insert(
    con: Any,
    *,
    model_id: str,
    experiment_id: str,
    name: str,
    artifact_location: str,
    source_run_id: str | None,
    model_type: str | None,
    params: dict[str, str],
    tags: dict[str, str],
    now: int,
) -> None:
    """Add a PENDING logged model with its params and tags."""
    con.execute(
        f"INSERT INTO logged_models ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            model_id,
            experiment_id,
            name,
            artifact_location,
            now,
            now,
            LoggedModelStatus.PENDING,
            source_run_id,
            model_type,
        ],
    )
    for table, items in (("logged_model_params", params), ("logged_model_tags", tags)):
        if items:
            con.executemany(
                f"INSERT INTO {table} (model_id, key, value) VALUES (?, ?, ?)",
                [[model_id, k, str(v)] for k, v in items.items()],
            )


def set_status(con: Any, model_id: str, status: str, now: int) -> None:
    """Set a logged model's status (READY once its files are stored, FAILED if saving failed).

    Raises:
        ResourceDoesNotExist: for an unknown model id.
    """
    if status not in (LoggedModelStatus.PENDING, LoggedModelStatus.READY, LoggedModelStatus.FAILED):
        raise InvalidParameterValue(f"Invalid logged model status {status!r}; use PENDING, READY or FAILED.")
    # Counts, not RETURNING: a lake's tables (DuckLake) have no RETURNING.
    (found,) = con.execute(
        "UPDATE logged_models SET status = ?, last_updated_timestamp = ? WHERE model_id = ?",
        [status, now, model_id],
    ).fetchone()
    if not found:
        raise _not_found(model_id)


def set_tags(con: Any, model_id: str, tags: dict[str, str], now: int) -> None:
    """Set (or replace) tags of a logged model."""
    get(con, [model_id])  # raises for an unknown id
    for key, value in tags.items():
        con.execute("DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?", [model_id, key])
        con.execute(
            "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?)", [model_id, key, str(value)]
        )
    con.execute("UPDATE logged_models SET last_updated_timestamp = ? WHERE model_id = ?", [now, model_id])


def delete_tag(con: Any, model_id: str, key: str, now: int) -> None:
    """Remove one tag of a logged model.

    Raises:
        ResourceDoesNotExist: for an unknown model id or a tag it does not have.
    """
    get(con, [model_id])
    (gone,) = con.execute("DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?", [model_id, key]).fetchone()
    if not gone:
        raise ResourceDoesNotExist(f"No tag with key '{key}' on logged model '{model_id}'.")
    con.execute("UPDATE logged_models SET last_updated_timestamp = ? WHERE model_id = ?", [now, model_id])


def log_params(con: Any, model_id: str, params: dict[str, str], now: int) -> None:
    """Add params to a logged model (a key it has keeps its value only if unchanged).

    Raises:
        InvalidParameterValue: for a param that would change.
    """
    get(con, [model_id])
    existing = dict(con.execute("SELECT key, value FROM logged_model_params WHERE model_id = ?", [model_id]).fetchall())
    for key, value in params.items():
        if key in existing:
            if existing[key] != value:
                raise InvalidParameterValue(
                    f"Changing param values is not allowed. Param with key='{key}' was already logged with "
                    f"value='{existing[key]}' for logged model '{model_id}'. Attempted logging new value '{value}'."
                )
            continue
        con.execute("INSERT INTO logged_model_params (model_id, key, value) VALUES (?, ?, ?)", [model_id, key, value])
    con.execute("UPDATE logged_models SET last_updated_timestamp = ? WHERE model_id = ?", [now, model_id])


def delete(con: Any, model_id: str) -> str:
    """Remove a logged model's rows; returns its artifact location (for its files)."""
    found = get(con, [model_id])[0]
    for table in ("logged_model_params", "logged_model_tags", "logged_models"):
        con.execute(f"DELETE FROM {table} WHERE model_id = ?", [model_id])
    return found.artifact_location


def _not_found(model_id: str) -> ResourceDoesNotExist:
    return ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found; see `tracklite.search_logged_models()`.")


def get(con: Any, model_ids: Sequence[str]) -> list[LoggedModel]:
    """Logged models by id, in the given order.

    Raises:
        ResourceDoesNotExist: naming the first id that is not in the store.
    """
    if not model_ids:
        return []
    ids = list(model_ids)
    rows = {
        r[0]: r
        for r in con.execute(f"SELECT {_COLUMNS} FROM logged_models WHERE list_contains(?, model_id)", [ids]).fetchall()
    }
    missing = [m for m in ids if m not in rows]
    if missing:
        raise _not_found(missing[0])
    extras: dict[str, tuple[dict[str, str], dict[str, str]]] = {m: ({}, {}) for m in ids}
    for slot, table in enumerate(("logged_model_params", "logged_model_tags")):
        for model_id, key, value in con.execute(
            f"SELECT model_id, key, value FROM {table} WHERE list_contains(?, model_id)", [ids]
        ).fetchall():
            extras[model_id][slot][key] = value
    models = []
    for m in ids:
        model_id, exp_id, name, location, created, updated, status, run_id, model_type = rows[m]
        models.append(
            LoggedModel(
                model_id,
                exp_id,
                name,
                location,
                created,
                updated,
                status,
                run_id,
                model_type,
                extras[m][1],
                extras[m][0],
            )
        )
    return models


def location(con: Any, model_id: str) -> str:
    """A logged model's artifact location (one query, for loading it).

    Raises:
        ResourceDoesNotExist: for an unknown id.
    """
    rows = con.execute("SELECT artifact_location FROM logged_models WHERE model_id = ?", [model_id]).fetchall()
    if not rows:
        raise _not_found(model_id)
    return str(rows[0][0])


def find_by_run(con: Any, run_id: str, name: str) -> str | None:
    """The newest READY logged model of ``run_id`` called ``name`` (what ``runs:/<run>/<name>`` means)."""
    rows = con.execute(
        "SELECT model_id FROM logged_models WHERE source_run_id = ? AND name = ? AND status = ? "
        "ORDER BY creation_timestamp DESC, model_id LIMIT 1",
        [run_id, name, LoggedModelStatus.READY],
    ).fetchall()
    return rows[0][0] if rows else None
