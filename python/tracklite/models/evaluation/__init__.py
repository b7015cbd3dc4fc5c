"""``evaluate``: default metrics, a baseline comparison and thresholds, logged into a run."""

from __future__ import annotations

import inspect
import io
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracklite.errors import InvalidParameterValue
from tracklite.models.evaluation import plots
from tracklite.models.evaluation.data import (
    ResolvedModel,
    check_model_type,
    class_labels,
    resolve_model,
    split_data,
)
from tracklite.models.evaluation.explain import check_config, explain, shap_installed
from tracklite.models.evaluation.metrics import (
    EvaluationMetric,
    classifier_metrics,
    custom_metrics,
    estimator_score,
    make_metric,
    per_class_metrics,
    regressor_metrics,
)
from tracklite.models.evaluation.validation import (
    MetricThreshold,
    ModelValidationFailedException,
    check_metrics,
    validate_evaluation_results,
)

BASELINE_PREFIX = "baseline_"
CSV_ARTIFACTS = frozenset({"per_class_metrics", "shap_feature_importances"})
# Beyond this many classes the one-vs-rest curves are unreadable; MLflow's limit and setting.
MAX_CLASSES_FOR_CURVES = 10


@dataclass(frozen=True)
class EvaluationArtifact:
    """One file ``evaluate`` logged: its ``uri`` and its ``content`` (a PIL image for a plot, a
    pandas DataFrame for a table), as MLflow's evaluation artifacts."""

    uri: str
    path: str
    data: bytes = field(repr=False)

    @property
    def content(self) -> Any:
        """The decoded file: a PIL image for ``.png``, a DataFrame for ``.csv``."""
        if self.path.endswith(".png"):
            from PIL import Image

            return Image.open(io.BytesIO(self.data))
        import pandas as pd

        return pd.read_csv(io.BytesIO(self.data))


@dataclass
class EvaluationResult:
    """What ``evaluate`` computed: ``metrics``, ``artifacts`` (name to ``EvaluationArtifact``)
    and, with a baseline, ``baseline_model_metrics``."""

    metrics: dict[str, float]
    artifacts: dict[str, EvaluationArtifact] = field(default_factory=dict)
    baseline_model_metrics: dict[str, float] | None = None
    run_id: str | None = None


@dataclass
class _Evaluated:
    metrics: dict[str, float]
    files: dict[str, bytes]  # artifact name -> file bytes, logged as "<prefix><name>.<ext>"


def _takes_params(predict: Any) -> bool:
    try:
        return "params" in inspect.signature(predict).parameters
    except (TypeError, ValueError):  # no signature to inspect (some builtins)
        return False


def _predictions(model: ResolvedModel, x: Any, params: dict[str, Any] | None) -> np.ndarray:
    if params and not _takes_params(model.predict):
        raise InvalidParameterValue(
            "inference_params needs a model whose predict takes params: a PyFuncModel or a model URI"
        )
    pred = np.asarray(model.predict(x, params=params) if params else model.predict(x))
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    return pred


def _plots_available(config: dict[str, Any]) -> bool:
    if not config.get("log_plots", True):
        return False
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        warnings.warn(
            "evaluate: matplotlib is not installed, so no plots are logged; `pip install 'tracklite[evaluate]'`",
            stacklevel=5,
        )
        return False
    return True


def _classifier_files(
    y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, config: dict[str, Any]
) -> dict[str, bytes]:
    labels = class_labels(y, pred, config)
    weights = config.get("sample_weights")
    table = per_class_metrics(y, pred, proba, labels, weights)
    files = {"per_class_metrics": table.to_csv(index=False).encode("utf-8")}
    if not _plots_available(config):
        return files
    files["confusion_matrix"] = plots.confusion_matrix_png(y, pred, labels, weights)
    if proba is None:
        return files
    limit = config.get("max_classes_for_multiclass_roc_pr", MAX_CLASSES_FOR_CURVES)
    if len(labels) > max(limit, 2):
        warnings.warn(
            f"evaluate: {len(labels)} classes > max_classes_for_multiclass_roc_pr={limit}; the ROC and "
            "precision-recall curves are not drawn (raise it in evaluator_config to draw them)",
            stacklevel=4,
        )
        return files
    pos_label = config.get("pos_label", labels[-1])
    files["roc_curve_plot"] = plots.roc_curve_png(y, proba, labels, pos_label, weights)
    files["precision_recall_curve_plot"] = plots.precision_recall_curve_png(y, proba, labels, pos_label, weights)
    return files


