"""XGBoost autologging: what one ``xgboost.train`` or scikit-learn-API ``fit`` logs, as MLflow.

``xgboost.train`` logs the booster params and its own arguments as params, every evaluation
result per iteration as ``{eval name}-{metric}`` at ``step=iteration``, with early stopping
``stopped_iteration``, ``best_iteration`` and the best iteration's results one step after the
last, ``feature_importance_{type}.json``/``.png`` per importance type, and the booster as the
``model``. ``XGBClassifier.fit`` and friends log the same from the ``train`` call inside, and the
fitted scikit-learn-API model (not its booster) as the ``model``.
"""

from __future__ import annotations

from typing import Any

from tracklite.autologging import boosting, patching
from tracklite.autologging.config import configure, get_config
from tracklite.autologging.records import log_metrics, log_params, param_text
from tracklite.autologging.session import TrainingSession, best_effort
from tracklite.errors import InvalidParameterValue

FLAVOR = "xgboost"
MODEL_FORMATS = ("ubj", "json", "xgb")
DEFAULT_IMPORTANCE_TYPES = ("weight",)
# ``train`` arguments that are data, functions or outputs rather than settings (MLflow's list).
UNLOGGED = ("params", "dtrain", "evals", "obj", "feval", "evals_result", "xgb_model", "callbacks", "learning_rates")
# The XGBoost releases this integration is tested with: [first, below).
SUPPORTED_VERSIONS = ("1.7", "4")


def autolog(
    importance_types: list[str] | None = None,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    model_format: str = "ubj",
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Log params, per-iteration metrics, feature importance and the model of XGBoost training.

    ``xgboost.train`` logs the booster params and its own arguments (``num_boost_round``,
    ``early_stopping_rounds`` ...) as params; each evaluation result per iteration as
    ``{eval name}-{metric}`` (``train-rmse``, ``validation_0-logloss``; ``@`` becomes ``_at_``)
    at ``step=iteration``; with early stopping, ``stopped_iteration``, ``best_iteration`` and the
    best iteration's results at the step after the last; ``feature_importance_{type}.json`` and
    ``.png`` for each of ``importance_types`` (default ``["weight"]``); and the booster as
    ``model``, with a signature (and an input example with ``log_input_examples``). ``fit`` of
    ``XGBClassifier``, ``XGBRegressor``, ``XGBRanker`` ... logs the same, and the fitted model
    itself as ``model``. A run is started (and ended) when none is active. A logging failure is a
    warning; training returns what it always returns. ``disable=True`` restores XGBoost's own
    functions; with ``disable_for_unsupported_versions``, an XGBoost outside the tested range
    (>=1.7, <4) is not patched. Datasets are not logged (MLflow's ``log_datasets``). See
    docs/autologging.md.

    Args:
        importance_types: Importance types for ``Booster.get_score``; default ``["weight"]``.
        log_input_examples: Log the first training rows as the model's input example.
        log_model_signatures: Infer the model's signature from the first training rows.
        log_models: Log the trained model.
        disable: Turn XGBoost autologging off.
        exclusive: Log only into runs autologging starts, not into the user's.
        disable_for_unsupported_versions: Stay off for an XGBoost outside the tested range.
        silent: No warnings from autologging.
        registered_model_name: Register each logged model as a new version of this model.
        model_format: ``"ubj"`` (default), ``"json"`` or ``"xgb"``.
        extra_tags: Tags for each run autologging starts.

    Raises:
        InvalidParameterValue: for an unknown ``model_format``.
    """
    if model_format not in MODEL_FORMATS:
        raise InvalidParameterValue(f"model_format must be one of {list(MODEL_FORMATS)}, got {model_format!r}")
    if not disable and disable_for_unsupported_versions:
        import xgboost

        disable = boosting.unsupported(FLAVOR, xgboost.__version__, SUPPORTED_VERSIONS, silent)
    configure(
        FLAVOR,
        log_models=log_models,
        log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures,
        disable=disable,
        exclusive=exclusive,
        silent=silent,
        registered_model_name=registered_model_name,
        extra_tags=extra_tags,
        options={
            "importance_types": list(DEFAULT_IMPORTANCE_TYPES if importance_types is None else importance_types),
            "model_format": model_format,
        },
    )
    patching.unpatch(FLAVOR)
    if disable:
        return
    import xgboost

    boosting.enable(FLAVOR, xgboost, xgboost.DMatrix, _train, _log_fitted, estimators_to_patch())


def estimators_to_patch() -> list[type]:
    """The scikit-learn-API models: every subclass of ``XGBModel`` in ``xgboost.sklearn``."""
    import inspect

    import xgboost.sklearn

    base = xgboost.sklearn.XGBModel
    return [
        cls
        for _, cls in inspect.getmembers(xgboost.sklearn, inspect.isclass)
        if issubclass(cls, base) and cls is not base
    ]


def _booster_params(params: Any) -> dict[str, Any]:
    """``train``'s ``params``: a dict, or a list of pairs whose repeated keys (several
    ``eval_metric``) become a list."""
    if isinstance(params, dict):
        return dict(params)
    out: dict[str, Any] = {}
    for key, value in params or ():
        if key in out:
            out[key] = [*out[key], value] if isinstance(out[key], list) else [out[key], value]
        else:
            out[key] = value
    return out


def _callback(logger: boosting.StepLogger) -> Any:
    import xgboost

    class AutologCallback(xgboost.callback.TrainingCallback):  # type: ignore[misc]
        """Logs each iteration's evaluation results; never stops training."""

        def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, list[Any]]]) -> bool:
            metrics = {}
            for data_name, results in evals_log.items():
                for metric_name, values in results.items():
                    last = values[-1]
                    metrics[f"{data_name}-{boosting.metric_key(metric_name)}"] = float(
                        last[0] if isinstance(last, tuple) else last
                    )
            logger.log(metrics, epoch)
            return False

    return AutologCallback()


