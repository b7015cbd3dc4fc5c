"""Autologging: ``tracklite.autolog()`` and ``tracklite.<flavor>.autolog()`` log params, metrics
and models of training calls without log calls in the user's code.

One module per library (``sklearn``, ``xgboost``, ``lightgbm``) says what a training call logs;
``session`` holds the rule that logging never breaks training, ``patching`` swaps methods in and
out, and ``import_hooks`` enables a library's integration when it is first imported.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from typing import Any

from tracklite.autologging.config import AutologConfig
from tracklite.autologging.import_hooks import cancel, when_imported

# library module -> the tracklite module whose autolog() handles it
INTEGRATIONS = {
    "sklearn": "tracklite.autologging.sklearn",
    "xgboost": "tracklite.autologging.xgboost",
    "lightgbm": "tracklite.autologging.lightgbm",
}


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Enable (or disable) autologging for every supported library that is installed:
    scikit-learn, XGBoost and LightGBM. A library not imported yet is patched when it is.

    Args:
        log_input_examples: Log a few training rows as the model's input example.
        log_model_signatures: Infer and log the model's signature from training rows.
        log_models: Log the fitted model.
        disable: Turn autologging off (and restore the libraries' own methods).
        exclusive: Do not log into runs the user started; only into runs autologging starts.
        silent: No warnings from autologging itself.
        max_tuning_runs: Child runs per parameter search (the best by rank); ``None`` for all.
        extra_tags: Tags for every run autologging starts.
    """
    # Checked now, so a bad value fails here rather than when a library is imported later.
    AutologConfig(max_tuning_runs=max_tuning_runs, extra_tags=dict(extra_tags or {}))
    settings: dict[str, Any] = {
        "log_input_examples": log_input_examples,
        "log_model_signatures": log_model_signatures,
        "log_models": log_models,
        "disable": disable,
        "exclusive": exclusive,
        "silent": silent,
        "extra_tags": extra_tags,
    }
    for library, integration in INTEGRATIONS.items():
        if importlib.util.find_spec(library) is None:
            continue
        kwargs = settings | ({"max_tuning_runs": max_tuning_runs} if library == "sklearn" else {})
        module = importlib.import_module(integration)
        if disable:
            cancel(library)
            module.autolog(**kwargs)
        else:
            when_imported(library, functools.partial(_enable, module, kwargs))


def _enable(integration: Any, kwargs: dict[str, Any], _library: Any) -> None:
    integration.autolog(**kwargs)


__all__ = ["autolog"]
