"""The model registry in the store file: registered models, versions, stages, aliases, tags,
and the audit trail every change appends to.

Functions take an open connection inside the caller's write transaction (``DuckDBStore``
wraps them), so a change and its audit rows land together or not at all; and since one
process writes the file at a time, "next version number" is read and used under that lock.
A registered model is found by name but joined by an internal ``model_key`` that renames
leave alone. Messages follow MLflow's ``SqlAlchemyStore``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tracklite.entities import ModelVersion, ModelVersionStage, RegisteredModel, RegistryEvent
from tracklite.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist

#: Artifact root of a pinned version's files (``@`` keeps it apart from experiment roots).
REGISTRY_ROOT = "@registry"
DELETED = ModelVersionStage.DELETED_INTERNAL
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")

_VERSION_COLUMNS = (
    "v.model_key, m.name, v.version, v.creation_timestamp, v.last_updated_timestamp, v.description, v.user_id, "
    "v.current_stage, v.source, v.run_id, v.status, v.run_link, v.model_id, v.storage_location"
)


# -- validation (MLflow's rules) ---------------------------------------------------------------------


def check_name(name: Any, field: str = "name") -> str:
    """A valid registered model name.

    Raises:
        InvalidParameterValue: for an empty name or one with ``/`` or ``:``.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterValue(
            f"Missing value for required parameter '{field}'. Give the registered model a name."
        )
    if "/" in name or ":" in name:
        raise InvalidParameterValue(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    return name


def check_version(version: Any) -> int:
    """``version`` as an int.

    Raises:
        InvalidParameterValue: if it is not a whole number.
    """
    if isinstance(version, bool):
        version = str(version)
    try:
        return int(version)
    except (TypeError, ValueError):
        raise InvalidParameterValue(
            f"Parameter 'version' must be an integer, got '{version}'. Versions are numbered 1, 2, 3..."
        ) from None


def canonical_stage(stage: Any) -> str:
    """``stage`` spelled as MLflow stores it (``"staging"`` -> ``"Staging"``).

    Raises:
        InvalidParameterValue: for a name that is not a stage.
    """
    for known in ModelVersionStage.ALL:
        if isinstance(stage, str) and stage.lower() == known.lower():
            return known
    raise InvalidParameterValue(
        f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(ModelVersionStage.ALL)}."
    )


