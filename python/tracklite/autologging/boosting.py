"""What the XGBoost and LightGBM integrations share: the params of a ``train`` call, per-iteration
metrics, feature importance files, input examples kept by the patched dataset constructors, and
the model's signature.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import json
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracklite.autologging import patching
from tracklite.autologging.config import get_config
from tracklite.autologging.records import log_file, log_metrics
from tracklite.autologging.session import TrainingSession, best_effort, current, training_session

# ``_train(session, original, args, kwargs, log_model=...)`` of an integration: the logged call.
TrainImpl = Callable[..., Any]

INPUT_EXAMPLE_ROWS = 5
# The attribute a patched ``DMatrix``/``Dataset`` constructor keeps its first rows in.
EXAMPLE_ATTR = "_tracklite_input_example"


def fn_params(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], unlogged: Sequence[str]) -> dict[str, Any]:
    """The arguments of a call to ``fn`` as params, defaults included, minus ``unlogged`` (MLflow's
    ``get_mlflow_run_params_for_fn_args``)."""
    parameters = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    out = {p.name: value for p, value in zip(parameters, args, strict=False)}
    out.update(kwargs)
    out.update({p.name: p.default for p in parameters[len(args) :] if p.name not in kwargs})
    return {k: v for k, v in out.items() if k not in unlogged and v is not inspect.Parameter.empty}


def argument(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    """The value passed for ``fn``'s parameter ``name`` (positionally or by keyword), else ``None``."""
    names = [p for p in inspect.signature(fn).parameters if p != "self"]
    index = names.index(name)
    return args[index] if len(args) > index else kwargs.get(name)


def with_callback(
    fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], callback: Any
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(args, kwargs)`` with ``callback`` added to the ``callbacks`` argument, in a new list so the
    caller's (or an estimator's ``callbacks`` attribute) is left as it was."""
    names = [p for p in inspect.signature(fn).parameters if p != "self"]
    index = names.index("callbacks")
    if len(args) > index:
        args = (*args[:index], [*(args[index] or []), callback], *args[index + 1 :])
    else:
        kwargs = {**kwargs, "callbacks": [*(kwargs.get("callbacks") or []), callback]}
    return args, kwargs


def metric_key(name: str) -> str:
    """A metric name as MLflow logs it: ``ndcg@3`` becomes ``ndcg_at_3``."""
    return name.replace("@", "_at_")


class StepLogger:
    """Logs one iteration's evaluation results at ``step`` through the run's metric writer, and
    keeps them for the early-stopping summary. A failure is warned about once, then logging
    stops; training goes on."""

    def __init__(self, session: TrainingSession) -> None:
        self.session = session
        self.results: list[dict[str, float]] = []
        self.first_step = 0  # a continued training counts on from its first booster's rounds
        self.failed = False

    def log(self, metrics: dict[str, float], step: int) -> None:
        if not self.results:
            self.first_step = step
        self.results.append(metrics)
        if self.failed or not metrics:
            return
        try:
            log_metrics(str(self.session.run_id), metrics, step)
        except Exception as exc:  # noqa: BLE001 - autologging must never break training
            self.failed = True
            self.session.warn("log per-iteration metrics", exc)


def log_importance(run_id: str, importance_type: str, importance: dict[str, Any], indent: int | None) -> None:
    """``feature_importance_{type}.json`` (as MLflow writes it) and, with matplotlib installed,
    ``feature_importance_{type}.png``."""
    text = json.dumps(importance, indent=indent)
    log_file(run_id, text.encode("utf-8"), f"feature_importance_{importance_type}.json")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return  # the plot is optional
    if importance:
        png = importance_png(list(importance), list(importance.values()), importance_type)
        log_file(run_id, png, f"feature_importance_{importance_type}.png")


def importance_png(features: list[str], values: list[Any], importance_type: str) -> bytes:
    """MLflow's feature importance plot: horizontal bars, the most important at the top; one bar
    per class and feature when the importance is given per class (a linear booster)."""
    from tracklite.models.evaluation.plots import _png

    matrix = np.asarray(values, dtype=float)
    if matrix.ndim <= 1:
        matrix = matrix.reshape(-1, 1)
    order = np.argsort(np.abs(matrix).sum(axis=1))
    names, matrix = np.asarray(features, dtype=object)[order], matrix[order]
    n_features, n_classes = matrix.shape
    offsets = np.linspace(-0.25, 0.25, n_classes) if n_classes > 1 else np.zeros(1)
    height = 0.5 / max(n_classes - 1, 1)

    def draw(ax: Any) -> None:
        rows = np.arange(n_features)
        for k in range(n_classes):
            ax.barh(rows + offsets[k], matrix[:, k], height=height, align="center", label=f"Class {k}")
        ax.set_yticks(rows)
        ax.set_yticklabels([str(n) for n in names])
        ax.set_xlabel("Importance")
        ax.set_title(f"Feature Importance ({importance_type})")
        if n_classes > 1:
            ax.legend()

    size = (6.4, 4.8 + (0.1 * n_features if n_features > 10 else 0.0) + (0.1 * n_classes if n_classes > 1 else 0.0))
    return _png(draw, size)


def keep_example(flavor: str, original: Any, dataset: Any, *args: Any, **kwargs: Any) -> Any:
    """A patched ``DMatrix.__init__``/``Dataset.__init__`` (bind ``flavor`` with
    ``functools.partial``): keep a copy of the first rows (the data cannot be read back from a
    built dataset) for the model's input example and signature, when ``flavor`` logs models."""
    config = get_config(flavor)
    wanted = config is not None and config.log_models and (config.log_input_examples or config.log_model_signatures)
    data = args[0] if args else kwargs.get("data")
    if wanted and data is not None and not isinstance(data, str):
        # No example (a file, an iterator): the model is logged without one.
        with contextlib.suppress(Exception):
            setattr(dataset, EXAMPLE_ATTR, copy.deepcopy(data[:INPUT_EXAMPLE_ROWS]))
    return original(dataset, *args, **kwargs)


