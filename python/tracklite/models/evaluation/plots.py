"""The plots ``evaluate`` logs, drawn on standalone matplotlib figures and returned as PNG bytes.

Figures are built without pyplot, so evaluating never touches the user's current figure or
needs a display; names follow MLflow's default evaluator.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np

# Scatter plots of more rows than this draw an even sample: the picture is the same and
# a million-row evaluation does not spend its time in matplotlib.
MAX_SCATTER_POINTS = 20_000


def _png(draw: Callable[[Any], None], size: tuple[float, float] = (6.0, 4.5), *, draft: bool = False) -> bytes:
    """Draw on a new figure and return its PNG. ``draft``: 100 dpi and fixed margins instead of
    150 dpi and solved layout, about half the time, for plots logged on every training call."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100 if draft else 150, layout=None if draft else "constrained")
    draw(fig.subplots())
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def confusion_matrix_png(
    y_true: np.ndarray, y_pred: np.ndarray, labels: list[Any], weights: Any, *, draft: bool = False
) -> bytes:
    """The confusion matrix normalised over the true labels, as MLflow draws it."""
    from sklearn import metrics as sk

    matrix = sk.confusion_matrix(y_true, y_pred, labels=labels, normalize="true", sample_weight=weights)

    def draw(ax: Any) -> None:
        sk.ConfusionMatrixDisplay(confusion_matrix=matrix, display_labels=labels).plot(
            cmap="Blues", ax=ax, values_format=".2f" if len(labels) <= 12 else None, include_values=len(labels) <= 12
        )
        ax.set_title("Normalized confusion matrix")

    return _png(draw, draft=draft)


def _one_vs_rest(y_true: np.ndarray, y_proba: np.ndarray, labels: list[Any], pos_label: Any) -> list[tuple[Any, Any]]:
    """``(label, (truth, score))`` per curve: the positive class for binary data, every class otherwise."""
    if len(labels) == 2:
        return [(pos_label, (y_true == pos_label, y_proba[:, labels.index(pos_label)]))]
    return [(label, (y_true == label, y_proba[:, i])) for i, label in enumerate(labels)]


def roc_curve_png(
    y_true: np.ndarray, y_proba: np.ndarray, labels: list[Any], pos_label: Any, weights: Any, *, draft: bool = False
) -> bytes:
    """ROC curves: the positive class for binary data, one-vs-rest per class otherwise."""
    from sklearn import metrics as sk

    def draw(ax: Any) -> None:
        for label, (truth, score) in _one_vs_rest(y_true, y_proba, labels, pos_label):
            if truth.all() or not truth.any():
                continue  # a class absent from the data has no curve
            fpr, tpr, _ = sk.roc_curve(truth, score, sample_weight=weights)
            auc = sk.roc_auc_score(truth, score, sample_weight=weights)
            ax.plot(fpr, tpr, drawstyle="steps-post", linewidth=1, label=f"label={label}, AUC={auc:.3f}")
        ax.plot([0, 1], [0, 1], color="gray", alpha=0.4, linestyle="dashed")
        ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
        ax.legend(loc="lower right", fontsize="small")

    return _png(draw, draft=draft)


def precision_recall_curve_png(
    y_true: np.ndarray, y_proba: np.ndarray, labels: list[Any], pos_label: Any, weights: Any, *, draft: bool = False
) -> bytes:
    """Precision-recall curves with their average precision, laid out as the ROC curves."""
    from sklearn import metrics as sk

    def draw(ax: Any) -> None:
        for label, (truth, score) in _one_vs_rest(y_true, y_proba, labels, pos_label):
            if truth.all() or not truth.any():
                continue
            precision, recall, _ = sk.precision_recall_curve(truth, score, sample_weight=weights)
            ap = sk.average_precision_score(truth, score, sample_weight=weights)
            ax.plot(recall, precision, drawstyle="steps-post", linewidth=1, label=f"label={label}, AP={ap:.3f}")
        ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve", ylim=(0, 1.02))
        ax.legend(loc="lower left", fontsize="small")

    return _png(draw, draft=draft)


def _sample(n: int) -> np.ndarray:
    return np.arange(n) if n <= MAX_SCATTER_POINTS else np.linspace(0, n - 1, MAX_SCATTER_POINTS).astype(np.int64)


def _scatter_title(title: str, n: int) -> str:
    return title if n <= MAX_SCATTER_POINTS else f"{title} ({MAX_SCATTER_POINTS:,} of {n:,} rows)"


def residuals_png(y_true: np.ndarray, y_pred: np.ndarray) -> bytes:
    """Residuals (actual minus predicted) against the prediction."""
    rows = _sample(len(y_true))
    pred, resid = y_pred[rows], (y_true - y_pred)[rows]

    def draw(ax: Any) -> None:
        ax.scatter(pred, resid, s=6, alpha=0.5, linewidths=0)
        ax.axhline(0, color="gray", linestyle="dashed", linewidth=1)
        ax.set(xlabel="Predicted value", ylabel="Residual (actual - predicted)")
        ax.set_title(_scatter_title("Residuals", len(y_true)))

    return _png(draw)


def predicted_vs_actual_png(y_true: np.ndarray, y_pred: np.ndarray) -> bytes:
    """Predictions against the actual values, with the line a perfect model would sit on."""
    rows = _sample(len(y_true))
    actual, pred = y_true[rows], y_pred[rows]
    lo, hi = float(min(actual.min(), pred.min())), float(max(actual.max(), pred.max()))

    def draw(ax: Any) -> None:
        ax.scatter(actual, pred, s=6, alpha=0.5, linewidths=0)
        ax.plot([lo, hi], [lo, hi], color="gray", linestyle="dashed", linewidth=1, label="predicted = actual")
        ax.set(xlabel="Actual value", ylabel="Predicted value")
        ax.set_title(_scatter_title("Predicted vs actual", len(y_true)))
        ax.legend(loc="upper left", fontsize="small")

    return _png(draw, size=(5.5, 5.0))
