"""MLflow's validation rules for names, values and batch sizes.

Limits and messages follow ``mlflow/utils/validation.py`` so that code moving between
MLflow and tracklite meets the same errors. Metric keys on the hot path are checked
by the Rust core with the same rules (``tracklite._core.validate_metric_key``).
"""

from __future__ import annotations

import numbers
import os
import posixpath
import re
import warnings
from collections.abc import Iterable
from contextvars import ContextVar

from tracklite.errors import InvalidParameterValue

MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000

_VALID_KEY = re.compile(r"^[/\w.\- :]*$")
_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_EXPERIMENT_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}$")


def validate_key(kind: str, key: object) -> str:
    """Check a param, tag or metric name against MLflow's rules.

    Args:
        kind: ``"param"``, ``"tag"`` or ``"metric"``, used in the message.
        key: The name to check.

    Returns:
        The key, unchanged.

    Raises:
        InvalidParameterValue: if the key is not a string, is too long, has characters
            outside ``[/\\w.\\- :]`` or would resolve to another path.
    """
    if not isinstance(key, str):
        raise InvalidParameterValue(
            f"Invalid {kind} name: {key!r} of type {type(key).__name__}; {kind} names must be strings."
        )
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise InvalidParameterValue(
            f"{kind.capitalize()} name '{key[:40]}...' had length {len(key)}, "
            f"which exceeded length limit of {MAX_ENTITY_KEY_LENGTH}"
        )
    if not _VALID_KEY.match(key):
        raise InvalidParameterValue(
            f"Invalid {kind} name: '{key}'. Names may only contain alphanumerics, underscores (_), "
            "dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
        )
    normalized = posixpath.normpath(key) if key else key
    if key == "" or normalized != key or key == "." or key.startswith("..") or key.startswith("/"):
        raise InvalidParameterValue(
            f"Invalid {kind} name: '{key}'. Names may be treated as files in certain cases, and must "
            f"not resolve to other names when treated as such. This name would resolve to '{normalized}'"
        )
    return key


#: True while the server handles a request: an over-long value is refused (400), as MLflow's
#: server refuses it; truncating with a warning is the clients' behaviour, not the server's.
refuse_long_values: ContextVar[bool] = ContextVar("tracklite_refuse_long_values", default=False)


def _truncation_allowed() -> bool:
    raw = os.environ.get("TRACKLITE_TRUNCATE_LONG_VALUES", os.environ.get("MLFLOW_TRUNCATE_LONG_VALUES", "true"))
    return raw.strip().lower() not in ("false", "0", "no")


