"""tracklite: an embedded, single-file ML lifecycle store with MLflow's API.

Quick start::

    import tracklite

    tracklite.set_experiment("demo")
    with tracklite.start_run(run_name="first"):
        tracklite.log_param("lr", 0.01)
        for step in range(100):
            tracklite.log_metric("loss", 1 / (step + 1), step=step)

Everything lands in ``./mlruns.duckdb`` (see ``set_tracking_uri``), a DuckDB file
any DuckDB client can query; ``tracklite runs list`` shows it from the shell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracklite.entities import (
    Experiment,
    FileInfo,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from tracklite.errors import (
    InvalidParameterValue,
    InvalidState,
    MlflowException,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    StoreCorruptError,
    StoreLockedError,
    TrackliteError,
)
from tracklite.query import QueryResult, sql
from tracklite.tracking._uri import get_tracking_uri, set_tracking_uri
from tracklite.tracking.client import Client, MlflowClient
from tracklite.tracking.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_run,
    delete_tag,
    download_artifacts,
    end_run,
    flush,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_logged_model,
    get_run,
    last_active_run,
    load_dict,
    load_text,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_metric,
    log_metric_series,
    log_metrics,
    log_param,
    log_params,
    log_text,
    search_experiments,
    search_logged_models,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)
from tracklite.tracking.registry_fluent import register_model
from tracklite.tracking.system_metrics import (
    disable_system_metrics_logging,
    enable_system_metrics_logging,
    set_system_metrics_node_id,
    set_system_metrics_samples_before_logging,
    set_system_metrics_sampling_interval,
)

if TYPE_CHECKING:
    from tracklite.exchange.mlflow_db_import import import_mlflow_db
    from tracklite.exchange.mlflow_export import export_mlflow
    from tracklite.exchange.mlruns_export import export_mlruns
    from tracklite.exchange.mlruns_import import import_mlruns
    from tracklite.exchange.parquet import export_parquet, import_parquet
    from tracklite.models.evaluation import evaluate

__version__ = "0.1.0"

# Exports load on first use: `import tracklite` stays quick for a training script.
_LAZY = {
    "export_mlflow": "tracklite.exchange.mlflow_export",
    "export_mlruns": "tracklite.exchange.mlruns_export",
    "import_mlflow_db": "tracklite.exchange.mlflow_db_import",
    "import_mlruns": "tracklite.exchange.mlruns_import",
    "export_parquet": "tracklite.exchange.parquet",
    "import_parquet": "tracklite.exchange.parquet",
    "evaluate": "tracklite.models.evaluation",
    "autolog": "tracklite.autologging",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tracklite' has no attribute '{name}'")


__all__ = [
    "ActiveRun",
    "Client",
    "Experiment",
    "FileInfo",
    "InvalidParameterValue",
    "InvalidState",
    "LifecycleStage",
    "Metric",
    "MlflowClient",
    "MlflowException",
    "PagedList",
    "Param",
    "QueryResult",
    "ResourceAlreadyExists",
    "ResourceDoesNotExist",
    "Run",
    "RunData",
    "RunInfo",
    "RunStatus",
    "RunTag",
    "StoreCorruptError",
    "StoreLockedError",
    "TrackliteError",
    "ViewType",
    "active_run",
    "create_experiment",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "disable_system_metrics_logging",
    "download_artifacts",
    "enable_system_metrics_logging",
    "end_run",
    "evaluate",
    "export_mlflow",
    "export_mlruns",
    "export_parquet",
    "flush",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_logged_model",
    "get_run",
    "get_tracking_uri",
    "import_mlflow_db",
    "import_mlruns",
    "import_parquet",
    "last_active_run",
    "load_dict",
    "load_text",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_metric",
    "log_metric_series",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "register_model",
    "search_experiments",
    "search_logged_models",
    "search_runs",
    "set_experiment",
    "set_system_metrics_node_id",
    "set_system_metrics_samples_before_logging",
    "set_system_metrics_sampling_interval",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "sql",
    "start_run",
]
