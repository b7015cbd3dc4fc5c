"""Model explainability for ``evaluate``: SHAP plots and feature importances, as MLflow logs them.

SHAP is optional. Explaining is best effort, as in MLflow: data SHAP cannot handle, or an
explainer that fails, gives a warning and no plots, never a failed evaluation (unless
``evaluator_config["ignore_exceptions"]`` is false).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from tracklite.errors import InvalidParameterValue

DEFAULT_SAMPLE_ROWS = 2000
ALGORITHMS = ("exact", "permutation", "partition", "kernel")


def shap_installed() -> bool:
    """Whether SHAP can be imported (without importing it: that takes seconds)."""
    try:
        return importlib.util.find_spec("shap") is not None
    except (ImportError, ValueError):  # a broken or blocked installation counts as absent
        return False


def check_config(config: dict[str, Any]) -> None:
    """Raise for explainability settings ``evaluate`` cannot use, before anything is computed."""
    algorithm = config.get("explainability_algorithm")
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise InvalidParameterValue(
            f"evaluator_config explainability_algorithm={algorithm!r} is unknown; use one of {list(ALGORITHMS)}"
        )
    rows = config.get("explainability_nsamples", DEFAULT_SAMPLE_ROWS)
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        raise InvalidParameterValue(f"evaluator_config explainability_nsamples={rows!r} must be a positive int")


def default_feature_names(count: int) -> list[str]:
    """MLflow's names for unnamed features: ``feature_1`` ... zero-padded to sort in order."""
    width = len(str(count))
    return [f"feature_{str(i + 1).zfill(width)}" for i in range(count)]


def _skip(reason: str) -> dict[str, bytes]:
    warnings.warn(f"evaluate: model explainability skipped: {reason}", stacklevel=5)
    return {}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence SHAP's deprecation notices about its own dependencies: users cannot act on them."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        yield


def _figure_png(plot: Any) -> bytes:
    from matplotlib import pyplot

    # SHAP draws on pyplot's current figure; give it a fresh one and close it afterwards.
    fig = pyplot.figure()
    try:
        with _quiet():
            plot()
        buf = io.BytesIO()
        pyplot.gcf().savefig(buf, format="png", dpi=150, bbox_inches="tight")
        return buf.getvalue()
    finally:
        pyplot.close(pyplot.gcf())
        pyplot.close(fig)


def _shap_values(
    shap: Any, predict_frame: Any, raw_model: Any, sample: Any, columns: list[str], algorithm: str | None
) -> Any:
    """SHAP values of ``sample``: from the model's own explainer (tree, linear) when SHAP knows the
    model, which is fast, else from the prediction function."""
    if algorithm == "kernel":
        explainer = shap.KernelExplainer(predict_frame, sample)
        expected = np.asarray(explainer.expected_value)
        return shap.Explanation(
            np.asarray(explainer.shap_values(sample)),
            base_values=np.broadcast_to(expected, (len(sample), *expected.shape)),
            data=sample.to_numpy(),
            feature_names=columns,
        )
    if algorithm is None and raw_model is not None:
        from sklearn.pipeline import Pipeline

        if not isinstance(raw_model, Pipeline):
            # With the sample as background first; some tree ensembles only pass SHAP's additivity
            # check with the trees' own path statistics (no background).
            for background in (sample, None):
                try:
                    return shap.Explainer(raw_model, background, feature_names=columns)(sample)
                except Exception:  # noqa: BLE001 - SHAP does not know this model: explain its predictions instead
                    continue
    return shap.Explainer(predict_frame, sample, feature_names=columns, algorithm=algorithm or "auto")(sample)


def _one_output(shap: Any, values: Any, labels: int) -> Any:
    """Explanations with one value per feature and row, which SHAP's plots need: for binary
    classifiers the positive class, for multiclass ones the class each row is predicted as."""
    if values.values.ndim != 3:
        return values
    if labels <= 2:
        return values[:, :, -1]
    rows = np.arange(values.values.shape[0])
    chosen = np.argmax(np.asarray(values.base_values) + values.values.sum(axis=1), axis=1)
    return shap.Explanation(
        values.values[rows, :, chosen],
        base_values=np.asarray(values.base_values)[rows, chosen],
        data=values.data,
        feature_names=values.feature_names,
    )


def explain(
    predict: Any, raw_model: Any, x: Any, y: np.ndarray, labels: int, config: dict[str, Any]
) -> dict[str, bytes]:
    """``{artifact name: file bytes}``: the SHAP beeswarm, summary and feature importance plots
    and a ``shap_feature_importances`` CSV (mean |SHAP value| per feature)."""
    if not shap_installed():
        return _skip("SHAP is not installed; `pip install 'tracklite[evaluate]'` (or shap) to log SHAP plots")
    import pandas as pd

    if not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
        return _skip("SHAP needs numeric or boolean labels")
    if isinstance(x, pd.DataFrame):
        frame = x.rename(columns=str)
    else:
        frame = pd.DataFrame(np.asarray(x))
        frame.columns = default_feature_names(frame.shape[1])
    algorithm = config.get("explainability_algorithm")
    if algorithm != "kernel" and not all(np.issubdtype(t, np.number) for t in frame.dtypes):
        return _skip("every feature must be numeric (or set explainability_algorithm='kernel')")
    with _quiet():
        import shap

    columns = list(frame.columns)
    sample = shap.sample(frame, config.get("explainability_nsamples", DEFAULT_SAMPLE_ROWS), random_state=0)
    sample = sample.fillna(frame.mean(numeric_only=True))

    def predict_frame(values: Any) -> Any:
        # Explainers call with arrays or frames of their own; give the model what it was fitted on.
        if isinstance(x, pd.DataFrame):
            return predict(pd.DataFrame(np.asarray(values), columns=x.columns))
        return predict(np.asarray(values))

    try:
        with _quiet():
            values = _shap_values(shap, predict_frame, raw_model, sample, columns, algorithm)
    except Exception as exc:
        if not config.get("ignore_exceptions", True):
            raise
        return _skip(f"SHAP failed: {exc!r}")
    values = _one_output(shap, values, labels)
    out = {
        "shap_beeswarm_plot": lambda: shap.plots.beeswarm(values, show=False, color_bar=True),
        "shap_summary_plot": lambda: shap.summary_plot(values, show=False, color_bar=True),
        "shap_feature_importance_plot": lambda: shap.plots.bar(values, show=False),
    }
    rendered = {}
    for name, plot in out.items():
        try:
            rendered[name] = _figure_png(plot)
        except Exception as exc:  # noqa: BLE001 - one plot SHAP cannot draw must not cost the others
            warnings.warn(f"evaluate: SHAP could not draw {name}: {exc!r}", stacklevel=4)
    importances = pd.DataFrame({"feature": columns, "mean_abs_shap_value": np.abs(values.values).mean(axis=0)})
    importances = importances.sort_values("mean_abs_shap_value", ascending=False)
    rendered["shap_feature_importances"] = importances.to_csv(index=False).encode("utf-8")
    return rendered
