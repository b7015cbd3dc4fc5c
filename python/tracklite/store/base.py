"""The seam between the tracking API and a storage backend.

Everything above this layer (fluent API, Client, CLI, later the server) talks to a
``TrackingStore`` and never assumes the single DuckDB file, so that a second backend
(DuckLake: catalog in PostgreSQL, data in Parquet) can slot in beside it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tracklite.entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    LoggedModel,
    Metric,
    ModelVersion,
    Param,
    RegisteredModel,
    RegistryEvent,
    Run,
    RunInfo,
    RunTag,
)

if TYPE_CHECKING:
    from tracklite.store.run_tables import RunTables


class RegistryStore(ABC):
    """A backend's model registry (MLflow's registry store). Every change appends to the
    audit trail in the same transaction; methods raise ``TrackliteError`` subclasses."""

    @abstractmethod
    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel: ...
    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...
    @abstractmethod
    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        offset: int = 0,
    ) -> list[RegisteredModel]: ...
    @abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel: ...
    @abstractmethod
    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel: ...
    @abstractmethod
    def delete_registered_model(self, name: str) -> None: ...
    @abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...
    @abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None: ...
    @abstractmethod
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        create_model: bool = False,
    ) -> ModelVersion: ...
    @abstractmethod
    def resolve_model_reference(self, ref: str) -> ModelVersion: ...
    @abstractmethod
    def get_model_version(self, name: str, version: str | int) -> ModelVersion: ...
    @abstractmethod
    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        offset: int = 0,
    ) -> list[ModelVersion]: ...
    @abstractmethod
    def update_model_version(self, name: str, version: str | int, description: str | None) -> ModelVersion: ...
    @abstractmethod
    def delete_model_version(self, name: str, version: str | int) -> None: ...
    @abstractmethod
    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion: ...
    @abstractmethod
    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]: ...
    @abstractmethod
    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None: ...
    @abstractmethod
    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None: ...
    @abstractmethod
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None: ...
    @abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...
    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...
    @abstractmethod
    def model_version_manifest(self, version: ModelVersion) -> list[tuple[str, int, list[str]]]: ...
    @abstractmethod
    def download_model_version(self, version: ModelVersion, dst_dir: str) -> str: ...
    @abstractmethod
    def get_registry_history(self, name: str) -> list[RegistryEvent]: ...


class TrackingStore(ABC):
    """What a tracklite backend provides. Methods raise ``TrackliteError`` subclasses."""

    uri: str
    #: The backend's model registry, in the same store.
    registry: RegistryStore

    # experiments
    @abstractmethod
    def create_experiment(self, name: str, artifact_location: str | None, tags: dict[str, str]) -> str: ...
    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment: ...
    @abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...
    @abstractmethod
    def search_experiments(
        self,
        view_type: int,
        max_results: int | None,
        order_by: Sequence[str] | None,
        filter_string: str | None = None,
    ) -> list[Experiment]: ...
    @abstractmethod
    def delete_experiment(self, experiment_id: str) -> None: ...
    @abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...
    @abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...
    @abstractmethod
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...
    @abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    # runs
    @abstractmethod
    def create_run(
        self, experiment_id: str, user_id: str, start_time: int, tags: dict[str, str], run_name: str
    ) -> Run: ...
    @abstractmethod
    def get_run(self, run_id: str) -> Run: ...
    @abstractmethod
    def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo: ...
    @abstractmethod
    def delete_run(self, run_id: str) -> None: ...
    @abstractmethod
    def restore_run(self, run_id: str) -> None: ...
    @abstractmethod
    def log_batch(
        self, run_id: str, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None: ...
    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...
    @abstractmethod
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None: ...
    @abstractmethod
    def get_run_inputs(self, run_id: str) -> list[DatasetInput]: ...
    @abstractmethod
    def latest_metric_points(self, run_ids: Sequence[str]) -> dict[str, dict[str, Metric]]: ...
    @abstractmethod
    def metric_writer(self, run_id: str) -> Any: ...
    @abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]: ...
    @abstractmethod
    def get_metric_arrays(self, run_id: str, key: str) -> Any: ...
    @abstractmethod
    def list_runs(
        self, experiment_ids: Sequence[str], view_type: int = 1, max_results: int | None = None
    ) -> list[Run]: ...
    @abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        view_type: int = 1,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        offset: int = 0,
    ) -> list[Run]: ...
    @abstractmethod
    def search_run_tables(
        self,
        experiment_ids: Sequence[str],
        view_type: int = 1,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        offset: int = 0,
    ) -> RunTables: ...
    @abstractmethod
    def run_tables(self, run_ids: Sequence[str]) -> RunTables: ...
    @abstractmethod
    def get_runs(self, run_ids: Sequence[str]) -> list[Run]: ...
    @abstractmethod
    def flush(self) -> None: ...
    @abstractmethod
    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel: ...
    @abstractmethod
    def log_model_files(self, model_id: str, local_dir: str) -> None: ...
    @abstractmethod
    def set_logged_model_status(self, model_id: str, status: str) -> None: ...
    @abstractmethod
    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None: ...
    @abstractmethod
    def delete_logged_model_tag(self, model_id: str, key: str) -> None: ...
    @abstractmethod
    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None: ...
    @abstractmethod
    def delete_logged_model(self, model_id: str) -> None: ...
    @abstractmethod
    def get_logged_model(self, model_id: str) -> LoggedModel: ...
    @abstractmethod
    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        offset: int = 0,
    ) -> list[LoggedModel]: ...
    @abstractmethod
    def find_run_model(self, run_id: str, name: str) -> str | None: ...
    @abstractmethod
    def logged_model_manifest(self, model_id: str) -> list[tuple[str, int, list[str]]]: ...
    @abstractmethod
    def download_logged_model(self, model_id: str, dst_dir: str) -> str: ...

    # artifacts
    @abstractmethod
    def log_artifact_file(self, run_id: str, local_path: str, artifact_path: str) -> None: ...
    @abstractmethod
    def log_artifact_bytes(self, run_id: str, data: bytes, artifact_path: str) -> None: ...
    @abstractmethod
    def list_artifacts(self, run_id: str, path: str | None) -> list[FileInfo]: ...
    @abstractmethod
    def download_artifacts(self, run_id: str, path: str, dst_path: str) -> str: ...
    @abstractmethod
    def read_artifact_bytes(self, run_id: str, path: str) -> bytes: ...

    # artifacts by root (the tracking server's artifact proxy)
    @abstractmethod
    def put_artifact_at(self, root: str, path: str, stream: Any) -> int: ...
    @abstractmethod
    def list_artifacts_at(self, root: str, path: str) -> list[FileInfo]: ...
    @abstractmethod
    def artifact_size_at(self, root: str, path: str) -> int | None: ...
    @abstractmethod
    def iter_artifact_at(self, root: str, path: str) -> Any: ...
    @abstractmethod
    def delete_artifacts_at(self, root: str, path: str) -> int: ...
