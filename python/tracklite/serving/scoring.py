"""MLflow's scoring protocol: a request body to model input, predictions to a response body.

A request is JSON with exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs`` (and optionally ``params``), CSV with a header row, or
Parquet. As in ``mlflow models serve``, the body is parsed *using the signature*: JSON
numbers become the schema's dtypes (a JSON integer is fine for a ``double`` column),
``binary`` columns arrive base64-encoded, datetimes as ISO strings. The model's own
``predict`` then applies the in-process enforcement (missing inputs, extra columns,
tensor shapes, params). Errors carry MLflow's codes and messages so clients that parse
them keep working.
"""

from __future__ import annotations

import base64
import datetime as dt
import inspect
import io
import json
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracklite.errors import TrackliteError
from tracklite.types.schema import Array, DataType, Schema, TensorSpec

_orjson: Any = None
try:
    import orjson

    _orjson = orjson
except ImportError:  # optional: the server extra installs it
    pass

CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = [CONTENT_TYPE_CSV, CONTENT_TYPE_JSON, CONTENT_TYPE_PARQUET]

DF_SPLIT = "dataframe_split"
DF_RECORDS = "dataframe_records"
INSTANCES = "instances"
INPUTS = "inputs"
SUPPORTED_FORMATS = {DF_RECORDS, DF_SPLIT, INSTANCES, INPUTS}
PARAMS_KEY = "params"

REQUIRED_INPUT_FORMAT = f"The input must be a JSON dictionary with exactly one of the input fields {SUPPORTED_FORMATS}"
# MLflow's wording, kept because clients and runbooks search for it.
SCORING_PROTOCOL_CHANGE_INFO = (
    "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are seeing this "
    "error, you are likely using an outdated scoring request format. Send exactly one of the input fields "
    'above, for example {"dataframe_split": {"columns": [...], "data": [[...]]}}.'
)
# Echoing a huge body back in an error message helps nobody.
_ECHO_LIMIT = 1000


class UnsupportedContentType(Exception):
    """A request whose content type the server does not read (HTTP 415, plain text)."""


def bad_request(message: str) -> TrackliteError:
    """MLflow's ``BAD_REQUEST`` for input that cannot be parsed, with its "Invalid input." prefix."""
    return TrackliteError(f"Invalid input. {message}", error_code="BAD_REQUEST")


@dataclass(frozen=True, slots=True)
class ScoringRequest:
    """A parsed request: the model input and the inference params (``None`` when not sent)."""

    data: Any
    params: Any


def parse_request(body: bytes, content_type: str | None, schema: Schema | None) -> ScoringRequest:
    """The model input in ``body``, parsed by content type and cast to ``schema``.

    Raises:
        UnsupportedContentType: for a content type other than JSON, CSV or Parquet, a
            charset other than UTF-8 or unknown content-type parameters.
        TrackliteError: ``BAD_REQUEST`` for a body that does not parse or does not convert
            to the schema's types.
    """
    mime, _, rest = (content_type or "").partition(";")
    mime = mime.strip().lower()
    parameters = {}
    for pair in filter(None, (p.strip() for p in rest.split(";"))):
        key, _, value = pair.partition("=")
        parameters[key.strip().lower()] = value.strip().strip('"').lower()
    if parameters.get("charset", "utf-8") != "utf-8":
        raise UnsupportedContentType("The scoring server only supports UTF-8")
    if unknown := set(parameters) - {"charset"}:
        raise UnsupportedContentType(
            f"Unrecognized content type parameters: {', '.join(sorted(unknown))}. {SCORING_PROTOCOL_CHANGE_INFO}"
        )
    if mime == CONTENT_TYPE_JSON:
        return parse_json(body, schema)
    if mime == CONTENT_TYPE_CSV:
        return ScoringRequest(parse_csv(body, schema), None)
    if mime == CONTENT_TYPE_PARQUET:
        return ScoringRequest(parse_parquet(body, schema), None)
    raise UnsupportedContentType(
        f"This predictor only supports the following content types: Types: {CONTENT_TYPES}. Got '{content_type}'."
    )


def _echo(body: bytes | str) -> str:
    text = body if isinstance(body, str) else body[: _ECHO_LIMIT + 1].decode("utf-8", "replace")
    return text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "..."


