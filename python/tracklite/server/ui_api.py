"""tracklite's own JSON endpoints for the web UI (``/api/2.0/tracklite/...``).

The UI reads and writes everything else through MLflow's REST API; these endpoints give it
what MLflow's API has no call for:

- ``GET metrics/series``: one metric of several runs, downsampled on the server (MinMaxLTTB
  in the Rust core), so a chart of a million-point series moves a few thousand points;
- ``POST sql``: a read-only SQL query over the store's documented views;
- ``GET whoami``: the signed-in user and whether ``--auth`` is on;
- ``GET experiments/keys``: the param, metric and tag keys used in an experiment (the runs
  table's column chooser);
- ``GET logged-models/{model_id}/mlmodel``: a logged model's ``MLmodel`` file as JSON, with
  its signature decoded.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import json
import math
import re
from typing import Any

from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist
from tracklite.server.app import ServerContext
from tracklite.server.endpoints import INTEGER, STRING, STRINGS, endpoint

#: Points per series when the request does not say.
DEFAULT_MAX_POINTS = 1500
#: Most points per series a request may ask for.
MAX_MAX_POINTS = 10_000
#: Most runs in one series request.
MAX_SERIES_RUNS = 100
#: Rows a SQL request returns when it does not say, and the most it may ask for.
DEFAULT_SQL_ROWS = 1000
MAX_SQL_ROWS = 10_000


def _finite_or_none(values: list[Any]) -> list[Any]:
    return [v if not isinstance(v, float) or math.isfinite(v) else None for v in values]


@endpoint(
    "metrics/series",
    "GET",
    fields={"run_ids": STRINGS, "key": STRING, "x": STRING, "max_points": INTEGER},
    required=("run_ids", "key"),
    resource="run",
    prefix="tracklite",
)
def metric_series(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """One metric of several runs, each series downsampled to at most ``max_points`` points.

    ``x`` is ``step`` (default) or ``time`` (epoch milliseconds). Each series comes back as
    ``{"run_id", "key", "x", "y", "points"}`` where ``points`` is the full series' length;
    NaN and the infinities are ``null`` in ``y``.
    """
    import numpy as np

    from tracklite.series import downsample

    x_kind = args.get("x", "step")
    if x_kind not in ("step", "time"):
        raise InvalidParameterValue(f"Invalid value '{x_kind}' for parameter 'x': use 'step' or 'time'.")
    max_points = args.get("max_points", DEFAULT_MAX_POINTS)
    if not 2 <= max_points <= MAX_MAX_POINTS:
        raise InvalidParameterValue(
            f"Invalid value {max_points} for parameter 'max_points': use a number from 2 to {MAX_MAX_POINTS}."
        )
    run_ids = list(dict.fromkeys(args["run_ids"]))
    if len(run_ids) > MAX_SERIES_RUNS:
        raise InvalidParameterValue(
            f"Too many runs ({len(run_ids)}) in one series request; ask for at most {MAX_SERIES_RUNS}."
        )
    key = args["key"]
    series = []
    for run_id in run_ids:
        table = ctx.store.get_metric_arrays(run_id, key)
        total = table.num_rows
        xs = table.column("step" if x_kind == "step" else "timestamp").to_numpy()
        ys = table.column("value").to_numpy()
        if total > max_points:
            xs, ys = downsample(xs, ys, max_points)
        series.append(
            {
                "run_id": run_id,
                "key": key,
                "x": np.asarray(xs).tolist(),
                "y": _finite_or_none(np.asarray(ys, dtype=np.float64).tolist()),
                "points": total,
            }
        )
    return {"series": series}


def _json_value(value: Any) -> Any:
    """A SQL result value as JSON: non-finite floats become null, other scalars text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return str(value)


