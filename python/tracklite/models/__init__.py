"""Models: the MLmodel format, signatures, input examples and logged models.

At MLflow's import paths: ``tracklite.models.Model``, ``ModelSignature``, ``infer_signature``,
``ModelInfo``. Flavors live in ``tracklite.sklearn``, ``tracklite.pyfunc``,
``tracklite.xgboost`` and ``tracklite.lightgbm``.
"""

from typing import TYPE_CHECKING, Any

from tracklite.models.logged import ModelInfo, get_model_info
from tracklite.models.model import Model
from tracklite.models.signature import ModelSignature, infer_signature

if TYPE_CHECKING:
    from tracklite.models.evaluation import (
        EvaluationMetric,
        EvaluationResult,
        MetricThreshold,
        ModelValidationFailedException,
        evaluate,
        make_metric,
        validate_evaluation_results,
    )


_EVALUATION = frozenset(
    {
        "EvaluationMetric",
        "EvaluationResult",
        "MetricThreshold",
        "ModelValidationFailedException",
        "evaluate",
        "make_metric",
        "validate_evaluation_results",
    }
)


def __getattr__(name: str) -> Any:
    # Evaluation loads on first use: `import tracklite.models` stays quick.
    if name in _EVALUATION:
        import importlib

        return getattr(importlib.import_module("tracklite.models.evaluation"), name)
    raise AttributeError(f"module 'tracklite.models' has no attribute '{name}'")


__all__ = [
    "EvaluationMetric",
    "EvaluationResult",
    "MetricThreshold",
    "Model",
    "ModelInfo",
    "ModelSignature",
    "ModelValidationFailedException",
    "evaluate",
    "get_model_info",
    "infer_signature",
    "make_metric",
    "validate_evaluation_results",
]
