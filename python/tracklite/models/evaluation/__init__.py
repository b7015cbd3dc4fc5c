"""``evaluate``: default metrics, a baseline comparison and thresholds, logged into a run."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracklite.errors import InvalidParameterValue
from tracklite.models.evaluation.data import check_model_type, resolve_model, split_data
from tracklite.models.evaluation.metrics import (
    EvaluationMetric,
    classifier_metrics,
    custom_metrics,
    make_metric,
    regressor_metrics,
)
from tracklite.models.evaluation.validation import (
    MetricThreshold,
    ModelValidationFailedException,
    check_metrics,
    validate_evaluation_results,
)

BASELINE_PREFIX = "baseline_"


@dataclass
class EvaluationResult:
    """What ``evaluate`` computed: ``metrics``, ``artifacts`` (name to URI) and baseline metrics."""

    metrics: dict[str, float]
    artifacts: dict[str, str] = field(default_factory=dict)
    baseline_model_metrics: dict[str, float] | None = None
    run_id: str | None = None


def _probabilities(model: Any, x: Any) -> np.ndarray | None:
    proba = getattr(model, "predict_proba", None)
    if proba is None or isinstance(model, str):
        return None
    return np.asarray(proba(x))


def _compute(
    model: Any,
    x: Any,
    y: np.ndarray,
    pred: np.ndarray | None,
    model_type: str,
    config: dict[str, Any],
    extra: list[Any],
) -> dict[str, float]:
    if pred is None:
        predict = resolve_model(model)
        if predict is None:
            raise InvalidParameterValue("evaluate: pass a model, or predictions=<column of precomputed predictions>")
        pred = np.asarray(predict(x))
        if pred.ndim == 2 and pred.shape[1] == 1:
            pred = pred[:, 0]
    if len(pred) != len(y):
        raise InvalidParameterValue(
            f"evaluate: the model returned {len(pred)} predictions for {len(y)} rows; "
            "its predict must return one prediction per row of data"
        )
    if model_type == "classifier":
        metrics = classifier_metrics(y, pred, _probabilities(model, x), config)
    else:
        metrics = regressor_metrics(y, pred, config)
    metrics.update(custom_metrics(extra, pred, y))
    prefix = config.get("metric_prefix", "")
    return {f"{prefix}{k}": v for k, v in metrics.items()}


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
    **_: Any,
) -> EvaluationResult:
    """Evaluate ``model`` on ``data``, log the metrics into the active run (one is started if none
    is active, and then ended) and check ``validation_thresholds``.

    Everything is validated and computed before anything is written; a failed threshold raises
    ``ModelValidationFailedException`` after the metrics were logged.
    """
    import tracklite

    check_model_type(str(model_type))
    if model is None and predictions is None:
        raise InvalidParameterValue("evaluate: pass a model, or predictions=<column of precomputed predictions>")
    config = dict(evaluator_config or {})
    if config.get("log_model_explainability"):
        # Not built yet (SHAP plots are part of issue 7's remaining work): say so rather than ignore it.
        warnings.warn(
            "evaluate: log_model_explainability is not available in this version; no SHAP artifacts are logged",
            stacklevel=2,
        )
    x, y, pred = split_data(data, targets, predictions)
    if feature_names is not None and not hasattr(x, "columns"):
        import pandas as pd

        x = pd.DataFrame(np.asarray(x), columns=feature_names)
    extra = list(extra_metrics or [])
    metrics = _compute(model, x, y, pred, str(model_type), config, extra)
    baseline = None
    if baseline_model is not None:
        baseline = _compute(baseline_model, x, y, None, str(model_type), config, extra)
    # As MLflow: reuse the active run, else log into a new run that ends here.
    started = tracklite.active_run() is None
    run = tracklite.active_run() or tracklite.start_run()
    try:
        tracklite.log_metrics(metrics)
        if baseline is not None:
            tracklite.log_metrics({f"{BASELINE_PREFIX}{k}": v for k, v in baseline.items()})
    finally:
        if started:
            tracklite.end_run()
    result = EvaluationResult(metrics, {}, baseline, run.info.run_id)
    if validation_thresholds:
        check_metrics(metrics, baseline or {}, validation_thresholds)
    return result


__all__ = [
    "EvaluationMetric",
    "EvaluationResult",
    "MetricThreshold",
    "ModelValidationFailedException",
    "evaluate",
    "make_metric",
    "validate_evaluation_results",
]
