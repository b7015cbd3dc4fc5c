"""The model registry of a ``DuckDBStore``: each call one transaction over ``store.registry``'s SQL.

Registering pins the model's files: the version gets its own artifact root
(``@registry/<model key>/<version>``) whose file rows point at the same content-addressed
chunks as the source, so pinning copies no bytes, and changing or deleting the source run
or logged model later cannot break the version.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tracklite.entities import LoggedModelStatus, ModelVersion, RegisteredModel, RegistryEvent
from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist
from tracklite.store import artifacts as _artifacts
from tracklite.store import logged_models as _logged
from tracklite.store import registry as _reg
from tracklite.store.artifacts import ARTIFACT_SCHEME, artifact_root
from tracklite.store.base import RegistryStore
from tracklite.users import current_user

if TYPE_CHECKING:
    from tracklite.store.duckdb_store import DuckDBStore


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Source:
    """Where a version's files come from: a stored root and path, or a local directory."""

    def __init__(
        self,
        root: str | None = None,
        path: str = "",
        local_dir: str | None = None,
        model_id: str | None = None,
        run_id: str | None = None,
        uri: str | None = None,
    ) -> None:
        self.root, self.path, self.local_dir, self.model_id, self.run_id = root, path, local_dir, model_id, run_id
        self.uri = uri  # what the version records as its source, if not the URI given