def _regressor_files(y: np.ndarray, pred: np.ndarray, config: dict[str, Any]) -> dict[str, bytes]:
    if not _plots_available(config):
        return {}
    y_num, pred_num = y.astype(np.float64), pred.astype(np.float64)
    return {
        "residuals_plot": plots.residuals_png(y_num, pred_num),
        "predicted_vs_actual_plot": plots.predicted_vs_actual_png(y_num, pred_num),
    }


def _sklearn_score(model: ResolvedModel, x: Any, y: np.ndarray, config: dict[str, Any]) -> dict[str, float]:
    """``score``: the estimator's own ``score``, which MLflow logs for scikit-learn models."""
    raw = model.raw
    if raw is None or not type(raw).__module__.startswith("sklearn") or not hasattr(raw, "score"):
        return {}
    try:
        return {"score": estimator_score(raw, x, y, config.get("sample_weights"))}
    except Exception as exc:  # noqa: BLE001 - a score the estimator cannot compute is not worth failing over
        warnings.warn(f"evaluate: the model's score() failed: {exc!r}", stacklevel=4)
        return {}


def _evaluate_one(
    model: Any,
    x: Any,
    y: np.ndarray,
    pred: np.ndarray | None,
    model_type: str,
    config: dict[str, Any],
    extra: list[Any],
    *,
    params: dict[str, Any] | None = None,
    artifacts: bool,
) -> _Evaluated:
    resolved = resolve_model(model)
    if pred is None:
        if resolved is None:
            raise InvalidParameterValue("evaluate: pass a model, or predictions=<column of precomputed predictions>")
        pred = _predictions(resolved, x, params)
    if len(pred) != len(y):
        raise InvalidParameterValue(
            f"evaluate: the model returned {len(pred)} predictions for {len(y)} rows; "
            "its predict must return one prediction per row of data"
        )
    proba = None
    if resolved is not None and resolved.predict_proba is not None:
        proba = np.asarray(resolved.predict_proba(x))
    metrics: dict[str, float] = {}
    if resolved is not None:
        metrics.update(_sklearn_score(resolved, x, y, config))
    files: dict[str, bytes] = {}
    if model_type == "classifier":
        metrics.update(classifier_metrics(y, pred, proba, config))
        if artifacts:
            files = _classifier_files(y, pred, proba, config)
    else:
        metrics.update(regressor_metrics(y, pred, config))
        if artifacts:
            files = _regressor_files(y, pred, config)
    metrics.update(custom_metrics(extra, pred, y))
    if artifacts and resolved is not None and _explainability(config):
        n_classes = len(class_labels(y, pred, config)) if model_type == "classifier" else 1
        files.update(explain(resolved.predict, resolved.raw, x, y, n_classes, config))
    prefix = config.get("metric_prefix", "")
    return _Evaluated({f"{prefix}{k}": v for k, v in metrics.items()}, files)


def _explainability(config: dict[str, Any]) -> bool:
    """MLflow's default: explain when SHAP is installed. Asked for explicitly without SHAP, the
    evaluation warns (in ``explain``) instead of failing."""
    wanted = config.get("log_model_explainability")
    return bool(wanted) if wanted is not None else shap_installed()


def _file_name(name: str, prefix: str) -> str:
    return f"{prefix}{name}.{'csv' if name in CSV_ARTIFACTS else 'png'}"