#: Table functions a server-side query may call: generators and DuckDB's catalog listings.
#: Everything else (``read_csv``, ``read_text``, ``glob``, ``query_table``, extensions' scans)
#: could read the server's files or the network, so it is refused.
_SAFE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "json_each", "json_tree"})
_SAFE_TABLE_FUNCTION_PREFIXES = ("duckdb_", "pragma_")
#: Tables never shown over HTTP (password hashes).
_HIDDEN_TABLES = frozenset({"users"})
_USERS_REFUSAL = (
    "SQL through the server does not read the users table (it holds password hashes); "
    "list users with `tracklite users list` on the machine that holds the store file."
)
_PIVOT_SOURCE = re.compile(r'\s*(UN)?PIVOT\s+((?:"[^"]+"|[A-Za-z_]\w*)(?:\.(?:"[^"]+"|[A-Za-z_]\w*))?)\s', re.I)
_FILE_FUNCTION = re.compile(r"\b(read_\w+|glob|sniff_csv|parquet_\w+|query|query_table|\w+_scan)\s*\(", re.I)
_EXPLAIN_PREFIX = re.compile(r"\s*EXPLAIN(\s+ANALY[SZ]E)?\s+", re.I)


def _refuse_outside_access(query: str) -> None:
    """Refuse SQL that would read anything but the store: files or URLs through table
    functions or replacement scans (``FROM 'x.csv'``), and the ``users`` table.

    ``tracklite.sql`` allows those reads (the caller owns the machine); over HTTP they would
    let any client read the server's files.
    """
    import duckdb

    from tracklite.query import split_statements

    refusal = (
        "SQL through the server reads only the store's tables and views; it refused {what}. "
        "Query files on the machine that holds them (tracklite.sql in Python)."
    )
    con = duckdb.connect()
    try:
        for statement in split_statements(query):
            text = statement.query
            if statement.type == duckdb.StatementType.EXPLAIN:
                text = _EXPLAIN_PREFIX.sub("", text, count=1)
            elif statement.type == duckdb.StatementType.MULTI:  # PIVOT / UNPIVOT
                match = _PIVOT_SOURCE.match(text)
                if match is None:
                    raise InvalidParameterValue(
                        "PIVOT through the server takes a table or view name as its source, "
                        "e.g. PIVOT params ON key USING first(value)."
                    )
                if match.group(2).strip('"').rsplit(".", 1)[-1].strip('"').lower() in _HIDDEN_TABLES:
                    raise InvalidParameterValue(_USERS_REFUSAL)
                if _FILE_FUNCTION.search(text):
                    raise InvalidParameterValue(refusal.format(what="a file-reading function"))
                continue
            elif statement.type != duckdb.StatementType.SELECT:
                continue  # PRAGMA and CALL: tracklite.sql lets only reporting ones through
            try:
                row = con.execute("SELECT json_serialize_sql(?)", [text]).fetchone()
            except duckdb.Error as e:
                raise InvalidParameterValue(f"invalid SQL: {e}") from None
            tree = json.loads(row[0]) if row else {}
            if tree.get("error"):
                raise InvalidParameterValue(f"invalid SQL: {tree.get('error_message')}")
            _check_tree(tree, refusal)
    finally:
        con.close()


def _check_tree(node: Any, refusal: str) -> None:
    if isinstance(node, list):
        for item in node:
            _check_tree(item, refusal)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "TABLE_FUNCTION":
        name = str((node.get("function") or {}).get("function_name", "")).lower()
        if name not in _SAFE_TABLE_FUNCTIONS and not name.startswith(_SAFE_TABLE_FUNCTION_PREFIXES):
            raise InvalidParameterValue(refusal.format(what=f"the table function {name}()"))
    elif kind == "BASE_TABLE":
        name = str(node.get("table_name", ""))
        if any(c in name for c in "/\\:."):
            raise InvalidParameterValue(refusal.format(what=f"reading {name!r}"))
        if name.lower() in _HIDDEN_TABLES:
            raise InvalidParameterValue(_USERS_REFUSAL)
    for value in node.values():
        _check_tree(value, refusal)