class DuckDBRegistry(RegistryStore):
    """The registry tables of one store file (MLflow's registry store methods)."""

    def __init__(self, store: DuckDBStore) -> None:
        self._store = store

    @contextmanager
    def _change(self) -> Iterator[_reg.Change]:
        """A write transaction, with the time and the acting user of the change."""
        with self._store._write() as con:
            yield _reg.Change(con, _now_ms(), current_user())

    # -- registered models ------------------------------------------------------------

    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        """Add a registered model.

        Raises:
            ResourceAlreadyExists: if the name is taken.
            InvalidParameterValue: for an invalid name or tag.
        """
        with self._change() as tx:
            key = _reg.create_model(tx, name, dict(tags or {}), description)
            return _reg.get_models(tx.con, [key])[0]

    def get_registered_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version per stage."""
        with self._store._read() as con:
            return _reg.get_models(con, [_reg.model_key(con, name)])[0]

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        offset: int = 0,
    ) -> list[RegisteredModel]:
        """Registered models matching a filter, by name unless ``order_by`` says otherwise."""
        from tracklite.search import compile_registered_model_search

        query = compile_registered_model_search(filter_string, order_by, max_results, offset)
        with self._store._read() as con:
            keys = [int(r[0]) for r in con.execute(query.sql, query.params).fetchall()]
            return _reg.get_models(con, keys)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a registered model."""
        with self._change() as tx:
            key = _reg.rename_model(tx, name, new_name)
            return _reg.get_models(tx.con, [key])[0]

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        """Set a registered model's description."""
        with self._change() as tx:
            key = _reg.update_model(tx, name, description)
            return _reg.get_models(tx.con, [key])[0]

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model, its versions (and their pinned files), tags and aliases."""
        with self._change() as tx:
            for location in _reg.delete_model(tx, name):
                _artifacts.delete_root(tx.con, artifact_root(location))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set a tag on a registered model."""
        with self._change() as tx:
            _reg.set_model_tag(tx, name, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Delete a registered model's tag."""
        with self._change() as tx:
            _reg.delete_model_tag(tx, name, key)

    # -- versions ---------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        create_model: bool = False,
    ) -> ModelVersion:
        """Register the model at ``source`` as the next version of ``name``, pinning its files.

        ``source``: ``models:/<model_id>``, ``runs:/<run_id>/<path>``, ``models:/<name>/<version>``
        (and stage or alias forms) or a local model directory. With ``create_model``, a missing
        registered model is created in the same transaction (``register_model``).

        Raises:
            ResourceDoesNotExist: for an unknown model, or a source with no model files.
            InvalidParameterValue: for a source tracklite cannot read.
        """
        if not isinstance(source, str) or not source:
            raise InvalidParameterValue("create_model_version needs a source: a models:/, runs:/ URI or a local path.")
        checked_tags = dict(_reg.check_tag(k, v) for k, v in (tags or {}).items())
        with self._change() as tx:
            if create_model and not _reg.model_exists(tx.con, name):
                _reg.create_model(tx, name, {}, None)
            key = _reg.model_key(tx.con, name)
            found = self._resolve_source(tx.con, source)
            version = _reg.next_version(tx.con, key)
            root = _reg.version_root(key, version)
            if found.local_dir is not None:
                _artifacts.put_dir(tx.con, root, found.local_dir)
            else:
                assert found.root is not None
                _artifacts.copy_tree(tx.con, found.root, found.path, root)
            if not _artifacts.files_under(tx.con, root, ""):
                raise ResourceDoesNotExist(f"Model source '{source}' holds no files; register a saved model directory.")
            _reg.insert_version(
                tx,
                key=key,
                name=name,
                version=version,
                source=found.uri or source,
                run_id=run_id if run_id is not None else found.run_id,
                run_link=run_link,
                model_id=found.model_id,
                storage_location=ARTIFACT_SCHEME + root,
                description=description,
                tags=checked_tags,
            )
            return _reg.get_versions(tx.con, [(key, version)])[0]

    def _resolve_source(self, con: Any, source: str) -> _Source:
        if source.startswith("models:/"):
            ref = source[len("models:/") :].strip("/")
            if ref.startswith("m-") and "/" not in ref:
                found = _logged.get(con, [ref])[0]
                if found.status != LoggedModelStatus.READY:
                    raise InvalidParameterValue(f"Logged model '{ref}' is {found.status}, not READY; it has no files.")
                return _Source(artifact_root(found.artifact_location), model_id=ref, run_id=found.source_run_id)
            mv = self._version_for_ref(con, ref)
            return _Source(artifact_root(mv.storage_location or ""), model_id=mv.model_id, run_id=mv.run_id)
        if source.startswith("runs:/"):
            from tracklite.models.uri import parse_runs_uri

            run_id, path = parse_runs_uri(source)
            model_id = _logged.find_by_run(con, run_id, path)
            if model_id is not None:
                found = _logged.get(con, [model_id])[0]
                # As MLflow 3 records it: the logged model the run URI stands for.
                return _Source(
                    artifact_root(found.artifact_location), model_id=model_id, run_id=run_id, uri=found.model_uri
                )
            info = self._store._run_info(con, run_id)[1]
            return _Source(artifact_root(info.artifact_uri), _artifacts.clean_artifact_path(path), run_id=run_id)
        local = source.removeprefix("file://")
        if "://" not in local and os.path.isdir(local):
            return _Source(local_dir=local)
        if "://" not in local and not local.startswith(("models:", "runs:")):
            raise ResourceDoesNotExist(f"Model source '{source}' is not a directory; pass a saved model directory.")
        raise InvalidParameterValue(
            f"Unsupported model source '{source}': use models:/<model_id>, runs:/<run_id>/<path>, "
            "models:/<name>/<version> or a local model directory."
        )

    def _version_for_ref(self, con: Any, ref: str) -> ModelVersion:
        """The version a ``models:/`` reference after the scheme names: ``name/version``,
        ``name/stage``, ``name/latest`` or ``name@alias``."""
        if "@" in ref and "/" not in ref:
            name, alias = ref.split("@", 1)
            return _reg.version_by_alias(con, name, alias)
        name, sep, which = ref.rpartition("/")
        if not sep or not name or not which:
            raise InvalidParameterValue(
                f"Invalid model URI 'models:/{ref}': use models:/<name>/<version>, models:/<name>/<stage>, "
                "models:/<name>@<alias> or models:/<model_id>."
            )
        if which.isdigit():
            return _reg.get_version(con, name, which)
        return _reg.version_in_stage(con, name, which)

    def resolve_model_reference(self, ref: str) -> ModelVersion:
        """The version ``models:/<ref>`` means (see ``_version_for_ref``).

        Raises:
            ResourceDoesNotExist: for an unknown model, version, stage or alias.
        """
        with self._store._read() as con:
            return self._version_for_ref(con, ref)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        """One version of a registered model."""
        with self._store._read() as con:
            return _reg.get_version(con, name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        offset: int = 0,
    ) -> list[ModelVersion]:
        """Versions matching a filter, by name then newest version first unless ``order_by`` says otherwise."""
        from tracklite.search import compile_model_version_search

        query = compile_model_version_search(filter_string, order_by, max_results, offset)
        with self._store._read() as con:
            ids = [int(r[0]) for r in con.execute(query.sql, query.params).fetchall()]
            return _reg.get_versions(con, [(i >> 32, i & 0xFFFFFFFF) for i in ids])

    def update_model_version(self, name: str, version: str | int, description: str | None) -> ModelVersion:
        """Set a version's description."""
        with self._change() as tx:
            _reg.update_version(tx, name, version, description)
            return _reg.get_version(tx.con, name, version)

    def delete_model_version(self, name: str, version: str | int) -> None:
        """Delete a version and its pinned files; its aliases and tags go with it."""
        with self._change() as tx:
            location = _reg.delete_version(tx, name, version)
            _artifacts.delete_root(tx.con, artifact_root(location))

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        """Move a version to a stage, optionally archiving the others in that stage."""
        with self._change() as tx:
            _reg.transition_stage(tx, name, version, stage, archive_existing_versions)
            return _reg.get_version(tx.con, name, version)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each stage asked for (every stage if None)."""
        with self._store._read() as con:
            return _reg.latest_versions(con, _reg.model_key(con, name), stages)

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        """Set a tag on a version."""
        with self._change() as tx:
            _reg.set_version_tag(tx, name, version, key, value)

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        """Delete a version's tag."""
        with self._change() as tx:
            _reg.delete_version_tag(tx, name, version, key)

    # -- aliases ----------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point an alias at a version."""
        with self._change() as tx:
            _reg.set_alias(tx, name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias."""
        with self._change() as tx:
            _reg.delete_alias(tx, name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points to."""
        with self._store._read() as con:
            return _reg.version_by_alias(con, name, alias)

    # -- files and history ------------------------------------------------------------

    def model_version_manifest(self, version: ModelVersion) -> list[tuple[str, int, list[str]]]:
        """Every pinned file of a version: ``(relative path, size, chunk digests)``."""
        with self._store._read() as con:
            return _artifacts.files_under(con, artifact_root(version.storage_location or ""), "")

    def download_model_version(self, version: ModelVersion, dst_dir: str) -> str:
        """Write a version's pinned files into ``dst_dir``; returns ``dst_dir``."""
        return _artifacts.write_tree(
            self._store.connector.connect, artifact_root(version.storage_location or ""), "", dst_dir
        )

    def get_registry_history(self, name: str) -> list[RegistryEvent]:
        """The audit trail of the model called ``name`` (see ``store.registry.history``), oldest first."""
        with self._store._read() as con:
            events = _reg.history(con, name)
        if not events:
            with self._store._read() as con:
                _reg.model_key(con, name)  # raises: no such model, now or before
        return events