def _loads(body: bytes | str) -> Any:
    """JSON with orjson when installed (about 5x faster on large bodies), falling back to the
    standard library for what only it accepts: NaN/Infinity literals and integers beyond 64 bits."""
    if _orjson is not None:
        try:
            return _orjson.loads(body)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(body)


def parse_json(body: bytes | str, schema: Schema | None) -> ScoringRequest:
    """A JSON scoring request: exactly one input field, optional ``params``.

    Raises:
        TrackliteError: ``BAD_REQUEST`` naming what is wrong with the body.
    """
    try:
        decoded = _loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(
            f"Ensure that input is a valid JSON formatted string. Error: '{exc!r}'\nInput: \n{_echo(body)}\n"
        ) from None
    except RecursionError:
        raise bad_request("The JSON input is nested too deeply; send rows or columns of values.") from None
    if isinstance(decoded, list):
        raise bad_request(f"{REQUIRED_INPUT_FORMAT}. Received a list.")
    if not isinstance(decoded, dict):
        raise bad_request(f"{REQUIRED_INPUT_FORMAT}. Received unexpected input type '{type(decoded)}'.")
    # Not checked here: like MLflow, params that are not an object are ignored by a model
    # without a params schema and refused by enforcement for a model with one.
    params = decoded.get(PARAMS_KEY)
    fields = set(decoded) - {PARAMS_KEY}
    if len(fields & SUPPORTED_FORMATS) != 1 or fields - SUPPORTED_FORMATS:
        raise TrackliteError(
            f"{REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: {sorted(decoded)}. "
            f"{SCORING_PROTOCOL_CHANGE_INFO}",
            error_code="BAD_REQUEST",
        )
    (field,) = fields
    value = decoded[field]
    if field == DF_SPLIT:
        data = _frame_from_split(value)
    elif field == DF_RECORDS:
        data = _frame_from_records(value)
    elif field == INSTANCES:
        data = _instances(value, schema)
        return ScoringRequest(data, params)
    else:
        return ScoringRequest(_cast_inputs(value, schema), params)
    return ScoringRequest(cast_frame(data, schema) if schema is not None else data, params)


def _frame_from_split(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, dict):
        kind = "list" if isinstance(value, list) else f"type {type(value)}"
        raise bad_request(f"Dataframe split format must be a dictionary. Got {kind}.")
    keys = set(value)
    if "data" not in keys or keys - {"columns", "data", "index"}:
        raise bad_request(
            f"Dataframe split format must have 'data' field and optionally 'columns' and 'index' fields. "
            f"Got {sorted(keys)}."
        )
    try:
        return pd.DataFrame(data=value["data"], columns=value.get("columns"), index=value.get("index"))
    except (ValueError, TypeError, AssertionError) as exc:
        raise bad_request(
            f"Provided dataframe_split field is not a valid dataframe representation in 'split' format. Error: '{exc}'"
        ) from None


def _frame_from_records(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, list):
        kind = "dictionary" if isinstance(value, dict) else f"type {type(value)}"
        raise bad_request(f"Dataframe records format must be a list of records. Got {kind}.")
    try:
        return pd.DataFrame(data=value)
    except (ValueError, TypeError) as exc:
        raise bad_request(
            f"Provided dataframe_records field is not a valid dataframe representation in 'records' format. "
            f"Error: '{exc}'"
        ) from None


