"""Batch inference: a model over a file too large for memory, chunk by chunk.

``predict_file`` streams CSV, JSON lines or Parquet in chunks of at most ``chunk_rows``
rows, parses each chunk with the signature's types (as the scoring server parses a
request, so a file that scores over HTTP scores here), predicts and appends the
predictions to the output. Memory stays bounded by one chunk. The output is written to a
temporary file beside the target and renamed into place only when every chunk has
succeeded: a failed run leaves no half-written output.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from tracklite.errors import InvalidParameterValue, SchemaEnforcementError, TrackliteError
from tracklite.serving.scoring import cast_frame
from tracklite.types.schema import DataType, Schema

FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
DEFAULT_CHUNK_ROWS = 10_000


def predict_batches(model: Any, batches: Iterable[Any], params: dict[str, Any] | None = None) -> Iterator[Any]:
    """Predict each batch in turn: the model is loaded once, batches are read lazily.

    Args:
        model: A model URI (any ``load_model`` takes) or a loaded ``PyFuncModel``.
        batches: DataFrames (or anything ``predict`` takes; pyarrow tables and record batches
            are converted to DataFrames), consumed one at a time.
        params: Inference params for every batch.

    Returns:
        An iterator of each batch's predictions, in order, as ``predict`` returns them. The
        model is loaded now, so a wrong URI fails here rather than at the first batch.

    Raises:
        SchemaEnforcementError: for a batch that does not fit the signature (in-process rules).
    """
    from tracklite.pyfunc import load_model

    loaded = load_model(model) if isinstance(model, str) else model
    return _predict_each(loaded, batches, params)


def _predict_each(loaded: Any, batches: Iterable[Any], params: dict[str, Any] | None) -> Iterator[Any]:
    for batch in batches:
        # pyarrow tables and record batches become DataFrames, as predict expects
        frame = batch.to_pandas() if hasattr(batch, "to_pandas") and hasattr(batch, "schema") else batch
        yield loaded.predict(frame, params=params) if params else loaded.predict(frame)


def file_format(path: str, given: str | None = None) -> str:
    """The format of ``path``: ``given``, else from its extension.

    Raises:
        InvalidParameterValue: when neither says a format tracklite reads.
    """
    if given:
        if given not in FORMATS:
            raise InvalidParameterValue(f"Unknown format {given!r}: use one of {', '.join(FORMATS)}.")
        return given
    ext = os.path.splitext(path)[1].lower()
    if ext not in _EXTENSIONS:
        raise InvalidParameterValue(
            f"Cannot tell the format of {path!r} from its extension; name it .csv, .jsonl or .parquet, or pass "
            f"the format explicitly ({', '.join(FORMATS)})."
        )
    return _EXTENSIONS[ext]


class _CountingReader:
    """A binary file that counts the bytes read through it (for the progress bar)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.count = 0
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._raw.readline(size)
        self.count += len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self._raw.close()
        self.closed = True


def _arrow_type(kind: Any) -> Any:
    import pyarrow as pa

    return {
        DataType.boolean: pa.bool_(),
        DataType.integer: pa.int32(),
        DataType.long: pa.int64(),
        DataType.float: pa.float32(),
        DataType.double: pa.float64(),
        DataType.string: pa.string(),
        DataType.binary: pa.string(),  # base64 text, decoded by cast_frame
        DataType.datetime: pa.timestamp("ns"),
    }.get(kind)