def check_alias(alias: Any) -> str:
    """A valid alias name that is not reserved.

    Raises:
        InvalidParameterValue: for an empty, too long, badly spelled or reserved alias.
    """
    if not isinstance(alias, str) or alias == "":
        raise InvalidParameterValue("Registered model alias name cannot be empty.")
    if not _ALIAS.match(alias):
        raise InvalidParameterValue(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidParameterValue(
            f"Registered model alias name '{alias[:40]}...' had length {len(alias)}, "
            f"which exceeded length limit of {MAX_ALIAS_LENGTH}"
        )
    if alias.lower() == "latest":
        raise InvalidParameterValue("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS.match(alias):
        raise InvalidParameterValue(f"Version alias name '{alias}' is reserved.")
    return alias


def check_tag(key: Any, value: Any) -> tuple[str, str]:
    """A valid registry tag as ``(key, value)`` strings.

    Raises:
        InvalidParameterValue: for a missing or too long key, or a missing or too long value.
    """
    if not isinstance(key, str) or not key:
        raise InvalidParameterValue("Missing value for required parameter 'key'. A key name must be provided.")
    if len(key) > MAX_TAG_KEY_LENGTH:
        raise InvalidParameterValue(
            f"Tag key '{key[:40]}...' had length {len(key)}, which exceeded length limit of {MAX_TAG_KEY_LENGTH}"
        )
    if value is None:
        raise InvalidParameterValue(f"Tag value cannot be None (tag '{key}'); pass a string.")
    text = str(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidParameterValue(
            f"Tag value of '{key}' had length {len(text)}, which exceeded length limit of {MAX_TAG_VALUE_LENGTH}"
        )
    return key, text


# -- lookups -----------------------------------------------------------------------------------------


def model_key(con: Any, name: str) -> int:
    """The internal key of the registered model called ``name``.

    Raises:
        ResourceDoesNotExist: if there is none.
    """
    rows = con.execute("SELECT model_key FROM registered_models WHERE name = ?", [check_name(name)]).fetchall()
    if not rows:
        raise ResourceDoesNotExist(f"Registered Model with name={name} not found")
    return int(rows[0][0])


def model_exists(con: Any, name: str) -> bool:
    """Whether a registered model is called ``name``."""
    return bool(con.execute("SELECT 1 FROM registered_models WHERE name = ?", [check_name(name)]).fetchall())


def _version_row(con: Any, name: str, version: Any) -> tuple[int, int]:
    """``(model_key, version)`` of a live version.

    Raises:
        ResourceDoesNotExist: for an unknown model or version.
    """
    number = check_version(version)
    key = model_key(con, name)
    found = con.execute(
        "SELECT 1 FROM model_versions WHERE model_key = ? AND version = ? AND current_stage <> ?",
        [key, number, DELETED],
    ).fetchall()
    if not found:
        raise ResourceDoesNotExist(f"Model Version (name={name}, version={number}) not found")
    return key, number


# One statement per page of versions: each row carries its tags and aliases as lists.
_VERSIONS_SQL = f"""
SELECT {_VERSION_COLUMNS},
       (SELECT list(t.key ORDER BY t.key) FROM model_version_tags t
        WHERE t.model_key = v.model_key AND t.version = v.version) AS tag_keys,
       (SELECT list(t.value ORDER BY t.key) FROM model_version_tags t
        WHERE t.model_key = v.model_key AND t.version = v.version) AS tag_values,
       (SELECT list(a.alias ORDER BY a.alias) FROM registered_model_aliases a
        WHERE a.model_key = v.model_key AND a.version = v.version) AS aliases
FROM model_versions v JOIN registered_models m USING (model_key)
JOIN (SELECT unnest(?) AS model_key, unnest(?) AS version) r USING (model_key, version)
"""


def get_versions(con: Any, refs: Sequence[tuple[int, int]]) -> list[ModelVersion]:
    """Versions by ``(model_key, version)``, in the given order, with their tags and aliases."""
    if not refs:
        return []
    rows = con.execute(_VERSIONS_SQL, [[k for k, _ in refs], [v for _, v in refs]]).fetchall()
    by_ref = {(r[0], r[2]): r for r in rows}
    out = []
    for ref in refs:
        (_key, name, number, created, updated, description, user, stage, source, run_id, status, link, mid, loc,
         tag_keys, tag_values, aliases) = by_ref[ref]  # fmt: skip
        out.append(
            ModelVersion(
                name=name,
                version=number,
                creation_timestamp=created,
                last_updated_timestamp=updated,
                description=description,
                user_id=user,
                current_stage=stage,
                source=source,
                run_id=run_id,
                status=status,
                tags=dict(zip(tag_keys or [], tag_values or [], strict=True)),
                run_link=link,
                aliases=list(aliases or []),
                model_id=mid,
                storage_location=loc,
            )
        )
    return out


def get_version(con: Any, name: str, version: Any) -> ModelVersion:
    """One live version.

    Raises:
        ResourceDoesNotExist: for an unknown model or version.
    """
    return get_versions(con, [_version_row(con, name, version)])[0]


def latest_versions(con: Any, key: int, stages: Sequence[str] | None = None) -> list[ModelVersion]:
    """The newest version in each of ``stages`` (every stage if None or empty), in version order."""
    wanted = [canonical_stage(s) for s in stages] if stages else list(ModelVersionStage.ALL)
    rows = con.execute(
        "SELECT model_key, max(version) AS version FROM model_versions "
        "WHERE model_key = ? AND list_contains(?, current_stage) GROUP BY model_key, current_stage ORDER BY version",
        [key, wanted],
    ).fetchall()
    return get_versions(con, [(int(k), int(v)) for k, v in rows])


def get_models(con: Any, keys: Sequence[int]) -> list[RegisteredModel]:
    """Registered models by key, in the given order, with tags, aliases and latest versions."""
    if not keys:
        return []
    rows = {
        r[0]: r
        for r in con.execute(
            "SELECT model_key, name, description, creation_timestamp, last_updated_timestamp FROM registered_models "
            "WHERE list_contains(?, model_key)",
            [list(keys)],
        ).fetchall()
    }
    tags: dict[int, dict[str, str]] = {}
    for key, tag, value in con.execute(
        "SELECT model_key, key, value FROM registered_model_tags WHERE list_contains(?, model_key) ORDER BY key",
        [list(keys)],
    ).fetchall():
        tags.setdefault(key, {})[tag] = value
    aliases: dict[int, dict[str, int]] = {}
    for key, alias, number in con.execute(
        "SELECT model_key, alias, version FROM registered_model_aliases WHERE list_contains(?, model_key) "
        "ORDER BY alias",
        [list(keys)],
    ).fetchall():
        aliases.setdefault(key, {})[alias] = number
    latest_refs = con.execute(
        "SELECT model_key, max(version) FROM model_versions WHERE list_contains(?, model_key) AND current_stage <> ? "
        "GROUP BY model_key, current_stage ORDER BY 1, 2",
        [list(keys), DELETED],
    ).fetchall()
    latest: dict[int, list[ModelVersion]] = {}
    for mv, (key, _n) in zip(get_versions(con, [(k, n) for k, n in latest_refs]), latest_refs, strict=True):
        latest.setdefault(key, []).append(mv)
    return [
        RegisteredModel(
            name=rows[k][1],
            creation_timestamp=rows[k][3],
            last_updated_timestamp=rows[k][4],
            description=rows[k][2],
            latest_versions=latest.get(k, []),
            tags=tags.get(k, {}),
            aliases=aliases.get(k, {}),
        )
        for k in keys
    ]


def version_by_alias(con: Any, name: str, alias: str) -> ModelVersion:
    """The version ``alias`` points to.

    Raises:
        ResourceDoesNotExist: for an unknown model.
        InvalidParameterValue: for an unknown alias (MLflow's code for it).
    """
    key = model_key(con, name)
    rows = con.execute(
        "SELECT version FROM registered_model_aliases WHERE model_key = ? AND alias = ?", [key, alias]
    ).fetchall()
    if not rows:
        raise InvalidParameterValue(f"Registered model alias {alias} not found.")
    return get_versions(con, [(key, int(rows[0][0]))])[0]


def version_in_stage(con: Any, name: str, stage: str) -> ModelVersion:
    """The newest version in ``stage`` (``"latest"``: the newest of all), as ``models:/name/stage`` means.

    Raises:
        ResourceDoesNotExist: for an unknown model or no version in that stage.
    """
    key = model_key(con, name)
    latest = stage.lower() == "latest"
    found = latest_versions(con, key, None if latest else [stage])
    if not found:
        where = "" if latest else f" in stage '{canonical_stage(stage)}'"
        raise ResourceDoesNotExist(f"No versions of model with name '{name}'{where} found")
    return max(found, key=lambda mv: mv.version)


# -- changes and the audit trail --------------------------------------------------------------------


class Change:
    """One registry change in progress: the open transaction, when, who, and ``record`` to
    append its audit rows (they commit or roll back with the change)."""

    def __init__(self, con: Any, now: int, user: str) -> None:
        self.con, self.now, self.user = con, now, user

    def record(
        self,
        action: str,
        key: int,
        name: str,
        version: int | None = None,
        field: str | None = None,
        old: Any = None,
        new: Any = None,
    ) -> None:
        """Append one row to ``registry_audit``: ``action`` on model ``key`` (called ``name``),
        ``field`` of ``version`` going from ``old`` to ``new``."""
        self.con.execute(
            "INSERT INTO registry_audit (event_id, timestamp, user_id, action, model_key, name, version, key, "
            "old_value, new_value) SELECT coalesce(max(event_id), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ? "
            "FROM registry_audit",
            [self.now, self.user, action, key, name, version, field, _text(old), _text(new)],
        )

    def touch(self, key: int) -> None:
        """Mark a registered model as updated now."""
        self.con.execute("UPDATE registered_models SET last_updated_timestamp = ? WHERE model_key = ?", [self.now, key])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def history(con: Any, name: str) -> list[RegistryEvent]:
    """Every audit row of the model called ``name`` now (under any earlier name too), or of a
    deleted model that had this name, oldest first."""
    rows = con.execute(
        "SELECT event_id, timestamp, user_id, action, name, version, key, old_value, new_value FROM registry_audit "
        "WHERE model_key IN (SELECT model_key FROM registered_models WHERE name = ?) "
        "OR model_key IN (SELECT model_key FROM registry_audit WHERE name = ? "
        "  AND model_key NOT IN (SELECT model_key FROM registered_models)) "
        "ORDER BY event_id",
        [name, name],
    ).fetchall()
    return [RegistryEvent(*r) for r in rows]


# -- registered models -------------------------------------------------------------------------------


def create_model(tx: Change, name: str, tags: dict[str, str], description: str | None) -> int:
    """Add a registered model; returns its key.

    Raises:
        ResourceAlreadyExists: if the name is taken.
    """
    if model_exists(tx.con, name):
        raise ResourceAlreadyExists(f"Registered Model (name={name}) already exists.")
    # Keys are never reused, so a deleted model's audit rows stay apart from a new one's.
    key = int(
        tx.con.execute(
            "SELECT coalesce(max(k), 0) + 1 FROM (SELECT model_key AS k FROM registered_models "
            "UNION ALL SELECT model_key FROM registry_audit)"
        ).fetchone()[0]
    )
    tx.con.execute(
        "INSERT INTO registered_models (model_key, name, description, creation_timestamp, last_updated_timestamp) "
        "VALUES (?, ?, NULL, ?, ?)",
        [key, name, tx.now, tx.now],
    )
    tx.record("create_registered_model", key, name, new=name)
    for tag_key, value in tags.items():
        set_model_tag(tx, name, tag_key, value)
    if description:
        update_model(tx, name, description)
    return key


def rename_model(tx: Change, name: str, new_name: str) -> int:
    """Rename a registered model (its versions, tags, aliases and history follow it).

    Raises:
        ResourceAlreadyExists: if ``new_name`` is taken.
    """
    check_name(new_name, "new_name")
    key = model_key(tx.con, name)
    if new_name == name:
        return key
    if model_exists(tx.con, new_name):
        raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.")
    tx.con.execute("UPDATE registered_models SET name = ? WHERE model_key = ?", [new_name, key])
    tx.touch(key)
    tx.record("rename_registered_model", key, new_name, field="name", old=name, new=new_name)
    return key


def update_model(tx: Change, name: str, description: str | None) -> int:
    """Set a registered model's description."""
    key = model_key(tx.con, name)
    old = tx.con.execute("SELECT description FROM registered_models WHERE model_key = ?", [key]).fetchone()[0]
    tx.con.execute("UPDATE registered_models SET description = ? WHERE model_key = ?", [description, key])
    tx.touch(key)
    tx.record("update_registered_model", key, name, field="description", old=old, new=description)
    return key


def delete_model(tx: Change, name: str) -> list[str]:
    """Delete a registered model with its versions, tags and aliases; returns the artifact roots
    of its pinned versions (their files are the caller's to drop)."""
    key = model_key(tx.con, name)
    roots = [
        r[0]
        for r in tx.con.execute(
            "SELECT storage_location FROM model_versions WHERE model_key = ? AND current_stage <> ?", [key, DELETED]
        ).fetchall()
    ]
    for table in ("registered_model_aliases", "model_version_tags", "registered_model_tags", "model_versions"):
        tx.con.execute(f"DELETE FROM {table} WHERE model_key = ?", [key])
    tx.con.execute("DELETE FROM registered_models WHERE model_key = ?", [key])
    tx.record("delete_registered_model", key, name, old=name)
    return roots


def _replace_tag(tx: Change, table: str, where: str, ids: list[Any], tag_key: str, value: str | None) -> str | None:
    """Set (``value``) or delete (None) one tag of ``table`` whose owner matches ``where``;
    returns the value it had."""
    # Read, then delete: a lake's tables (DuckLake) have no DELETE ... RETURNING.
    old = tx.con.execute(f"SELECT value FROM {table} WHERE {where} AND key = ?", [*ids, tag_key]).fetchall()
    tx.con.execute(f"DELETE FROM {table} WHERE {where} AND key = ?", [*ids, tag_key])
    if value is not None:
        columns = "model_key, key, value" if len(ids) == 1 else "model_key, version, key, value"
        marks = ", ".join("?" for _ in range(len(ids) + 2))
        tx.con.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", [*ids, tag_key, value])
    return old[0][0] if old else None


def set_model_tag(tx: Change, name: str, tag_key: str, value: Any) -> None:
    """Set a tag on a registered model."""
    tag_key, text = check_tag(tag_key, value)
    key = model_key(tx.con, name)
    old = _replace_tag(tx, "registered_model_tags", "model_key = ?", [key], tag_key, text)
    tx.touch(key)
    tx.record("set_registered_model_tag", key, name, field=tag_key, old=old, new=text)


def delete_model_tag(tx: Change, name: str, tag_key: str) -> None:
    """Delete a registered model's tag.

    Raises:
        ResourceDoesNotExist: if the model has no such tag.
    """
    key = model_key(tx.con, name)
    old = _replace_tag(tx, "registered_model_tags", "model_key = ?", [key], tag_key, None)
    if old is None:
        raise ResourceDoesNotExist(f"No tag with name: {tag_key} in registered model with name: {name}")
    tx.touch(key)
    tx.record("delete_registered_model_tag", key, name, field=tag_key, old=old)


# -- versions ----------------------------------------------------------------------------------------


def next_version(con: Any, key: int) -> int:
    """The number the next version of model ``key`` gets (deleted numbers are never reused)."""
    row = con.execute("SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE model_key = ?", [key]).fetchone()
    return int(row[0])


def version_root(key: int, version: int) -> str:
    """The artifact root a version's files are pinned under."""
    return f"{REGISTRY_ROOT}/{key}/{version}"


def insert_version(
    tx: Change,
    *,
    key: int,
    name: str,
    version: int,
    source: str,
    run_id: str | None,
    run_link: str | None,
    model_id: str | None,
    storage_location: str,
    description: str | None,
    tags: dict[str, str],
) -> None:
    """Add a READY version whose files are already pinned under ``storage_location``."""
    tx.con.execute(
        "INSERT INTO model_versions (model_key, version, description, user_id, current_stage, source, run_id, "
        "run_link, model_id, storage_location, status, creation_timestamp, last_updated_timestamp) "
        "VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, 'READY', ?, ?)",
        [key, version, tx.user, ModelVersionStage.NONE, source, run_id, run_link, model_id, storage_location,
         tx.now, tx.now],
    )  # fmt: skip
    tx.touch(key)
    tx.record("create_model_version", key, name, version, new=source)
    for tag_key, value in tags.items():
        set_version_tag(tx, name, version, tag_key, value)
    if description:
        update_version(tx, name, version, description)


def _set_version_column(tx: Change, key: int, number: int, column: str, value: Any) -> Any:
    """Set one column of a version (and its update time); returns the value it had."""
    old = tx.con.execute(
        f"SELECT {column} FROM model_versions WHERE model_key = ? AND version = ?", [key, number]
    ).fetchone()[0]
    tx.con.execute(
        f"UPDATE model_versions SET {column} = ?, last_updated_timestamp = ? WHERE model_key = ? AND version = ?",
        [value, tx.now, key, number],
    )
    return old


def update_version(tx: Change, name: str, version: Any, description: str | None) -> None:
    """Set a version's description."""
    key, number = _version_row(tx.con, name, version)
    old = _set_version_column(tx, key, number, "description", description)
    tx.record("update_model_version", key, name, number, "description", old, description)


def transition_stage(tx: Change, name: str, version: Any, stage: str, archive_existing: bool) -> None:
    """Move a version to ``stage``; with ``archive_existing``, the model's other versions in that
    stage move to Archived (one audit row each).

    Raises:
        InvalidParameterValue: for an unknown stage, or ``archive_existing`` with a stage other
            than Staging or Production.
    """
    target = canonical_stage(stage)
    if archive_existing and target not in ModelVersionStage.ACTIVE:
        raise InvalidParameterValue(
            "Model version transition cannot archive existing model versions because "
            f"'{stage}' is not an Active stage. Valid stages are {list(ModelVersionStage.ACTIVE)}"
        )
    key, number = _version_row(tx.con, name, version)
    if archive_existing:
        others = tx.con.execute(
            "SELECT version FROM model_versions WHERE model_key = ? AND version <> ? AND current_stage = ? "
            "ORDER BY version",
            [key, number, target],
        ).fetchall()
        for (other,) in others:
            _set_version_column(tx, key, other, "current_stage", ModelVersionStage.ARCHIVED)
            tx.record(
                "transition_model_version_stage", key, name, other, "current_stage", target, ModelVersionStage.ARCHIVED
            )
    old = _set_version_column(tx, key, number, "current_stage", target)
    tx.touch(key)
    tx.record("transition_model_version_stage", key, name, number, "current_stage", old, target)


def delete_version(tx: Change, name: str, version: Any) -> str:
    """Delete a version (its aliases and tags go too; its number is never reused); returns its
    artifact location (its pinned files are the caller's to drop)."""
    key, number = _version_row(tx.con, name, version)
    aliases = tx.con.execute(
        "SELECT alias FROM registered_model_aliases WHERE model_key = ? AND version = ? ORDER BY alias", [key, number]
    ).fetchall()
    for (alias,) in aliases:
        delete_alias(tx, name, alias)
    tx.con.execute("DELETE FROM model_version_tags WHERE model_key = ? AND version = ?", [key, number])
    location = tx.con.execute(
        "SELECT storage_location FROM model_versions WHERE model_key = ? AND version = ?", [key, number]
    ).fetchone()[0]
    _set_version_column(tx, key, number, "description", None)
    stage = _set_version_column(tx, key, number, "current_stage", DELETED)
    tx.touch(key)
    tx.record("delete_model_version", key, name, number, old=stage)
    return str(location)


def set_version_tag(tx: Change, name: str, version: Any, tag_key: str, value: Any) -> None:
    """Set a tag on a version."""
    tag_key, text = check_tag(tag_key, value)
    key, number = _version_row(tx.con, name, version)
    old = _replace_tag(tx, "model_version_tags", "model_key = ? AND version = ?", [key, number], tag_key, text)
    tx.record("set_model_version_tag", key, name, number, tag_key, old, text)


def delete_version_tag(tx: Change, name: str, version: Any, tag_key: str) -> None:
    """Delete a version's tag.

    Raises:
        ResourceDoesNotExist: if the version has no such tag.
    """
    key, number = _version_row(tx.con, name, version)
    old = _replace_tag(tx, "model_version_tags", "model_key = ? AND version = ?", [key, number], tag_key, None)
    if old is None:
        raise ResourceDoesNotExist(
            f"No tag with name: {tag_key} for model version with name: {name}, version: {number}"
        )
    tx.record("delete_model_version_tag", key, name, number, tag_key, old)


# -- aliases -----------------------------------------------------------------------------------------


def _move_alias(tx: Change, key: int, alias: str, number: int | None) -> int | None:
    """Point ``alias`` of model ``key`` at version ``number`` (None: remove it); returns the
    version it pointed at before."""
    where = "WHERE model_key = ? AND alias = ?"
    old = tx.con.execute(f"SELECT version FROM registered_model_aliases {where}", [key, alias]).fetchall()
    tx.con.execute(f"DELETE FROM registered_model_aliases {where}", [key, alias])
    if number is not None:
        tx.con.execute(
            "INSERT INTO registered_model_aliases (model_key, alias, version) VALUES (?, ?, ?)", [key, alias, number]
        )
    return int(old[0][0]) if old else None


def set_alias(tx: Change, name: str, alias: str, version: Any) -> None:
    """Point ``alias`` at a version (moving it if it pointed elsewhere)."""
    check_alias(alias)
    key, number = _version_row(tx.con, name, version)
    old = _move_alias(tx, key, alias, number)
    tx.touch(key)
    tx.record("set_registered_model_alias", key, name, number, alias, old, number)


def delete_alias(tx: Change, name: str, alias: str) -> None:
    """Remove an alias (a no-op for an alias the model does not have, as in MLflow)."""
    check_alias(alias)
    key = model_key(tx.con, name)
    old = _move_alias(tx, key, alias, None)
    if old is not None:
        tx.touch(key)
        tx.record("delete_registered_model_alias", key, name, old, alias, old)