def example_of(x: Any) -> Any:
    """A copy of the first rows of ``x`` (``None`` when it has none)."""
    return None if x is None else copy.deepcopy(x[:INPUT_EXAMPLE_ROWS])


def model_extras(session: TrainingSession, example: Any, predict: Callable[[Any], Any]) -> dict[str, Any]:
    """``signature`` and ``input_example`` for ``log_model``, as the config asks; a failed signature
    inference is a warning and the model is logged without one."""
    from tracklite.models import infer_signature

    config = session.config
    extras: dict[str, Any] = {"signature": None, "input_example": None}
    if example is None:
        return extras
    if config.log_input_examples:
        extras["input_example"] = example
    if config.log_model_signatures:
        try:
            extras["signature"] = infer_signature(example, predict(copy.deepcopy(example)))
        except Exception as exc:  # noqa: BLE001 - the model is still worth logging
            session.warn("infer the model signature", exc)
    return extras


def version_supported(version: str, minimum: str, below: str) -> bool:
    """Whether ``minimum <= version < below`` (release numbers only)."""

    def release(text: str) -> tuple[int, ...]:
        parts = []
        for part in text.split("."):
            digits = re.match(r"\d+", part)
            if digits is None:
                break
            parts.append(int(digits.group()))
        return tuple(parts)

    return release(minimum) <= release(version) < release(below)


def patched_train(flavor: str, train: TrainImpl, original: Any, *args: Any, **kwargs: Any) -> Any:
    """A patched ``train`` (bind ``flavor`` and the integration's ``train`` with
    ``functools.partial``): logged in a session of its own, or, inside a scikit-learn-API
    ``fit`` of the same flavor, into that fit's run without the booster (the fit logs its model)."""
    outer = current()
    if outer is not None:
        inside_fit = outer.flavor == flavor and outer.run_id is not None and "estimator" in outer.state
        if inside_fit and not outer.state.get("trained"):
            outer.state["trained"] = True
            return train(outer, original, args, kwargs, log_model=False)
        return original(*args, **kwargs)
    config = get_config(flavor)
    assert config is not None  # the patch is only active while a config is set
    with training_session(flavor, config) as session:
        if session is None or session.run_id is None:
            return original(*args, **kwargs)
        return train(session, original, args, kwargs, log_model=config.log_models)


def patched_fit(
    flavor: str, log_model: Callable[..., Any], original: Any, estimator: Any, *args: Any, **kwargs: Any
) -> Any:
    """A patched scikit-learn-API ``fit`` (bind ``flavor`` and the flavor's ``log_model`` with
    ``functools.partial``): one session whose ``train`` call logs params and metrics, then the
    fitted estimator as ``model``."""
    from tracklite.autologging.sklearn import fit_inputs

    config = get_config(flavor)
    assert config is not None  # the patch is only active while a config is set
    with training_session(flavor, config) as session:
        if session is None or session.run_id is None:
            return original(estimator, *args, **kwargs)
        example = None
        with best_effort(session, "read the training data"):
            example = example_of(fit_inputs(original, args, kwargs)[0])
        session.state["estimator"] = estimator
        result = original(estimator, *args, **kwargs)
        if config.log_models:
            with best_effort(session, "log the model"):
                log_model(estimator, name="model", **model_extras(session, example, estimator.predict))
        return result


def unsupported(flavor: str, version: str, supported: tuple[str, str], silent: bool) -> bool:
    """Whether ``version`` of the library is outside the tested range (saying so unless ``silent``)."""
    first, below = supported
    if version_supported(version, first, below):
        return False
    if not silent:
        warnings.warn(
            f"tracklite autologging ({flavor}) is off: {flavor} {version} is outside the "
            f"tested range >={first},<{below} and disable_for_unsupported_versions=True",
            stacklevel=3,
        )
    return True


def enable(
    flavor: str, library: Any, dataset: type, train_impl: TrainImpl, log_fitted: Any, models: list[type]
) -> None:
    """Patch the library: its dataset constructor (to keep example rows), ``train`` and ``fit``."""
    patching.patch_method(flavor, dataset, "__init__", functools.partial(keep_example, flavor))
    train = functools.partial(patched_train, flavor, train_impl)
    patching.patch_method(flavor, library, "train", train)
    # The scikit-learn API calls the ``train`` it imported by name.
    patching.patch_method(flavor, library.sklearn, "train", train)
    fit = functools.partial(patched_fit, flavor, log_fitted)
    for cls in models:
        patching.patch_method(flavor, cls, "fit", fit)