def _csv_chunks(path: str, schema: Schema | None, counter: _CountingReader) -> Iterator[Any]:
    """Record batches of a CSV file, schema columns read with the schema's types and every
    other column as text (so a later block cannot disagree with the first one's inference)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, "rb") as fh:
        try:
            names = pacsv.open_csv(fh).schema.names  # reads only the first block
        except pa.ArrowInvalid as exc:
            raise TrackliteError(f"{path} is not a CSV file with a header row: {exc}") from None
    types: dict[str, Any] = {name: pa.string() for name in names}
    if schema is not None and not schema.is_tensor_spec():
        positional = not schema.has_input_names()
        for i, spec in enumerate(schema.inputs):
            name = names[i] if positional and i < len(names) else spec.name
            if name in types and (arrow := _arrow_type(spec.type)) is not None:
                types[name] = arrow
    reader = pacsv.open_csv(
        counter,
        read_options=pacsv.ReadOptions(block_size=4 << 20),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )
    yield from reader


def _jsonl_chunks(counter: _CountingReader, chunk_rows: int) -> Iterator[Any]:
    """DataFrames of a JSON lines file, ``chunk_rows`` lines at a time."""
    import pandas as pd

    lines: list[Any] = []
    for number, line in enumerate(counter, start=1):
        if not line.strip():
            continue
        try:
            lines.append(json.loads(line))
        except ValueError as exc:
            raise TrackliteError(f"Line {number} is not valid JSON: {exc}") from None
        if len(lines) == chunk_rows:
            yield pd.DataFrame.from_records(lines)
            lines = []
    if lines:
        yield pd.DataFrame.from_records(lines)


def _slices(batch: Any, chunk_rows: int) -> Iterator[Any]:
    for start in range(0, batch.num_rows, chunk_rows):
        yield batch.slice(start, chunk_rows)


def read_chunks(
    path: str, fmt: str, schema: Schema | None, chunk_rows: int, on_bytes: Callable[[int], None] | None = None
) -> Iterator[Any]:
    """DataFrames of at most ``chunk_rows`` rows from ``path``, cast to ``schema``'s types.

    Raises:
        TrackliteError: naming the file and the problem when a chunk does not parse.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    def arrow_frames(batches: Iterable[Any]) -> Iterator[Any]:
        for batch in batches:
            for piece in _slices(batch, chunk_rows):
                yield piece.to_pandas()

    if fmt == "parquet":
        frames = arrow_frames(pq.ParquetFile(path).iter_batches(batch_size=chunk_rows))
        counter = None
    else:
        counter = _CountingReader(open(path, "rb"))  # noqa: SIM115 - closed in finally below
        frames = (
            arrow_frames(_csv_chunks(path, schema, counter)) if fmt == "csv" else _jsonl_chunks(counter, chunk_rows)
        )
    seen = 0
    try:
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except (pa.ArrowException, ValueError) as exc:
                raise TrackliteError(f"{path}: cannot read the rows after row {seen}: {exc}") from None
            if counter is not None and on_bytes is not None:
                on_bytes(counter.count)
            seen += len(frame)
            yield cast_frame(frame, schema) if schema is not None else frame
    finally:
        if counter is not None:
            counter.close()


