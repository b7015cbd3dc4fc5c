"""LightGBM autologging: what one ``lightgbm.train`` or scikit-learn-API ``fit`` logs, as MLflow.

``lightgbm.train`` logs the booster params and its own arguments as params, every evaluation
result per iteration as ``{valid name}-{metric}`` at ``step=iteration``, with early stopping
``stopped_iteration``, ``best_iteration`` and the best iteration's results one step after the
last, ``feature_importance_split``/``_gain`` ``.json``/``.png``, and the booster as the ``model``.
``LGBMClassifier.fit`` and friends log the same from the ``train`` call inside, and the fitted
scikit-learn-API model (not its booster) as the ``model``.
"""

from __future__ import annotations

from typing import Any

from tracklite.autologging import boosting, patching
from tracklite.autologging.config import configure, get_config
from tracklite.autologging.records import log_metrics, log_params
from tracklite.autologging.session import TrainingSession, best_effort

FLAVOR = "lightgbm"
IMPORTANCE_TYPES = ("split", "gain")
# ``train`` arguments that are data, functions or outputs rather than settings (MLflow's list).
UNLOGGED = (
    "params",
    "train_set",
    "valid_sets",
    "valid_names",
    "fobj",
    "feval",
    "init_model",
    "learning_rates",
    "callbacks",
    "evals_result",
)
# The LightGBM releases this integration is tested with: [first, below).
SUPPORTED_VERSIONS = ("3.3", "5")


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Log params, per-iteration metrics, feature importance and the model of LightGBM training.

    ``lightgbm.train`` logs the booster params and its own arguments (``num_boost_round``,
    ``keep_training_booster``) as params; each evaluation result per iteration as
    ``{valid name}-{metric}`` (``training-l2``, ``valid_0-binary_logloss``; ``@`` becomes
    ``_at_``) at ``step=iteration``; with early stopping, ``stopped_iteration``,
    ``best_iteration`` and the best iteration's results at the step after the last;
    ``feature_importance_split``/``feature_importance_gain`` ``.json`` and ``.png``; and the
    booster as ``model``, with a signature (and an input example with ``log_input_examples``).
    ``fit`` of ``LGBMClassifier``, ``LGBMRegressor``, ``LGBMRanker`` logs the same, and the
    fitted model itself as ``model``. A run is started (and ended) when none is active. A logging
    failure is a warning; training returns what it always returns. ``disable=True`` restores
    LightGBM's own functions; with ``disable_for_unsupported_versions``, a LightGBM outside the
    tested range (>=3.3, <5) is not patched. Datasets are not logged (MLflow's
    ``log_datasets``). See docs/autologging.md.

    Args:
        log_input_examples: Log the first training rows as the model's input example.
        log_model_signatures: Infer the model's signature from the first training rows.
        log_models: Log the trained model.
        disable: Turn LightGBM autologging off.
        exclusive: Log only into runs autologging starts, not into the user's.
        disable_for_unsupported_versions: Stay off for a LightGBM outside the tested range.
        silent: No warnings from autologging.
        registered_model_name: Register each logged model as a new version of this model.
        extra_tags: Tags for each run autologging starts.
    """
    if not disable and disable_for_unsupported_versions:
        import lightgbm

        disable = boosting.unsupported(FLAVOR, lightgbm.__version__, SUPPORTED_VERSIONS, silent)
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
    )
    patching.unpatch(FLAVOR)
    if disable:
        return
    import lightgbm

    boosting.enable(FLAVOR, lightgbm, lightgbm.Dataset, _train, _log_fitted, estimators_to_patch())


def estimators_to_patch() -> list[type]:
    """The scikit-learn-API models: ``LGBMModel`` and its subclasses in ``lightgbm.sklearn``."""
    import inspect

    import lightgbm.sklearn

    return [
        cls
        for _, cls in inspect.getmembers(lightgbm.sklearn, inspect.isclass)
        if issubclass(cls, lightgbm.sklearn.LGBMModel)
    ]


class _Callback:
    """Logs each iteration's evaluation results. LightGBM runs callbacks without an ``order`` of
    their own first, so the last iteration is logged before early stopping ends training."""

    def __init__(self, logger: boosting.StepLogger) -> None:
        self.logger = logger

    def __call__(self, env: Any) -> None:
        metrics = {}
        for data_name, eval_name, value, *_ in env.evaluation_result_list:
            metrics[boosting.metric_key(f"{data_name}-{eval_name}")] = float(value)
        self.logger.log(metrics, env.iteration)


def _train(
    session: TrainingSession, original: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, log_model: bool
) -> Any:
    run_id = str(session.run_id)
    with best_effort(session, "log params"):
        params = boosting.fn_params(original, args, kwargs, UNLOGGED)
        booster_params = dict(boosting.argument(original, args, kwargs, "params") or {})
        log_params(run_id, params | booster_params)
    logger = boosting.StepLogger(session)
    call_args, call_kwargs = args, kwargs
    with best_effort(session, "add its evaluation callback"):
        call_args, call_kwargs = boosting.with_callback(original, args, kwargs, _Callback(logger))
    model = original(*call_args, **call_kwargs)
    if model.best_iteration > 0 and logger.results:
        # best_iteration counts from 1; without early stopping it stays 0.
        with best_effort(session, "log early stopping metrics"):
            extra_step = len(logger.results)
            log_metrics(run_id, {"stopped_iteration": extra_step, "best_iteration": model.best_iteration})
            best = logger.results[model.best_iteration - 1 - logger.first_step]
            log_metrics(run_id, best, step=extra_step)
    for importance_type in IMPORTANCE_TYPES:
        with best_effort(session, f"log feature importance ({importance_type})"):
            values = model.feature_importance(importance_type=importance_type).tolist()
            importance = dict(zip(model.feature_name(), values, strict=True))
            boosting.log_importance(run_id, importance_type, importance, indent=2)
    if log_model:
        with best_effort(session, "log the model"):
            _log_booster(session, model, boosting.argument(original, args, kwargs, "train_set"))
    return model


def _log_booster(session: TrainingSession, booster: Any, train_set: Any) -> None:
    import tracklite.lightgbm

    example = getattr(train_set, boosting.EXAMPLE_ATTR, None)
    extras = boosting.model_extras(session, example, booster.predict)
    tracklite.lightgbm.log_model(
        booster, name="model", registered_model_name=session.config.registered_model_name, **extras
    )


def _log_fitted(estimator: Any, **kwargs: Any) -> None:
    import tracklite.lightgbm

    config = get_config(FLAVOR)
    assert config is not None
    tracklite.lightgbm.log_model(estimator, registered_model_name=config.registered_model_name, **kwargs)
