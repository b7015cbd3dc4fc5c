"""scikit-learn autologging: what one ``fit`` of an estimator, pipeline or search logs.

Params (``get_params(deep=True)``), tags ``estimator_name``/``estimator_class``, training
metrics named as MLflow names them, training plots for classifiers and the fitted model with a
signature; a parameter search adds its best estimator, ``best_*`` params, ``best_cv_score``,
``cv_results.csv`` and one child run per top candidate.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np

from tracklite.autologging import patching
from tracklite.autologging.config import configure
from tracklite.autologging.records import log_file, log_metrics, log_params, param_text, set_tags
from tracklite.autologging.session import AUTOLOGGING_TAG, TrainingSession, best_effort, quiet, training_session

FLAVOR = "sklearn"
TRAINING_PREFIX = "training_"
FIT_METHODS = ("fit", "fit_transform", "fit_predict")
INPUT_EXAMPLE_ROWS = 5
# Data preparation, not models: fitted alone they get no run of their own (inside a pipeline
# they are logged as part of it), as in MLflow.
EXCLUDED_MODULES = (
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.feature_extraction",
    "sklearn.feature_selection",
)
CLASSIFIER_METRICS = ("precision_score", "recall_score", "f1_score", "accuracy_score", "log_loss", "roc_auc")
REGRESSOR_METRICS = ("mean_squared_error", "root_mean_squared_error", "mean_absolute_error", "r2_score")


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_post_training_metrics: bool = True,
    serialization_format: str = "cloudpickle",
    registered_model_name: str | None = None,
    pos_label: Any = None,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Log params, training metrics, plots and the model of every scikit-learn ``fit``.

    ``fit``, ``fit_transform`` and ``fit_predict`` of estimators, pipelines and parameter
    searches log ``get_params(deep=True)``, ``estimator_name``/``estimator_class`` tags,
    ``training_*`` metrics and the model (with a signature) into the active run, or into a run
    they start and end. ``GridSearchCV``/``RandomizedSearchCV`` add ``best_estimator``,
    ``best_*`` params, ``best_cv_score``, ``cv_results.csv`` and up to ``max_tuning_runs``
    child runs. With ``log_post_training_metrics``, ``sklearn.metrics`` calls on the model's
    predictions (and ``model.score``) are logged as ``<metric>_<dataset variable>``. A logging
    failure is a warning; ``fit`` returns what it always returns. ``disable=True`` restores
    scikit-learn's own methods. See docs/autologging.md.
    """
    from tracklite.models.serialization import check_format

    check_format(serialization_format)
    configure(
        FLAVOR,
        log_models=log_models,
        log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures,
        disable=disable,
        exclusive=exclusive,
        silent=silent,
        max_tuning_runs=max_tuning_runs,
        log_post_training_metrics=log_post_training_metrics,
        registered_model_name=registered_model_name,
        extra_tags=extra_tags,
        options={"serialization_format": serialization_format, "pos_label": pos_label},
    )
    patching.unpatch(FLAVOR)
    if disable:
        return
    from tracklite.autologging import sklearn_metrics

    for cls in estimators_to_patch():
        for method in FIT_METHODS:
            patching.patch_method(FLAVOR, cls, method, _patched_fit)
    if log_post_training_metrics:
        sklearn_metrics.patch(FLAVOR)


def estimators_to_patch() -> list[type]:
    """Every estimator class scikit-learn lists, plus the meta-estimators, minus data preparation."""
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    classes = {cls for _, cls in all_estimators()} | {GridSearchCV, RandomizedSearchCV, Pipeline}
    return sorted(
        (cls for cls in classes if not cls.__module__.startswith(EXCLUDED_MODULES)),
        key=lambda cls: (cls.__module__, cls.__qualname__),
    )


