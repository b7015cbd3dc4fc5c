"""The model-registry half of ``Client`` (``MlflowClient``'s registry methods).

Registered models, their numbered versions, stages, aliases and tags live in the same
store as runs; every change appends a row to the audit trail (``get_registry_history``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracklite.entities import ModelVersion, PagedList, RegisteredModel, RegistryEvent
from tracklite.errors import InvalidParameterValue
from tracklite.store import TrackingStore

SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT = 100
SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD = 1000
SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT = 10_000
SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD = 200_000


def _page(search: Any, max_results: Any, threshold: int, page_token: str | None) -> PagedList:
    """One page of ``search(limit, offset)`` with the token of the next."""
    from tracklite.search import decode_page_token, encode_page_token

    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise InvalidParameterValue(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results}"
        )
    if max_results > threshold:
        raise InvalidParameterValue(
            f"Invalid value for request parameter max_results. It must be at most {threshold}, "
            f"but got value {max_results}"
        )
    offset = decode_page_token(page_token)
    found = search(max_results + 1, offset)
    token = encode_page_token(offset + max_results) if len(found) > max_results else None
    return PagedList(found[:max_results], token)


class RegistryClient:
    """Registry methods of ``Client``; see MLflow's ``MlflowClient`` for the same names."""

    _store: TrackingStore

    # -- registered models ------------------------------------------------------------

    def create_registered_model(
        self, name: str, tags: dict[str, Any] | None = None, description: str | None = None
    ) -> RegisteredModel:
        """Create a registered model (its versions come from ``create_model_version``).

        Raises:
            ResourceAlreadyExists: if a model of that name exists.
            InvalidParameterValue: for an empty name, one with ``/`` or ``:``, or a bad tag.
        """
        return self._store.registry.create_registered_model(name, tags, description)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version per stage.

        Raises:
            ResourceDoesNotExist: for an unknown name.
        """
        return self._store.registry.get_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """Registered models matching a filter, a page at a time.

        Args:
            filter_string: e.g. ``"name LIKE 'iris%'"``, ``"name ILIKE '%Iris%'"``,
                ``"tags.team = 'vision'"``; joined with ``AND``.
            max_results: Page size, at most 1000.
            order_by: e.g. ``["last_updated_timestamp DESC"]``; by name by default.
            page_token: The previous page's ``token``.

        Raises:
            InvalidParameterValue: for a malformed filter, order_by, page size or token.
        """
        return _page(
            lambda limit, offset: self._store.registry.search_registered_models(filter_string, limit, order_by, offset),
            max_results,
            SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD,
            page_token,
        )

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a registered model; versions, aliases, tags and history follow it.

        Raises:
            ResourceDoesNotExist: for an unknown name.
            ResourceAlreadyExists: if ``new_name`` is taken.
        """
        return self._store.registry.rename_registered_model(name, new_name)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        """Set a registered model's description."""
        return self._store.registry.update_registered_model(name, description)

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model with all its versions, tags and aliases (the audit trail stays)."""
        self._store.registry.delete_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        """Set a tag on a registered model."""
        self._store.registry.set_registered_model_tag(name, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Delete a registered model's tag."""
        self._store.registry.delete_registered_model_tag(name, key)

    # -- versions ---------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Register the model at ``source`` as the next version (1, 2, 3...) of ``name``.

        The version's files are pinned in the store now, so later changes to the source run or
        logged model do not affect it.

        Args:
            name: An existing registered model.
            source: ``models:/<model_id>``, ``runs:/<run_id>/<path>``, ``models:/<name>/<version>``
                or a local model directory (copied into the store).
            run_id: The run that produced it (taken from the source when omitted).

        Raises:
            ResourceDoesNotExist: for an unknown model, run, logged model or empty source.
            InvalidParameterValue: for a source tracklite cannot read.
        """
        return self._store.registry.create_model_version(name, source, run_id, tags, run_link, description)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        """One version of a registered model.

        Raises:
            ResourceDoesNotExist: for an unknown model or version.
        """
        return self._store.registry.get_model_version(name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """Model versions matching a filter (``"name = 'iris'"``, ``"run_id = '...'"``,
        ``"version_number > 2"``, ``"tags.validated = 'yes'"``); by default most recently updated
        first, then by name and newest version, as in MLflow.

        Raises:
            InvalidParameterValue: for a malformed filter, order_by, page size or token.
        """
        return _page(
            lambda limit, offset: self._store.registry.search_model_versions(filter_string, limit, order_by, offset),
            max_results,
            SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD,
            page_token,
        )

    def update_model_version(self, name: str, version: str | int, description: str | None = None) -> ModelVersion:
        """Set a version's description."""
        return self._store.registry.update_model_version(name, version, description)

    def delete_model_version(self, name: str, version: str | int) -> None:
        """Delete a version; aliases pointing at it go too, and its number is never reused."""
        self._store.registry.delete_model_version(name, version)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        """Where the version's pinned files are stored (``tracklite-artifacts:/@registry/...``)."""
        return str(self._store.registry.get_model_version(name, version).storage_location)

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        """Move a version to ``stage`` (None, Staging, Production or Archived; any case).

        Args:
            archive_existing_versions: Also move the model's other versions in that stage to
                Archived; only for Staging and Production.

        Raises:
            InvalidParameterValue: for an unknown stage, or archiving with another stage.
            ResourceDoesNotExist: for an unknown model or version.
        """
        return self._store.registry.transition_model_version_stage(name, version, stage, archive_existing_versions)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when None)."""
        return self._store.registry.get_latest_versions(name, stages)

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: Any) -> None:
        """Set a tag on a version."""
        self._store.registry.set_model_version_tag(name, version, key, value)

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        """Delete a version's tag."""
        self._store.registry.delete_model_version_tag(name, version, key)

    # -- aliases ----------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` at a version, moving it if it pointed at another.

        Raises:
            InvalidParameterValue: for an alias with characters other than letters, digits,
                ``_`` and ``-``, or a reserved one (``latest``, ``v<number>``).
        """
        self._store.registry.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove an alias."""
        self._store.registry.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points to.

        Raises:
            InvalidParameterValue: for an alias the model does not have (MLflow's code for it).
        """
        return self._store.registry.get_model_version_by_alias(name, alias)

    # -- audit trail ------------------------------------------------------------------

    def get_registry_history(self, name: str) -> list[RegistryEvent]:
        """Every change to the model called ``name``, oldest first: who, when, what, the value
        before and after. Includes changes made under earlier names, and a deleted model's.

        Raises:
            ResourceDoesNotExist: if no model has ever had that name.
        """
        return self._store.registry.get_registry_history(name)