def predictions_table(predictions: Any, rows: int) -> Any:
    """Predictions as a pyarrow table: a 1-D result as column ``prediction``, a 2-D array as
    ``prediction_0``, ``prediction_1``...; a DataFrame or dict keeps its column names.

    Raises:
        TrackliteError: when the model returned a different number of rows than it was given.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if isinstance(predictions, pd.DataFrame):
        frame = predictions.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
    elif isinstance(predictions, pd.Series):
        frame = pd.DataFrame(
            {str(predictions.name) if predictions.name is not None else "prediction": predictions.to_numpy()}
        )
    elif isinstance(predictions, dict):
        frame = pd.DataFrame(
            {str(k): list(np.asarray(v)) if np.asarray(v).ndim > 1 else np.asarray(v) for k, v in predictions.items()}
        )
    else:
        array = np.asarray(predictions)
        if array.ndim == 2:
            frame = pd.DataFrame({f"prediction_{i}": array[:, i] for i in range(array.shape[1])})
        elif array.ndim == 1:
            frame = pd.DataFrame({"prediction": array})
        else:
            frame = pd.DataFrame({"prediction": list(array)})
    if len(frame) != rows:
        raise TrackliteError(f"The model returned {len(frame)} predictions for {rows} input rows; cannot line them up.")
    return pa.Table.from_pandas(frame, preserve_index=False)


def _null_nans(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Rows with NaN floats as None (JSON has no NaN; null is what readers expect)."""
    for row in rows:
        yield {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def _json_value(value: Any) -> Any:
    import base64
    import datetime as dt

    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


class _Writer:
    """Appends tables to one output file in ``fmt``; the first table fixes the columns."""

    def __init__(self, path: str, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self._schema: Any = None
        self._writer: Any = None
        self._fh: Any = None

    def write(self, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        if self._schema is None:
            self._schema = table.schema
            if self.fmt == "parquet":
                self._writer = pq.ParquetWriter(self.path, self._schema)
            elif self.fmt == "csv":
                self._writer = pacsv.CSVWriter(self.path, self._schema)
            else:
                self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        elif table.schema != self._schema:
            if table.column_names != self._schema.names:
                raise TrackliteError(
                    f"The model's output columns changed between chunks: {self._schema.names}, "
                    f"then {table.column_names}."
                )
            try:
                table = table.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise TrackliteError(
                    f"The model's output types changed between chunks and do not convert: {exc}"
                ) from None
        if self._fh is not None:
            # json, not pandas' to_json: that rounds floats to 10 decimals; these round-trip exactly.
            self._fh.writelines(json.dumps(row, default=_json_value) + "\n" for row in _null_nans(table.to_pylist()))
        else:
            self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._fh is not None:
            self._fh.close()
        if self._schema is None:
            open(self.path, "w").close()  # no rows in: an empty output, not a missing one


def predict_file(
    model: Any,
    input_path: str,
    output_path: str,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    params: dict[str, Any] | None = None,
    include_input: bool = False,
    progress: bool = False,
) -> int:
    """Predict every row of ``input_path`` into ``output_path``, streaming in chunks.

    Args:
        model: A model URI or a loaded ``PyFuncModel``.
        input_path: A CSV (with header), JSON lines or Parquet file.
        output_path: Where the predictions go (CSV, JSON lines or Parquet); replaced only on success.
        input_format: ``csv``, ``jsonl`` or ``parquet``; default from the extension.
        output_format: As ``input_format``, for the output.
        chunk_rows: Rows per ``predict`` call (bounds memory).
        params: Inference params for every chunk.
        include_input: Write the input columns before the prediction columns.
        progress: Show a progress bar on stderr.

    Returns:
        The number of rows predicted.

    Raises:
        InvalidParameterValue: for an unknown format or a bad ``chunk_rows``.
        TrackliteError: naming the chunk's rows when a chunk does not parse or fit the signature.
    """
    import pyarrow as pa

    from tracklite.pyfunc import load_model

    if chunk_rows < 1:
        raise InvalidParameterValue(f"chunk_rows must be at least 1, got {chunk_rows}.")
    if not os.path.isfile(input_path):
        raise InvalidParameterValue(f"Input file {input_path!r} does not exist.")
    in_fmt = file_format(input_path, input_format)
    out_fmt = file_format(output_path, output_format)
    loaded = load_model(model) if isinstance(model, str) else model
    schema = loaded.metadata.get_input_schema()
    directory = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(directory, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{os.path.basename(output_path)}.", suffix=".partial", dir=directory)
    os.close(fd)
    writer = _Writer(partial, out_fmt)
    bar = _Bar(progress, input_path, in_fmt)
    rows = 0
    try:
        with bar:
            for frame in read_chunks(input_path, in_fmt, schema, chunk_rows, bar.bytes_read):
                where = f"Rows {rows + 1}-{rows + len(frame)} of {input_path}"
                try:
                    predictions = loaded.predict(frame, params=params) if params else loaded.predict(frame)
                except SchemaEnforcementError as exc:  # the reason alone: a chunk's repr is no help here
                    raise SchemaEnforcementError(
                        f"{where} do not fit the model signature {schema}: {exc.reason}"
                    ) from None
                except TrackliteError as exc:
                    raise type(exc)(f"{where}: {exc.message}", error_code=exc.error_code) from None
                except Exception as exc:
                    raise TrackliteError(f"{where}: the model failed: {exc!r}") from exc
                table = predictions_table(predictions, len(frame))
                if include_input:
                    inputs = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
                    clash = set(inputs.column_names) & set(table.column_names)
                    if clash:
                        raise TrackliteError(
                            f"Output columns {sorted(clash)} are both input and prediction columns; rename the input "
                            "columns or leave out include_input."
                        )
                    for name, column in zip(table.column_names, table.columns, strict=True):
                        inputs = inputs.append_column(name, column)
                    table = inputs
                writer.write(table)
                rows += len(frame)
                bar.rows_done(len(frame))
        writer.close()
        os.replace(partial, output_path)
    except BaseException:
        writer.close()
        os.unlink(partial)
        raise
    return rows


class _Bar:
    """A rich progress bar over a file: by rows when the total is known (Parquet), by bytes
    read otherwise; a no-op when not enabled."""

    def __init__(self, enabled: bool, path: str, fmt: str) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._by_rows = fmt == "parquet"
        self._rows = 0
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if self._by_rows:
            import pyarrow.parquet as pq

            total = pq.ParquetFile(path).metadata.num_rows
        else:
            total = os.path.getsize(path)
        self._bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._task = self._bar.add_task(f"predicting {os.path.basename(path)}", total=total, rows=0)

    def __enter__(self) -> _Bar:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()

    def bytes_read(self, count: int) -> None:
        if self._bar is not None and not self._by_rows:
            self._bar.update(self._task, completed=count)

    def rows_done(self, count: int) -> None:
        self._rows += count
        if self._bar is not None:
            self._bar.update(self._task, rows=self._rows, **({"advance": count} if self._by_rows else {}))
