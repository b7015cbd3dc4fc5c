"""MLflow-shaped records returned by the tracking API: runs, experiments, metrics.

They are plain frozen dataclasses so that ``import tracklite`` stays cheap; the field
names and meanings are MLflow's (``mlflow.entities``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


class RunStatus:
    """Run states, as MLflow names them. ``status`` fields hold these strings."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    _ALL = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
    # MLflow's integer enum, used in mlruns meta.yaml files.
    _TO_INT: ClassVar[dict[str, int]] = {"RUNNING": 1, "SCHEDULED": 2, "FINISHED": 3, "FAILED": 4, "KILLED": 5}

    @staticmethod
    def is_terminated(status: str) -> bool:
        """Whether ``status`` is an end state (FINISHED, FAILED or KILLED)."""
        return status in ("FINISHED", "FAILED", "KILLED")

    @staticmethod
    def all_status() -> list[str]:
        """Every status string."""
        return list(RunStatus._ALL)

    @staticmethod
    def to_string(status: int | str) -> str:
        """MLflow's integer status (1..5) or a status string, as the string."""
        if isinstance(status, str):
            return status
        for name, number in RunStatus._TO_INT.items():
            if number == status:
                return name
        raise ValueError(f"unknown run status {status!r}")

    @staticmethod
    def from_string(status: str) -> int:
        """A status string as MLflow's integer enum."""
        return RunStatus._TO_INT[status]


class ViewType:
    """Which lifecycle stages a search returns (MLflow's ``ViewType``)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @staticmethod
    def from_string(view: str) -> int:
        """``"ACTIVE_ONLY"``, ``"DELETED_ONLY"`` or ``"ALL"`` as the constant."""
        return {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}[view.upper()]

    @staticmethod
    def to_string(view: int) -> str:
        """The constant as its name."""
        return {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}[view]


class LifecycleStage:
    """Soft-deletion state of runs and experiments."""

    ACTIVE = "active"
    DELETED = "deleted"

    @staticmethod
    def stages_for(view_type: int) -> tuple[str, ...]:
        """The lifecycle stages a ``ViewType`` selects."""
        if view_type == ViewType.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE,)
        if view_type == ViewType.DELETED_ONLY:
            return (LifecycleStage.DELETED,)
        return (LifecycleStage.ACTIVE, LifecycleStage.DELETED)


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric point: ``key``, ``value``, ``timestamp`` (epoch ms) and ``step``."""

    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(frozen=True, slots=True)
class Param:
    """A run parameter. Values are always strings, as in MLflow."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    """A run tag."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class ExperimentTag:
    """An experiment tag."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class FileInfo:
    """An artifact listing entry; ``path`` is relative to the run's artifact root."""

    path: str
    is_dir: bool
    file_size: int | None = None


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment, as ``mlflow.entities.Experiment``."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run's metadata, as ``mlflow.entities.RunInfo``."""

    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str

    @property
    def run_uuid(self) -> str:
        """MLflow's legacy name for ``run_id``."""
        return self.run_id


@dataclass(frozen=True, slots=True)
class RunData:
    """A run's latest metrics, params and tags, each a ``dict`` keyed by name."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Run:
    """A run: ``info`` and ``data``, as ``mlflow.entities.Run``."""

    info: RunInfo
    data: RunData

    def to_dictionary(self) -> dict[str, Any]:
        """The run as nested plain dicts (MLflow's ``Run.to_dictionary``)."""
        from dataclasses import asdict

        return {"info": asdict(self.info), "data": asdict(self.data)}


class LoggedModelStatus:
    """A logged model's state (MLflow's ``LoggedModelStatus``); meta.yaml files use the integers."""

    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"

    _TO_INT: ClassVar[dict[str, int]] = {"PENDING": 1, "READY": 2, "FAILED": 3}

    @staticmethod
    def to_int(status: str) -> int:
        """The integer MLflow writes for ``status``."""
        return LoggedModelStatus._TO_INT[status]


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """A model logged into the store (MLflow 3's ``LoggedModel``): its files live under
    ``artifact_location``; ``models:/<model_id>`` loads it."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: str
    source_run_id: str | None = None
    model_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def model_uri(self) -> str:
        """``models:/<model_id>``."""
        return f"models:/{self.model_id}"


class ModelVersionStage:
    """A model version's stage (MLflow's ``model_version_stages``); names are matched case-insensitively."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"
    ALL: tuple[str, ...] = (NONE, STAGING, PRODUCTION, ARCHIVED)
    #: The stages ``archive_existing_versions`` may archive from.
    ACTIVE: tuple[str, ...] = (STAGING, PRODUCTION)
    #: Kept on deleted versions' rows so their numbers are never reused; never shown.
    DELETED_INTERNAL = "Deleted_Internal"


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One numbered version of a registered model (MLflow's ``ModelVersion``).

    Its files were pinned at registration under ``storage_location``: changing or deleting
    the source run or logged model later leaves the version loadable.
    """

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    user_id: str | None
    current_stage: str
    source: str
    run_id: str | None
    status: str
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    run_link: str | None = None
    aliases: list[str] = field(default_factory=list)
    model_id: str | None = None
    storage_location: str | None = None


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model in the registry (MLflow's ``RegisteredModel``); ``latest_versions`` holds
    the newest version of each stage, ``aliases`` maps alias to version."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None = None
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    """One row of the registry's audit trail: who changed what, when, from which value to which.

    ``action`` is the name of the API call (``transition_model_version_stage`` ...), ``name``
    the model's name at the time, ``key`` the tag key or alias the change touched.
    """

    event_id: int
    timestamp: int
    user_id: str
    action: str
    name: str
    version: int | None
    key: str | None
    old_value: str | None
    new_value: str | None


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset a run used (MLflow's ``DatasetInput``): the dataset's description and the
    input's tags, such as ``{"mlflow.data.context": "training"}``. ``source``, ``schema`` and
    ``profile`` are JSON strings, as MLflow writes them."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


class PagedList(list):  # type: ignore[type-arg]
    """A page of search results; ``token`` fetches the next page (None on the last)."""

    def __init__(self, items: Any = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


__all__ = [
    "DatasetInput",
    "Experiment",
    "ExperimentTag",
    "FileInfo",
    "LifecycleStage",
    "LoggedModel",
    "Metric",
    "ModelVersion",
    "ModelVersionStage",
    "PagedList",
    "Param",
    "RegisteredModel",
    "RegistryEvent",
    "Run",
    "RunData",
    "RunInfo",
    "RunStatus",
    "RunTag",
    "ViewType",
]