def cast_frame(frame: Any, schema: Schema) -> Any:
    """``frame`` with its schema columns converted to the schema's types, as MLflow's scoring
    server parses JSON: numbers to the declared width, base64 to bytes, ISO strings to datetimes.

    Columns the schema does not name are left alone (enforcement drops them later).

    Raises:
        TrackliteError: ``BAD_REQUEST`` "Data is not compatible with model signature" naming
            the column that does not convert.
    """
    import pandas as pd

    if schema.has_input_names():
        pairs = [(spec.name, spec.type) for spec in schema.inputs]
    elif schema.is_tensor_spec() and len(schema.inputs) == 1:
        pairs = [(name, schema.inputs[0].type) for name in frame.columns]
    else:
        pairs = list(zip(frame.columns, [spec.type for spec in schema.inputs], strict=False))
    columns = set(frame.columns)
    converted = {}
    for name, kind in pairs:
        if name not in columns:
            continue
        values = frame[name]
        try:
            if kind == DataType.binary:
                converted[name] = values.map(_base64_bytes)
            elif kind == DataType.datetime:
                parsed = pd.to_datetime(values)
                converted[name] = parsed.dt.as_unit("ns") if hasattr(parsed, "dt") else parsed
            elif kind == DataType.string:
                continue  # strings stay as parsed (object or pandas' str dtype)
            elif isinstance(kind, DataType):
                target = kind.to_numpy()
                if values.dtype != target:
                    converted[name] = values.astype(target)
            elif (
                isinstance(kind, np.dtype)
                and values.dtype != kind
                and not (len(values) and isinstance(values.iloc[0], list))  # tensors per row: enforcement's job
            ):
                converted[name] = values.astype(kind)
        except (ValueError, TypeError, OverflowError) as exc:  # binascii.Error is a ValueError
            target_name = kind.to_numpy() if isinstance(kind, DataType) else kind
            raise bad_request(
                f"Data is not compatible with model signature. Failed to convert column {name} to type "
                f"'{target_name}'. Error: '{exc!r}'"
            ) from None
    if not converted:
        return frame
    frame = frame.copy(deep=False)
    for name, values in converted.items():
        frame[name] = values
    return frame


def _base64_bytes(value: Any) -> Any:
    if value is None or isinstance(value, bytes):
        return value
    return base64.b64decode(str(value), validate=False)


def _convert(value: Any, spec: Any) -> Any:
    """One input of an ``inputs``/``instances`` request as the spec's array (MLflow's
    ``convert_data_type``)."""
    if spec is None:
        return np.asarray(value)
    if isinstance(spec, TensorSpec):
        return np.asarray(value, dtype=spec.type)
    kind = spec.type
    if isinstance(kind, DataType):
        if kind == DataType.binary:
            decoded = [_base64_bytes(v) for v in value] if isinstance(value, list) else _base64_bytes(value)
            return np.asarray(decoded, dtype=object) if isinstance(value, list) else decoded
        target = kind.to_numpy() if kind != DataType.string else np.dtype(object)
        if isinstance(value, list):
            return np.asarray(value, dtype=target)
        return np.asarray([value], dtype=target)[0]
    if isinstance(kind, Array):
        return np.asarray(value)
    return value  # objects, maps and Any go to enforcement as sent


def _conversion_error(exc: Exception) -> TrackliteError:
    return bad_request(f"Ensure that the input is a valid JSON-formatted string.\nError: {exc!r}")


def _cast_inputs(value: Any, schema: Schema | None) -> Any:
    """The ``inputs`` field: a dict of named inputs, a list (one tensor or rows), or a scalar."""
    specs: dict[Any, Any] = schema.input_dict() if schema is not None and schema.has_input_names() else {}
    try:
        if schema is not None:
            if len(specs) == 1 and isinstance(value, list) and not any(isinstance(v, dict) for v in value):
                value = {next(iter(specs)): value}  # one named column given as a bare list
            elif not schema.has_input_names() and not (isinstance(value, list) or np.isscalar(value)):
                raise bad_request(
                    "Failed to parse input data. This model contains an un-named model signature which expects a "
                    f"single n-dimensional array or a single value as input, however, an input of type {type(value)} "
                    "was found."
                )
        if isinstance(value, dict):
            return {name: _convert(v, specs.get(name)) for name, v in value.items()}
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return [{name: _convert(v, specs.get(name)) for name, v in row.items()} for row in value]
        first = schema.inputs[0] if schema is not None and len(schema.inputs) else None
        return _convert(value, first)
    except TrackliteError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        raise _conversion_error(exc) from None


def _instances(value: Any, schema: Schema | None) -> Any:
    """The ``instances`` field: rows as a list of dicts (turned into columns) or one tensor."""
    if not (isinstance(value, list) and value and isinstance(value[0], dict)):
        return _cast_inputs(value, schema)
    specs: dict[Any, Any] = schema.input_dict() if schema is not None and schema.has_input_names() else {}
    columns: dict[Any, list[Any]] = {}
    try:
        for row in value:
            if not isinstance(row, dict):
                raise bad_request("Every item of 'instances' must be a JSON object when the first one is.")
            for name, v in row.items():
                columns.setdefault(name, []).append(v)
        data = {name: _convert(vals, specs.get(name)) for name, vals in columns.items()}
    except TrackliteError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        raise _conversion_error(exc) from None
    lengths = {len(v) for name, v in data.items() if not isinstance(getattr(specs.get(name), "type", None), Array)}
    if len(lengths) > 1:
        raise bad_request("The length of values for each input/column name are not the same")
    return data