@endpoint(
    "sql",
    "POST",
    fields={"query": STRING, "max_rows": INTEGER},
    required=("query",),
    # The views cover every experiment, so with --auth only admins may query them.
    need="ADMIN",
    prefix="tracklite",
)
def run_sql(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Run a read-only SQL query over the store's documented views (``tracklite.sql``'s rules).

    Returns ``{"columns", "types", "rows", "truncated"}``: at most ``max_rows`` rows (default
    1000, at most 10,000). A statement that would change the store, read a file or URL, or
    read the ``users`` table is refused with a 400.
    """
    max_rows = args.get("max_rows", DEFAULT_SQL_ROWS)
    if not 1 <= max_rows <= MAX_SQL_ROWS:
        raise InvalidParameterValue(
            f"Invalid value {max_rows} for parameter 'max_rows': use a number from 1 to {MAX_SQL_ROWS}."
        )
    from tracklite.query import parse_statements

    try:
        parse_statements(args["query"], allow_writes=False)
    except InvalidParameterValue as e:
        message = str(e)
        if "read-only" in message and "refused" in message:
            # tracklite.sql's advice (allow_writes=True) does not apply over HTTP.
            refused = message.split(". To change the store", 1)[0].replace("tracklite.sql is read-only by default", "")
            raise InvalidParameterValue(
                f"SQL through the server is read-only and{refused.removeprefix(' and')}. Change the store through "
                "the API, or with `tracklite sql --allow-writes` on the machine that holds the store file."
            ) from None
        raise
    _refuse_outside_access(args["query"])
    table = ctx.store.sql(args["query"], allow_writes=False)
    shown = table.slice(0, max_rows)
    columns = [shown.column(i).to_pylist() for i in range(shown.num_columns)]
    rows = [[_json_value(col[r]) for col in columns] for r in range(shown.num_rows)]
    return {
        "columns": list(table.column_names),
        "types": [str(f.type) for f in table.schema],
        "rows": rows,
        "truncated": table.num_rows > max_rows,
    }


@endpoint("whoami", "GET", need="USER", prefix="tracklite")
def whoami(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """The signed-in user (null when ``--auth`` is off) and whether ``--auth`` is on."""
    from tracklite.users import acting_user

    return {"user": acting_user.get(), "auth": ctx.authorizer is not None}


@endpoint(
    "experiments/keys",
    "GET",
    fields={"experiment_id": STRING},
    required=("experiment_id",),
    resource="experiment",
    prefix="tracklite",
)
def experiment_keys(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """The param, metric and tag keys of the experiment's active runs, sorted."""
    experiment_id = args["experiment_id"]
    ctx.store.get_experiment(experiment_id)  # raises for an unknown experiment
    out: dict[str, Any] = {}
    for name, view in (("params", "params"), ("metrics", "latest_metrics"), ("tags", "tags")):
        table = ctx.store.sql(
            f"SELECT DISTINCT v.key FROM views.{view} v JOIN views.runs r USING (run_id) "
            "WHERE r.experiment_id = ? AND r.lifecycle_stage = 'active' ORDER BY 1",
            [experiment_id],
        )
        out[name] = table.column(0).to_pylist()
    return out


@endpoint("logged-models/{model_id}/mlmodel", "GET", resource="logged_model", prefix="tracklite")
def logged_model_mlmodel(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """A logged model's ``MLmodel`` file as JSON, with its signature's JSON strings decoded.

    Returns ``{"model_id", "mlmodel", "signature": {"inputs", "outputs", "params"} | null}``.
    """
    import yaml

    from tracklite.server.artifacts_api import artifact_target

    model = ctx.store.get_logged_model(args["model_id"])
    location = model.artifact_location.split(":/", 1)[-1] if ":/" in model.artifact_location else ""
    target = artifact_target(location)
    if not target.root or ctx.store.artifact_size_at(target.root, "MLmodel") is None:
        raise ResourceDoesNotExist(f"Logged model '{model.model_id}' has no MLmodel file.")
    text = b"".join(ctx.store.iter_artifact_at(target.root, "MLmodel")).decode("utf-8", "replace")
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidParameterValue(f"The MLmodel file of logged model '{model.model_id}' is not YAML: {e}") from e
    mlmodel = _json_value(parsed if isinstance(parsed, dict) else {})
    signature = None
    raw = mlmodel.get("signature")
    if isinstance(raw, dict):
        signature = {}
        for part in ("inputs", "outputs", "params"):
            value = raw.get(part)
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            signature[part] = value
    return {"model_id": model.model_id, "mlmodel": mlmodel, "signature": signature}
