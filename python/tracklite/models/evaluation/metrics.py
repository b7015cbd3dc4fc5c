"""Default metrics as MLflow's default evaluator names them, and custom metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EvaluationMetric:
    """A custom metric: ``eval_fn(predictions, targets)`` returns a number (or an object with
    ``.aggregate_results``/a dict of aggregates, as MLflow's ``MetricValue``)."""

    eval_fn: Callable[..., Any]
    name: str
    greater_is_better: bool = True


def make_metric(*, eval_fn: Callable[..., Any], greater_is_better: bool, name: str | None = None) -> EvaluationMetric:
    """A custom metric for ``evaluate(extra_metrics=[...])``, like MLflow's ``make_metric``."""
    return EvaluationMetric(eval_fn=eval_fn, name=name or eval_fn.__name__, greater_is_better=greater_is_better)


def classifier_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, y_proba: np.ndarray | None, config: dict[str, Any]
) -> dict[str, float]:
    """MLflow's default classifier metrics; weighted averages for multiclass, as MLflow does."""
    from sklearn import metrics as sk

    weights = config.get("sample_weights")
    from tracklite.models.evaluation.data import class_labels

    labels = class_labels(y_true, y_pred, config)
    binary = len(labels) <= 2
    pos_label = config.get("pos_label", labels[-1])
    average = "binary" if binary else config.get("average", "weighted")
    kw: dict[str, Any] = {"average": average, "sample_weight": weights, "zero_division": 0}
    if binary:
        kw["pos_label"] = pos_label
    out: dict[str, float] = {"example_count": float(len(y_true))}
    if binary:
        tn, fp, fn, tp = sk.confusion_matrix(y_true, y_pred, labels=labels, sample_weight=weights).ravel()
        out.update(true_negatives=tn, false_positives=fp, false_negatives=fn, true_positives=tp)
    out["accuracy_score"] = sk.accuracy_score(y_true, y_pred, sample_weight=weights)
    out["recall_score"] = sk.recall_score(y_true, y_pred, **kw)
    out["precision_score"] = sk.precision_score(y_true, y_pred, **kw)
    out["f1_score"] = sk.f1_score(y_true, y_pred, **kw)
    if y_proba is not None:
        out["log_loss"] = sk.log_loss(y_true, y_proba, labels=labels, sample_weight=weights)
        if binary and len(labels) == 2:
            score = y_proba[:, labels.index(pos_label)]
            out["roc_auc"] = sk.roc_auc_score(y_true == pos_label, score, sample_weight=weights)
            # MLflow summarises the precision-recall curve by average precision under this name.
            out["precision_recall_auc"] = sk.average_precision_score(y_true == pos_label, score, sample_weight=weights)
        elif not binary:
            out["roc_auc"] = sk.roc_auc_score(
                y_true,
                y_proba,
                multi_class="ovr",
                average=config.get("average", "weighted"),
                labels=labels,
                sample_weight=weights,
            )
    return {k: float(v) for k, v in out.items()}


def estimator_score(estimator: Any, x: Any, y: Any, weights: Any) -> float:
    """The estimator's own ``score(X, y)``, which MLflow logs as ``score``; ``sample_weight`` is
    passed only when given, since some scores (a search's, without metadata routing) refuse it."""
    extra = {} if weights is None else {"sample_weight": weights}
    return float(estimator.score(x, y, **extra))


def per_class_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, y_proba: np.ndarray | None, labels: list[Any], weights: Any
) -> Any:
    """One row per class, that class against the rest, as MLflow's ``per_class_metrics`` table."""
    import pandas as pd
    from sklearn import metrics as sk

    rows = []
    for i, label in enumerate(labels):
        truth, pred = y_true == label, y_pred == label
        tn, fp, fn, tp = sk.confusion_matrix(truth, pred, labels=[False, True], sample_weight=weights).ravel()
        row: dict[str, Any] = {
            "positive_class": label,
            "true_negatives": tn,
            "false_positives": fp,
            "false_negatives": fn,
            "true_positives": tp,
            "example_count": len(truth),
            "accuracy_score": sk.accuracy_score(truth, pred, sample_weight=weights),
            "recall_score": sk.recall_score(truth, pred, sample_weight=weights, zero_division=0),
            "precision_score": sk.precision_score(truth, pred, sample_weight=weights, zero_division=0),
            "f1_score": sk.f1_score(truth, pred, sample_weight=weights, zero_division=0),
        }
        if y_proba is not None and 0 < truth.sum() < len(truth):
            row["roc_auc"] = sk.roc_auc_score(truth, y_proba[:, i], sample_weight=weights)
            row["precision_recall_auc"] = sk.average_precision_score(truth, y_proba[:, i], sample_weight=weights)
        rows.append(row)
    return pd.DataFrame(rows)


def regressor_metrics(y_true: np.ndarray, y_pred: np.ndarray, config: dict[str, Any]) -> dict[str, float]:
    """MLflow's default regressor metrics."""
    from sklearn import metrics as sk

    w = config.get("sample_weights")
    mse = sk.mean_squared_error(y_true, y_pred, sample_weight=w)
    out = {
        "example_count": len(y_true),
        "mean_absolute_error": sk.mean_absolute_error(y_true, y_pred, sample_weight=w),
        "mean_squared_error": mse,
        "root_mean_squared_error": np.sqrt(mse),
        "sum_on_target": np.sum(y_true),
        "mean_on_target": np.mean(y_true),
        "r2_score": sk.r2_score(y_true, y_pred, sample_weight=w),
        "max_error": sk.max_error(y_true, y_pred),
        "mean_absolute_percentage_error": sk.mean_absolute_percentage_error(y_true, y_pred, sample_weight=w),
    }
    return {k: float(v) for k, v in out.items()}


def custom_metrics(metrics: list[Any], y_pred: np.ndarray, y_true: np.ndarray) -> dict[str, float]:
    """Values of ``extra_metrics``; MLflow-style ``MetricValue`` results give their aggregates."""
    out: dict[str, float] = {}
    for metric in metrics:
        value = metric.eval_fn(y_pred, y_true)
        aggregates = getattr(value, "aggregate_results", None)
        if isinstance(aggregates, dict):
            out.update({f"{metric.name}/{k}": float(v) for k, v in aggregates.items()})
        else:
            out[metric.name] = float(value)
    return out