def parse_csv(body: bytes, schema: Schema | None) -> Any:
    """A CSV body with a header row, read with the schema's column types.

    Raises:
        TrackliteError: ``BAD_REQUEST`` when the CSV does not parse or convert.
    """
    import pandas as pd

    dtypes = None
    if schema is not None and schema.has_input_names() and not schema.is_tensor_spec():
        dtypes = {
            spec.name: spec.type.to_pandas()
            for spec in schema.inputs
            if isinstance(spec.type, DataType) and spec.type not in (DataType.datetime, DataType.binary)
        }
    try:
        frame = pd.read_csv(io.BytesIO(body), dtype=dtypes)
    except (ValueError, TypeError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise bad_request(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas "
            f"DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: '{exc}'"
        ) from None
    return cast_frame(frame, schema) if schema is not None else frame


def parse_parquet(body: bytes, schema: Schema | None) -> Any:
    """A Parquet body as a DataFrame, cast to the schema like JSON.

    Raises:
        TrackliteError: ``BAD_REQUEST`` when it is not Parquet.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(pa.BufferReader(body)).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise bad_request(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid Parquet Pandas DataFrame "
            f"produced using the `pandas.DataFrame.to_parquet()` method. Error: '{exc}'"
        ) from None
    return cast_frame(frame, schema) if schema is not None else frame


def predict(model: Any, request: ScoringRequest) -> Any:
    """``model.predict`` on a parsed request, with MLflow's serving errors.

    Raises:
        TrackliteError: ``INVALID_PARAMETER_VALUE`` "Failed to predict data ..." when the input or
            params do not fit the signature; ``BAD_REQUEST`` for any other failure in the model
            (with the traceback in ``stack_trace``).
    """
    try:
        if request.params is not None and "params" in inspect.signature(model.predict).parameters:
            return model.predict(request.data, params=request.params)
        return model.predict(request.data)
    except TrackliteError as exc:
        raise TrackliteError(
            f"Failed to predict data '{_echo(repr(request.data))}'. \nError: {exc.message}", error_code=exc.error_code
        ) from None
    except Exception:  # noqa: BLE001 - any failure inside the model is the client's 400, as in MLflow
        raise TrackliteError(
            "Encountered an unexpected error while evaluating the model. Verify that the serialized input "
            "Dataframe is compatible with the model for inference.",
            error_code="BAD_REQUEST",
            stack_trace=traceback.format_exc(),
        ) from None


class _Encoder(json.JSONEncoder):
    """NumPy scalars and arrays, bytes (base64), datetimes (ISO), as MLflow's ``NumpyEncoder``."""

    def default(self, o: Any) -> Any:
        import pandas as pd

        if isinstance(o, np.ndarray):
            return o.tolist() if o.dtype != object else [self.default(v) if _needs(v) else v for v in o.tolist()]
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, (bytes, bytearray)):
            return base64.b64encode(o).decode("ascii")
        if isinstance(o, np.datetime64):
            return np.datetime_as_string(o)
        if isinstance(o, (pd.Timestamp, dt.date, dt.datetime, dt.time)):
            return o.isoformat()
        return super().default(o)


def _needs(value: Any) -> bool:
    return not isinstance(value, (str, int, float, bool, type(None), list, dict))


def jsonable(predictions: Any) -> Any:
    """Predictions as JSON-ready values: arrays as lists, frames (and series) as records."""
    import pandas as pd

    if isinstance(predictions, np.ndarray):
        return predictions.tolist() if predictions.dtype != object else predictions
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, pd.Series):
        return pd.DataFrame(predictions).to_dict(orient="records")
    return predictions


def predictions_response(predictions: Any) -> bytes:
    """The response body ``{"predictions": ...}``."""
    return json.dumps({"predictions": jsonable(predictions)}, cls=_Encoder).encode()