def validate_value(kind: str, key: str, value: object, limit: int) -> str:
    """Turn a param or tag value into its stored string, enforcing the length limit.

    Over-long values are truncated with a warning, as MLflow does while
    ``MLFLOW_TRUNCATE_LONG_VALUES`` (or ``TRACKLITE_TRUNCATE_LONG_VALUES``) is true,
    its default; otherwise they are an error.

    Raises:
        InvalidParameterValue: if the value is too long and truncation is off.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        if refuse_long_values.get():
            raise InvalidParameterValue(
                f"{kind.capitalize()} value '{text[:40]}...' for key '{key}' had length {len(text)}, "
                f"which exceeded length limit of {limit}. Shorten the value (clients such as "
                "tracklite's and MLflow's truncate it with a warning before sending)."
            )
        if not _truncation_allowed():
            raise InvalidParameterValue(
                f"{kind.capitalize()} value '{text[:40]}...' for key '{key}' had length {len(text)}, "
                f"which exceeded length limit of {limit}. Shorten the value, or set "
                "TRACKLITE_TRUNCATE_LONG_VALUES=true to truncate it."
            )
        warnings.warn(
            f"{kind.capitalize()} value for key '{key}' had length {len(text)} and was truncated "
            f"to {limit} characters (set TRACKLITE_TRUNCATE_LONG_VALUES=false to make this an error).",
            stacklevel=4,
        )
        text = text[:limit]
    return text


def validate_metric_value(key: str, value: object, step: object = 0) -> float:
    """A metric value as a float: numbers (NaN and infinities included), not bools.

    Raises:
        InvalidParameterValue: for bools, strings, None and other non-numbers.
    """
    # Numbers and number-like objects (numpy scalars) take float(); bools, including numpy's,
    # text and complex numbers do not count, as in MLflow.
    not_a_number = isinstance(value, (bool, str, bytes, complex)) or type(value).__name__ == "bool_"
    if not_a_number or not hasattr(value, "__float__"):
        raise InvalidParameterValue(
            f"Got invalid value {value!r} for metric '{key}' (step={step}). "
            "Please specify value as a valid double (64-bit floating point)"
        )
    return float(value)  # type: ignore[arg-type]


def validate_step(step: object) -> int:
    """A metric step as an int (default 0).

    Raises:
        InvalidParameterValue: for bools, floats and non-integers.
    """
    if step is None:
        return 0
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidParameterValue(f"Got invalid step {step!r}: steps must be integers.")
    return int(step)


def validate_timestamp(timestamp: object) -> int:
    """A timestamp in epoch milliseconds, a non-negative int.

    Raises:
        InvalidParameterValue: for negative or non-integer timestamps.
    """
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Integral) or int(timestamp) < 0:
        raise InvalidParameterValue(
            f"Got invalid timestamp {timestamp!r}: timestamps are non-negative integers (milliseconds since the epoch)."
        )
    return int(timestamp)


def validate_run_id(run_id: object) -> str:
    """Check the form of a run id.

    Raises:
        InvalidParameterValue: if it is not a string matching ``^[a-zA-Z0-9][\\w\\-]{0,255}$``.
    """
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise InvalidParameterValue(f"Invalid run ID: '{run_id}'")
    return run_id


def validate_experiment_id(experiment_id: object) -> str:
    """Check the form of an experiment id (ints are accepted and made strings).

    Raises:
        InvalidParameterValue: if it does not match ``^[a-zA-Z0-9][\\w\\-]{0,63}$``.
    """
    if isinstance(experiment_id, int) and not isinstance(experiment_id, bool):
        experiment_id = str(experiment_id)
    if not isinstance(experiment_id, str) or not _EXPERIMENT_ID.match(experiment_id):
        raise InvalidParameterValue(f"Invalid experiment ID: '{experiment_id}'")
    return experiment_id


def validate_experiment_name(name: object) -> str:
    """Check an experiment name: a non-empty string of at most 500 characters.

    Raises:
        InvalidParameterValue: otherwise.
    """
    if not isinstance(name, str):
        raise InvalidParameterValue(f"Invalid experiment name: {name!r}. Expects a string.")
    if name == "":
        raise InvalidParameterValue("Invalid experiment name: ''. Experiment names must not be empty.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameterValue(
            f"Experiment name '{name[:40]}...' had length {len(name)}, which exceeded length limit "
            f"of {MAX_EXPERIMENT_NAME_LENGTH}"
        )
    return name


def validate_batch_sizes(n_metrics: int, n_params: int, n_tags: int) -> None:
    """MLflow's ``log_batch`` limits.

    Raises:
        InvalidParameterValue: if a batch has more than 1000 metrics, 100 params or tags,
            or 1000 entities in all.
    """
    if n_metrics > MAX_METRICS_PER_BATCH:
        raise InvalidParameterValue(
            f"A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. "
            f"Got {n_metrics} metrics. Please split up metrics across multiple requests and try again."
        )
    if n_params > MAX_PARAMS_TAGS_PER_BATCH or n_tags > MAX_PARAMS_TAGS_PER_BATCH:
        raise InvalidParameterValue(
            f"A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} params and "
            f"{MAX_PARAMS_TAGS_PER_BATCH} tags. Got {n_params} params and {n_tags} tags. Please split "
            "up params and tags across multiple requests and try again."
        )
    total = n_metrics + n_params + n_tags
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidParameterValue(
            f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} metrics, params "
            f"and tags in total. Got {total}. Please split up the entities and try again."
        )


def no_duplicate_keys(kind: str, keys: Iterable[str]) -> None:
    """Reject a batch that names the same param twice.

    Raises:
        InvalidParameterValue: naming the duplicated keys.
    """
    seen: set[str] = set()
    dupes = sorted({k for k in keys if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
    if dupes:
        raise InvalidParameterValue(
            f"Duplicate {kind} keys have been submitted: {dupes}. Please ensure the request contains "
            f"only one {kind} value per {kind} key."
        )