def evaluate(
    model: Any = None,
    data: Any = None,
    *,
    targets: Any = None,
    model_type: str | None = None,
    predictions: str | None = None,
    feature_names: list[str] | None = None,
    evaluator_config: dict[str, Any] | None = None,
    extra_metrics: list[EvaluationMetric] | None = None,
    baseline_model: Any = None,
    validation_thresholds: dict[str, MetricThreshold] | None = None,
    evaluators: str | list[str] | None = None,
    env_manager: str = "local",
    inference_params: dict[str, Any] | None = None,
) -> EvaluationResult:
    """Evaluate ``model`` on ``data``; log its metrics, plots and tables into the active run (one
    is started if none is active, and then ended); check ``validation_thresholds``.

    Args:
        model: A fitted estimator, any object with ``predict``, a callable, a ``PyFuncModel`` or a
            model URI (``runs:/``, ``models:/``, a path). ``None`` with ``predictions``.
        data: A DataFrame (with ``targets`` naming the label column), an array (with ``targets``
            an array of labels) or a tuple ``(X, y)``.
        targets: The label column's name, or the labels.
        model_type: ``"classifier"`` or ``"regressor"``.
        predictions: A column of ``data`` holding precomputed predictions, instead of a model.
        feature_names: Names for the columns of array data (used in SHAP plots).
        evaluator_config: ``metric_prefix``, ``pos_label``, ``label_list``, ``average``,
            ``sample_weights``, ``log_model_explainability``, ``explainability_algorithm``,
            ``explainability_nsamples``, ``max_classes_for_multiclass_roc_pr``, ``log_plots``.
        extra_metrics: Custom metrics made with ``make_metric``.
        baseline_model: A second model evaluated on the same data; its metrics are logged as
            ``baseline_<name>`` and returned as ``baseline_model_metrics``.
        validation_thresholds: ``{metric name: MetricThreshold}`` the candidate must meet.
        evaluators: Only MLflow's ``"default"`` evaluator exists here.
        env_manager: Only ``"local"``: the model runs in this process.
        inference_params: Passed to a ``PyFuncModel``'s ``predict(params=...)``.

    Returns:
        An ``EvaluationResult``.

    Raises:
        InvalidParameterValue: for bad input, before anything is logged.
        ModelValidationFailedException: when a threshold fails, after everything was logged.
    """
    import tracklite
    from tracklite.tracking import fluent

    check_model_type(str(model_type))
    if evaluators not in (None, "default", ["default"]):
        raise InvalidParameterValue(f"evaluators={evaluators!r}: only the 'default' evaluator is available")
    if env_manager != "local":
        raise InvalidParameterValue(
            f"env_manager={env_manager!r}: evaluate runs the model in this process; use 'local'"
        )
    if model is None and predictions is None:
        raise InvalidParameterValue("evaluate: pass a model, or predictions=<column of precomputed predictions>")
    config = dict(evaluator_config or {})
    check_config(config)
    x, y, pred = split_data(data, targets, predictions)
    if feature_names is not None and not hasattr(x, "columns"):
        import pandas as pd

        x = pd.DataFrame(np.asarray(x), columns=feature_names)
    extra = list(extra_metrics or [])
    # Everything is computed before the first write, so bad input leaves the store as it was.
    candidate = _evaluate_one(
        model, x, y, pred, str(model_type), config, extra, params=inference_params, artifacts=True
    )
    baseline = None
    if baseline_model is not None:
        baseline = _evaluate_one(
            baseline_model, x, y, None, str(model_type), config, extra, params=inference_params, artifacts=False
        ).metrics
    # As MLflow: reuse the active run, else log into a new run that ends here.
    started = tracklite.active_run() is None
    run = tracklite.active_run() or tracklite.start_run()
    run_id = run.info.run_id
    prefix = config.get("metric_prefix", "")
    artifacts = {}
    try:
        tracklite.log_metrics(candidate.metrics)
        if baseline is not None:
            tracklite.log_metrics({f"{BASELINE_PREFIX}{k}": v for k, v in baseline.items()})
        store = fluent._client().store
        for name, data_bytes in candidate.files.items():
            path = _file_name(name, prefix)
            store.log_artifact_bytes(run_id, data_bytes, path)
            artifacts[name] = EvaluationArtifact(tracklite.get_artifact_uri(path), path, data_bytes)
    finally:
        if started:
            tracklite.end_run()
    result = EvaluationResult(candidate.metrics, artifacts, baseline, run_id)
    if validation_thresholds:
        check_metrics(candidate.metrics, baseline or {}, validation_thresholds)
    return result


__all__ = [
    "EvaluationArtifact",
    "EvaluationMetric",
    "EvaluationResult",
    "MetricThreshold",
    "ModelValidationFailedException",
    "evaluate",
    "make_metric",
    "validate_evaluation_results",
]
