"""Models: the MLmodel format, signatures, input examples and logged models.

At MLflow's import paths: ``tracklite.models.Model``, ``ModelSignature``, ``infer_signature``,
``ModelInfo``. Flavors live in ``tracklite.sklearn``, ``tracklite.pyfunc``,
``tracklite.xgboost`` and ``tracklite.lightgbm``.
"""

from tracklite.models.logged import ModelInfo, get_model_info
from tracklite.models.model import Model
from tracklite.models.signature import ModelSignature, infer_signature

__all__ = ["Model", "ModelInfo", "ModelSignature", "get_model_info", "infer_signature"]
