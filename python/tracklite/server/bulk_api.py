"""tracklite's own bulk endpoint: metric points as columns, applied exactly once.

tracklite's REST client (``store/rest_metrics.py``) buffers a run's points in a local spool
file (a Rust metric log) and sends the unsent part as columns: little-endian ``uint32`` key
indexes, ``int64`` steps and timestamps and ``float64`` values, base64-encoded (NaN and the
infinities bit-exact; about 30x less work than MLflow's one JSON object per point). Each
batch names the spool file and the byte range ``[start_offset, end_offset)`` it covers; the
server keeps the end offset applied so far for each spool in ``log_progress`` (under
``remote:<spool>``, in the same transaction as the points), so a batch sent again after a lost
answer is not applied twice, and a batch that does not continue where the last one ended is
refused with the offset to resume from.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from tracklite.errors import InvalidParameterValue
from tracklite.server.app import ServerContext
from tracklite.server.endpoints import INTEGER, STRING, STRINGS, endpoint

#: ``log_progress.log_name`` prefix of remote spools (local logs are bare file names).
PROGRESS_PREFIX = "remote:"


def _column(args: dict[str, Any], name: str, dtype: str, count: int) -> Any:
    import numpy as np

    try:
        raw = base64.b64decode(args.get(name, ""), validate=True)
    except ValueError:
        raise InvalidParameterValue(f"'{name}' must be base64 of little-endian {dtype} values.") from None
    width = np.dtype(dtype).itemsize
    if len(raw) != count * width:
        raise InvalidParameterValue(f"'{name}' holds {len(raw) // width} values, expected {count} (one per point).")
    return np.frombuffer(raw, dtype="<" + dtype[0] + str(width)).astype(dtype)


@endpoint(
    "runs/log-metrics-columnar",
    "POST",
    fields={
        "run_id": STRING,
        "spool": STRING,
        "start_offset": INTEGER,
        "end_offset": INTEGER,
        "count": INTEGER,
        "keys": STRINGS,
        "key_index": STRING,
        "steps": STRING,
        "timestamps": STRING,
        "values": STRING,
    },
    required=("run_id", "spool", "end_offset"),
    need="EDIT",
    resource="run",
    prefix="tracklite",
    summary="Log a run's metric points as base64 columns, exactly once per spool byte range.",
    # One spool record is sent whole (its byte range is the unit of exactly-once), and a
    # log_metric_series record can hold millions of points: about 37 bytes each here.
    max_body=1024 * 1024 * 1024,
)
def log_metrics_columnar(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Apply one batch of a client's spool; answers ``{"applied_offset", "accepted", "count"}``.

    ``accepted`` is False (nothing applied) when the batch was applied before
    (``end_offset <= applied_offset``) or does not start at ``applied_offset``; the client
    then continues from ``applied_offset``.
    """
    import numpy as np

    from tracklite import _core
    from tracklite.store.metric_sink import _insert_points, _key_ids, _points_table

    run_id, spool = args["run_id"], args["spool"]
    start, end = int(args.get("start_offset", 0)), int(args["end_offset"])
    if not spool or "/" in spool or len(spool) > 200:
        raise InvalidParameterValue(f"Invalid spool name {spool!r}: a file name of at most 200 characters.")
    if start < 0 or end < start or end >= 2**62:
        raise InvalidParameterValue(f"Invalid offsets [{start}, {end}): need 0 <= start_offset <= end_offset.")
    count = int(args.get("count", 0))
    keys = list(args.get("keys", []))
    for key in keys:
        _core.validate_metric_key(key)
    key_index = _column(args, "key_index", "uint32", count)
    steps = _column(args, "steps", "int64", count)
    timestamps = _column(args, "timestamps", "int64", count)
    values = _column(args, "values", "float64", count)
    if count and (len(keys) == 0 or int(key_index.max()) >= len(keys)):
        raise InvalidParameterValue("'key_index' refers past the end of 'keys'.")
    if count and int(timestamps.min()) < 0:
        raise InvalidParameterValue("Metric timestamps must be nonnegative epoch milliseconds.")
    run = ctx.client.get_run(run_id)  # raises for an unknown run
    if run.info.lifecycle_stage != "active":
        raise InvalidParameterValue(f"The run {run_id} must be in the 'active' state to log metrics; restore it.")
    name = PROGRESS_PREFIX + spool
    with ctx.store.connector.transaction() as con:
        row = con.execute("SELECT applied_offset FROM log_progress WHERE log_name = ?", [name]).fetchone()
        applied = int(row[0]) if row else 0
        if end <= applied or start != applied:
            return {"applied_offset": applied, "accepted": False, "count": 0}
        if count:
            run_key = con.execute("SELECT run_key FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
            key_ids = _key_ids(con, keys)
            table = _points_table(
                {
                    "run_key": np.full(count, run_key, dtype=np.int32),
                    "key_id": key_ids[key_index],
                    "step": steps,
                    "timestamp": timestamps,
                    "value": values,
                }
            )
            _insert_points(con, table)
        con.execute("DELETE FROM log_progress WHERE log_name = ?", [name])
        con.execute(
            "INSERT INTO log_progress (log_name, applied_offset, updated_time) VALUES (?, ?, ?)",
            [name, end, int(time.time() * 1000)],
        )
    return {"applied_offset": end, "accepted": True, "count": count}


@endpoint(
    "runs/log-metrics-columnar/progress",
    "GET",
    fields={"run_id": STRING, "spool": STRING},
    required=("run_id", "spool"),
    resource="run",
    prefix="tracklite",
    summary="The spool byte offset applied so far (0 if none).",
)
def columnar_progress(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """How far a client's spool has been applied: ``{"applied_offset"}``."""
    ctx.client.get_run(args["run_id"])
    with ctx.store.connector.connect() as con:
        row = con.execute(
            "SELECT applied_offset FROM log_progress WHERE log_name = ?", [PROGRESS_PREFIX + args["spool"]]
        ).fetchone()
    return {"applied_offset": int(row[0]) if row else 0}