def _train(
    session: TrainingSession, original: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, log_model: bool
) -> Any:
    run_id = str(session.run_id)
    config = session.config
    params: dict[str, Any] = {}
    with best_effort(session, "log params"):
        params = boosting.fn_params(original, args, kwargs, UNLOGGED)
        booster_params = _booster_params(boosting.argument(original, args, kwargs, "params"))
        log_params(run_id, params | booster_params)
    logger = boosting.StepLogger(session)
    call_args, call_kwargs = args, kwargs
    with best_effort(session, "add its evaluation callback"):
        call_args, call_kwargs = boosting.with_callback(original, args, kwargs, _callback(logger))
    model = original(*call_args, **call_kwargs)
    if boosting.argument(original, args, kwargs, "early_stopping_rounds") and logger.results:
        with best_effort(session, "log early stopping metrics"):
            extra_step = len(logger.results)
            log_metrics(run_id, {"stopped_iteration": extra_step - 1, "best_iteration": model.best_iteration})
            best = logger.results[model.best_iteration - logger.first_step]
            log_metrics(run_id, best, step=extra_step)
    for importance_type in config.options.get("importance_types", DEFAULT_IMPORTANCE_TYPES):
        with best_effort(session, f"log feature importance ({importance_type})"):
            importance = model.get_score(importance_type=importance_type)
            boosting.log_importance(run_id, importance_type, importance, indent=None)
    if log_model:
        with best_effort(session, "log the model"):
            _log_booster(session, model, boosting.argument(original, args, kwargs, "dtrain"), params)
    return model


def _log_booster(session: TrainingSession, booster: Any, dtrain: Any, params: dict[str, Any]) -> None:
    import xgboost

    import tracklite.xgboost

    example = getattr(dtrain, boosting.EXAMPLE_ATTR, None)
    extras = boosting.model_extras(session, example, lambda x: booster.predict(xgboost.DMatrix(x)))
    tracklite.xgboost.log_model(
        booster,
        name="model",
        model_format=session.config.options.get("model_format", "ubj"),
        registered_model_name=session.config.registered_model_name,
        params={k: param_text(v) for k, v in params.items()},
        **extras,
    )


def _log_fitted(estimator: Any, **kwargs: Any) -> None:
    import tracklite.xgboost

    config = get_config(FLAVOR)
    assert config is not None
    tracklite.xgboost.log_model(
        estimator,
        model_format=config.options.get("model_format", "ubj"),
        registered_model_name=config.registered_model_name,
        **kwargs,
    )
