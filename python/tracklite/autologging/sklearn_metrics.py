"""Post-training metrics: ``sklearn.metrics`` calls on an autologged model's predictions, and its
``score``, logged into the run that trained it, named as MLflow names them.

A key is ``{metric}[-{call}]_{dataset}``: the metric function's name (``{Class}_score`` for
``model.score``), a call index from 2 when the same metric is computed again in that run, and
the name of the variable holding the data the model predicted on (``unknown_dataset`` if it has
none; a second object under the same name becomes ``X_test-2``). ``metric_info.json`` records the
call that produced each key.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import weakref
from collections import defaultdict
from typing import Any

import numpy as np

from tracklite.autologging import patching
from tracklite.autologging.session import current, quiet

PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba", "transform")
# Helpers in sklearn.metrics that make scorers rather than compute a metric.
NOT_METRICS = frozenset({"check_scoring", "get_scorer", "make_scorer", "get_scorer_names"})

_lock = threading.Lock()
# Models fitted under autologging -> the run they were logged into.
_model_runs: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
# id(prediction) -> (prediction, run id, dataset name). The prediction is held so its id cannot
# be reused by another object while the entry lives; the oldest entries are dropped first.
_predictions: dict[int, tuple[Any, str, str]] = {}
MAX_TRACKED_PREDICTIONS = 256
# run id -> dataset name -> ids of the objects that were given that name
_datasets: defaultdict[str, defaultdict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
# run id -> metric name -> [(key, call command)]
_calls: defaultdict[str, defaultdict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))


def patch(flavor: str) -> None:
    """Patch the predict-like methods and ``score`` of every estimator, and the metric functions
    of ``sklearn.metrics``."""
    from sklearn import metrics

    from tracklite.autologging.sklearn import estimators_to_patch

    for cls in estimators_to_patch():
        for method in PREDICT_METHODS:
            patching.patch_method(flavor, cls, method, _patched_predict)
        patching.patch_method(flavor, cls, "score", _patched_score)
    for name in metrics.__all__:
        function = getattr(metrics, name, None)
        if name in NOT_METRICS or name.startswith("plot_") or inspect.isclass(function) or not callable(function):
            continue
        patching.patch_method(flavor, metrics, name, _patched_metric)


def remember_model(model: Any, run_id: str) -> None:
    """Record that ``model`` was fitted (and logged) in ``run_id``."""
    # An estimator that cannot be weakly referenced gets no post-training metrics.
    with contextlib.suppress(TypeError):
        _model_runs[model] = run_id


def _var_name(value: Any, fallback: str) -> str:
    """The name the user's code gave ``value``: the first frame outwards that did not receive it
    as an argument, searched for a local bound to that very object."""
    frame = inspect.currentframe()
    frame = frame.f_back if frame is not None else None
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith("tracklite."):
            frame = frame.f_back  # autologging's own frames
            continue
        info = inspect.getargvalues(frame)
        received = [info.locals[a] for a in info.args if a in info.locals]
        if info.varargs:
            received += list(info.locals.get(info.varargs, ()))
        if info.keywords:
            received += list(info.locals.get(info.keywords, {}).values())
        if any(value is arg for arg in received):
            frame = frame.f_back
            continue
        for name, local in frame.f_locals.items():
            if local is value:
                return name
        return fallback
    return fallback


def _dataset_name(run_id: str, dataset: Any) -> str:
    name = _var_name(dataset, "unknown_dataset")
    with _lock:
        seen = _datasets[run_id][name]
        if id(dataset) not in seen:
            seen.append(id(dataset))
        index = seen.index(id(dataset))
    return name if index == 0 else f"{name}-{index + 1}"


def _remember_prediction(result: Any, run_id: str, dataset: str) -> None:
    with _lock:
        _predictions[id(result)] = (result, run_id, dataset)
        while len(_predictions) > MAX_TRACKED_PREDICTIONS:
            del _predictions[next(iter(_predictions))]


def _patched_predict(original: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
    run_id = _model_runs.get(model) if current() is None else None
    if run_id is None or not args:
        return original(model, *args, **kwargs)
    dataset = _dataset_name(run_id, args[0])
    with quiet():  # a pipeline's steps predicting inside it are not the user's predictions
        result = original(model, *args, **kwargs)
    _remember_prediction(result, run_id, dataset)
    return result


def _loggable(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def _arg_text(value: Any) -> str:
    if value is None or np.isscalar(value):
        return repr(value[:32] + "...") if isinstance(value, str) and len(value) > 32 else repr(value)
    return _var_name(value, f"<{type(value).__name__}>")


def _call_command(name: str, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any], skip: int) -> str:
    names = list(inspect.signature(function).parameters)[skip:]
    parts = [f"{n}={_arg_text(a)}" for n, a in zip(names, args, strict=False)]
    parts += [f"{n}={_arg_text(a)}" for n, a in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _log(run_id: str, metric: str, dataset: str, value: float, command: str) -> None:
    import tracklite

    with _lock:
        calls = _calls[run_id][metric]
        key = f"{metric if not calls else f'{metric}-{len(calls) + 1}'}_{dataset}"
        calls.append((key, command))
        info = dict(sorted(entry for entries in _calls[run_id].values() for entry in entries))
    client = tracklite.Client()
    client.log_metric(run_id, key, float(value))
    client.log_dict(run_id, info, "metric_info.json")


def _patched_score(original: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
    run_id = _model_runs.get(model) if current() is None else None
    if run_id is None or not args:
        return original(model, *args, **kwargs)
    dataset = _dataset_name(run_id, args[0])
    command = _call_command(f"{type(model).__name__}.score", original, args, kwargs, skip=1)
    with quiet():  # score computes a metric itself; that call is not a separate one
        value = original(model, *args, **kwargs)
    if _loggable(value):
        _try_log(run_id, f"{type(model).__name__}_score", dataset, value, command)
    return value


def _patched_metric(original: Any, *args: Any, **kwargs: Any) -> Any:
    if current() is not None:
        return original(*args, **kwargs)
    with quiet():
        value = original(*args, **kwargs)
    found = None
    with _lock:
        for arg in (*args, *kwargs.values()):
            entry = _predictions.get(id(arg)) if arg is not None and not np.isscalar(arg) else None
            if entry is not None and entry[0] is arg:
                found = entry
                break
    if found is not None and _loggable(value):
        command = _call_command(original.__name__, original, args, kwargs, skip=0)
        _try_log(found[1], original.__name__, found[2], value, command)
    return value


def _try_log(run_id: str, metric: str, dataset: str, value: float, command: str) -> None:
    from tracklite.autologging.config import get_config
    from tracklite.autologging.session import warn

    try:
        _log(run_id, metric, dataset, value, command)
    except Exception as exc:  # noqa: BLE001 - the user's metric call must still return
        config = get_config("sklearn")
        if config is not None:
            warn(config, "sklearn", f"log the post-training metric {metric}", exc)