def fit_inputs(fit: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """``(X, y, sample_weight)`` of a ``fit(self, X, y=None, ..., sample_weight=None)`` call."""
    names = [p for p in inspect.signature(fit).parameters if p != "self"]
    bound = dict(zip(names, args, strict=False)) | kwargs
    x = bound.get(names[0]) if names else None
    y = bound.get(names[1]) if len(names) > 1 and names[1] in ("y", "Y") else kwargs.get("y")
    return x, y, bound.get("sample_weight")


def _patched_fit(original: Any, estimator: Any, *args: Any, **kwargs: Any) -> Any:
    from tracklite.autologging.config import get_config

    config = get_config(FLAVOR)
    assert config is not None  # the patch is only active while a config is set
    with training_session(FLAVOR, config) as session:
        if session is None or session.run_id is None:
            return original(estimator, *args, **kwargs)
        x, y, weights = None, None, None
        with best_effort(session, "read the training data"):
            x, y, weights = fit_inputs(original, args, kwargs)
            session.state["example"] = copy.deepcopy(x[:INPUT_EXAMPLE_ROWS]) if x is not None else None
        with best_effort(session, "log params and tags"):
            log_params(session.run_id, _estimator_params(estimator))
            set_tags(session.run_id, estimator_tags(estimator))
        result = original(estimator, *args, **kwargs)
        _after_fit(session, estimator, x, y, weights)
        return result


def estimator_tags(estimator: Any) -> dict[str, str]:
    """MLflow's ``estimator_name`` and ``estimator_class`` tags."""
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"}


def is_search(estimator: Any) -> bool:
    """Whether ``estimator`` is a parameter search (``GridSearchCV``, ``RandomizedSearchCV``)."""
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    return isinstance(estimator, GridSearchCV | RandomizedSearchCV)


def _estimator_params(estimator: Any) -> dict[str, Any]:
    # A search's own params name its candidates' settings already; deep would repeat the seed's.
    return dict(estimator.get_params(deep=not is_search(estimator)))


def _after_fit(session: TrainingSession, estimator: Any, x: Any, y: Any, weights: Any) -> None:
    run_id = str(session.run_id)
    config = session.config
    if y is not None:
        with best_effort(session, "compute training metrics"), quiet():
            log_metrics(run_id, training_metrics(estimator, x, y, weights, config.options.get("pos_label")))
        with best_effort(session, "draw training plots"), quiet():
            _log_training_plots(run_id, estimator, x, y, weights, config.options.get("pos_label"))
    params = _estimator_params(estimator)
    if hasattr(estimator, "best_params_"):
        params |= {f"best_{k}": v for k, v in estimator.best_params_.items()}
    if config.log_models:
        with best_effort(session, "log the model"), quiet():
            _log_model(session, estimator, "model", params, register=True)
    if is_search(estimator):
        _log_search(session, estimator)
    from tracklite.autologging import sklearn_metrics

    sklearn_metrics.remember_model(estimator, run_id)


def training_metrics(estimator: Any, x: Any, y: Any, weights: Any, pos_label: Any) -> dict[str, float]:
    """``training_score`` and MLflow's training metrics for classifiers and regressors, computed
    with ``tracklite.evaluate``'s code."""
    from sklearn.base import is_classifier, is_regressor

    from tracklite.models.evaluation.metrics import classifier_metrics, estimator_score, regressor_metrics

    out: dict[str, float] = {}
    if hasattr(estimator, "score"):
        out["score"] = estimator_score(estimator, x, y, weights)
    y_true = np.asarray(y)
    config: dict[str, Any] = {"sample_weights": weights}
    if pos_label is not None:
        config["pos_label"] = pos_label
    if is_classifier(estimator) and y_true.ndim == 1:
        pred = np.asarray(estimator.predict(x))
        proba = np.asarray(estimator.predict_proba(x)) if hasattr(estimator, "predict_proba") else None
        computed = classifier_metrics(y_true, pred, proba, config)
        out.update({k: computed[k] for k in CLASSIFIER_METRICS if k in computed})
    elif is_regressor(estimator):
        computed = regressor_metrics(y_true, np.asarray(estimator.predict(x)), config)
        out.update({k: computed[k] for k in REGRESSOR_METRICS})
    return {f"{TRAINING_PREFIX}{k}": v for k, v in out.items()}


def _log_training_plots(run_id: str, estimator: Any, x: Any, y: Any, weights: Any, pos_label: Any) -> None:
    """MLflow's training plots of a classifier: the confusion matrix, and for binary data the
    ROC and precision-recall curves."""
    from sklearn.base import is_classifier

    if not is_classifier(estimator) or np.asarray(y).ndim != 1:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return  # plots are optional; metrics and the model are logged without them
    from tracklite.models.evaluation import plots
    from tracklite.models.evaluation.data import class_labels

    y_true, pred = np.asarray(y), np.asarray(estimator.predict(x))
    labels = class_labels(y_true, pred, {})
    files = {"training_confusion_matrix.png": plots.confusion_matrix_png(y_true, pred, labels, weights, draft=True)}
    if len(labels) == 2 and hasattr(estimator, "predict_proba"):
        proba = np.asarray(estimator.predict_proba(x))
        positive = labels[-1] if pos_label is None else pos_label
        files["training_roc_curve.png"] = plots.roc_curve_png(y_true, proba, labels, positive, weights, draft=True)
        files["training_precision_recall_curve.png"] = plots.precision_recall_curve_png(
            y_true, proba, labels, positive, weights, draft=True
        )
    for path, data in files.items():
        log_file(run_id, data, path)


def _log_model(session: TrainingSession, estimator: Any, name: str, params: dict[str, Any], *, register: bool) -> None:
    import tracklite.sklearn
    from tracklite.models import infer_signature

    config = session.config
    example = session.state.get("example")
    signature = None
    if config.log_model_signatures and example is not None:
        predict = getattr(estimator, "predict", None) or getattr(estimator, "transform", None)
        if predict is not None:
            signature = infer_signature(example, predict(copy.deepcopy(example)))
    tracklite.sklearn.log_model(
        estimator,
        name=name,
        signature=signature,
        input_example=example if config.log_input_examples else None,
        serialization_format=config.options.get("serialization_format", "cloudpickle"),
        registered_model_name=config.registered_model_name if register else None,
        params={k: param_text(v) for k, v in params.items()},
    )


def _log_search(session: TrainingSession, search: Any) -> None:
    """A parameter search's results: the best estimator, its score and params, the whole
    ``cv_results_`` as a CSV, and a child run per top candidate."""
    run_id = str(session.run_id)
    if hasattr(search, "best_estimator_") and session.config.log_models:
        with best_effort(session, "log the best estimator"), quiet():
            _log_model(
                session, search.best_estimator_, "best_estimator", search.best_estimator_.get_params(), register=False
            )
    with best_effort(session, "log the search results"):
        if hasattr(search, "best_score_"):
            log_metrics(run_id, {"best_cv_score": search.best_score_})
        if hasattr(search, "best_params_"):
            log_params(run_id, {f"best_{k}": v for k, v in search.best_params_.items()})
        if hasattr(search, "cv_results_"):
            import pandas as pd

            results = pd.DataFrame(search.cv_results_)
            log_file(run_id, results.to_csv(index=False).encode("utf-8"), "cv_results.csv")
            _child_runs(session, search, results)


def _child_runs(session: TrainingSession, search: Any, results: Any) -> None:
    """One finished child run per candidate, the best ``max_tuning_runs`` by rank, as MLflow."""
    import tracklite

    client = tracklite.Client()
    parent = client.get_run(str(session.run_id))
    limit = session.config.max_tuning_runs
    rank = next((c for c in results.columns if c.startswith("rank_test_")), None)
    if limit is not None and rank is not None:
        results = results.nsmallest(limit, rank)
    elif limit is not None:
        results = results.head(limit)
    seed = search.estimator
    base = seed.get_params(deep=not is_search(seed))
    tags = {"mlflow.parentRunId": parent.info.run_id, AUTOLOGGING_TAG: FLAVOR, **estimator_tags(seed)}
    for _, row in results.iterrows():
        child = client.create_run(parent.info.experiment_id, tags={**tags, **session.config.extra_tags})
        child_id = child.info.run_id
        log_params(child_id, base | dict(row["params"]))
        metrics = {
            str(k): float(v)
            for k, v in row.items()
            if not str(k).startswith(("param", "split")) and isinstance(v, int | float | np.number)
        }
        log_metrics(child_id, metrics)
        client.set_terminated(child_id)
