"""Serializing estimators (scikit-learn and scikit-learn-API models): pickle, cloudpickle, skops.

Shared by the sklearn and LightGBM flavors. skops refuses types it does not trust; the
untrusted ones are named in the error so the caller can trust them explicitly.
"""

from __future__ import annotations

import os
from typing import Any

from tracklite.errors import InvalidParameterValue, TrackliteError

SUPPORTED_FORMATS = ["skops", "pickle", "cloudpickle"]


def check_format(serialization_format: str) -> None:
    """Raise ``InvalidParameterValue`` naming the supported formats for any other."""
    if serialization_format not in SUPPORTED_FORMATS:
        raise InvalidParameterValue(
            f"Unrecognized serialization format: {serialization_format}. Please specify one of the following "
            f"supported formats: {SUPPORTED_FORMATS}."
        )


def class_path(obj: Any) -> str:
    """``module.QualifiedName`` of an object's class (MLflow's ``model_class``)."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def dump_estimator(sk_model: Any, file: str, serialization_format: str, trusted: list[str] | None) -> None:
    """Write ``sk_model`` to ``file``; with skops, refuse (and remove the file) if it has untrusted types."""
    if serialization_format == "skops":
        try:
            import skops.io
        except ImportError as exc:
            raise InvalidParameterValue("serialization_format='skops' needs skops: `pip install skops`") from exc
        skops.io.dump(sk_model, file)
        untrusted = [t for t in skops.io.get_untrusted_types(file=file) if t not in set(trusted or [])]
        if untrusted:
            os.remove(file)
            raise InvalidParameterValue(
                f"The saved sklearn model references untrusted types {untrusted}: pass "
                f"skops_trusted_types={untrusted!r} to trust them, or save with serialization_format='cloudpickle'."
            )
        return
    with open(file, "wb") as fh:
        if serialization_format == "cloudpickle":
            import cloudpickle

            cloudpickle.dump(sk_model, fh)
        else:
            import pickle

            pickle.dump(sk_model, fh)


def load_estimator(file: str, serialization_format: str, trusted: list[str] | None) -> Any:
    """The estimator in ``file`` (an existing file: see ``Model.file``).

    Raises:
        TrackliteError: for an unreadable file, naming the format.
    """
    check_format(serialization_format)
    try:
        if serialization_format == "skops":
            try:
                import skops.io
            except ImportError as exc:
                raise TrackliteError("This model is saved with skops: `pip install skops` to load it.") from exc
            return skops.io.load(file, trusted=trusted or [])
        with open(file, "rb") as fh:
            if serialization_format == "cloudpickle":
                import cloudpickle

                return cloudpickle.load(fh)
            import pickle

            return pickle.load(fh)
    except TrackliteError:
        raise
    except Exception as exc:
        raise TrackliteError(
            f"The model file '{file}' cannot be read as {serialization_format}: {type(exc).__name__}: {exc}"
        ) from exc
