"""``tracklite models serve`` and ``tracklite models predict``: a model over HTTP or over a file."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from tracklite.cli_registry import errors_as_messages, models
from tracklite.cli_shared import STORE_OPTION

MODEL_OPTION = click.option(
    "--model-uri",
    "-m",
    "model_uri",
    required=True,
    help="A model directory, runs:/RUN_ID/NAME, models:/NAME/VERSION, models:/NAME/STAGE or models:/NAME@ALIAS.",
)

# Accepted so MLflow's command lines work unchanged; tracklite always runs in the current environment.
ENV_MANAGER_OPTION = click.option(
    "--env-manager",
    type=click.Choice(["local"]),
    default="local",
    help="Accepted for MLflow's command line; tracklite runs in the current environment.",
)


def _use_store(store: str | None) -> None:
    """Resolve models:/ and runs:/ URIs against ``store`` (here and in worker processes)."""
    if store:
        from tracklite import set_tracking_uri

        set_tracking_uri(store)
        os.environ["TRACKLITE_TRACKING_URI"] = store


@models.command("serve")
@MODEL_OPTION
@STORE_OPTION
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0: all).")
@click.option("--port", "-p", default=5001, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option(
    "--timeout",
    "-t",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Seconds per request before a 504.",
)
@click.option(
    "--reload-on-alias-change",
    is_flag=True,
    help="Follow a models:/NAME@ALIAS (or /STAGE, /latest) URI: serve the new version when it moves, no restart.",
)
@click.option(
    "--poll-interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.05),
    help="Seconds between registry checks.",
)
@ENV_MANAGER_OPTION
@click.option("--log-level", default="warning", show_default=True, help="uvicorn log level (info shows requests).")
@errors_as_messages
def serve_command(
    model_uri: str,
    store: str | None,
    host: str,
    port: int,
    workers: int,
    timeout: float,
    reload_on_alias_change: bool,
    poll_interval: float,
    env_manager: str,
    log_level: str,
) -> None:
    """Serve a model with MLflow's scoring protocol: POST /invocations, GET /ping, /health, /version.

    /invocations takes JSON ({"dataframe_split": ...}, {"dataframe_records": ...},
    {"instances": ...} or {"inputs": ...}, with optional "params"), CSV or Parquet, and
    answers {"predictions": ...}. Aliases and stages are resolved at start.
    """
    del env_manager
    try:
        from tracklite.serving import serve
    except ImportError as exc:  # starlette / uvicorn are the server extra
        raise click.ClickException(
            f"Serving needs the server extra: pip install 'tracklite[server]' ({exc})."
        ) from None
    _use_store(store)
    click.echo(f"tracklite: serving {model_uri} on http://{host}:{port}/invocations", err=True)
    serve(
        model_uri,
        host=host,
        port=port,
        workers=workers,
        timeout=timeout,
        reload_on_alias_change=reload_on_alias_change,
        poll_interval=poll_interval,
        log_level=log_level,
    )


@models.command("predict")
@MODEL_OPTION
@STORE_OPTION
@click.option(
    "--input-path",
    "-i",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV, JSON lines or Parquet file.",
)
@click.option(
    "--output-path", "-o", "output_path", required=True, type=click.Path(dir_okay=False), help="Where predictions go."
)
@click.option(
    "--input-format", type=click.Choice(["csv", "jsonl", "parquet"]), default=None, help="Default: from the extension."
)
@click.option(
    "--output-format", type=click.Choice(["csv", "jsonl", "parquet"]), default=None, help="Default: from the extension."
)
@click.option(
    "--chunk-rows", default=10_000, show_default=True, type=click.IntRange(min=1), help="Rows per predict call."
)
@click.option("--params", "params_json", default=None, help="Inference params as a JSON object, e.g. '{\"k\": 3}'.")
@click.option("--include-input", is_flag=True, help="Write the input columns before the predictions.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@ENV_MANAGER_OPTION
@errors_as_messages
def predict_command(
    model_uri: str,
    store: str | None,
    input_path: str,
    output_path: str,
    input_format: str | None,
    output_format: str | None,
    chunk_rows: int,
    params_json: str | None,
    include_input: bool,
    no_progress: bool,
    env_manager: str,
) -> None:
    """Predict every row of a file into another, streaming in chunks with bounded memory.

    The input is parsed with the model signature's types (as the scoring server parses
    requests) and checked against it; the output is replaced only when every row succeeded.
    """
    from tracklite.serving.batch import predict_file

    del env_manager
    params: dict[str, Any] | None = None
    if params_json is not None:
        try:
            params = json.loads(params_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--params") from None
        if not isinstance(params, dict):
            raise click.BadParameter("must be a JSON object of parameter names to values", param_hint="--params")
    _use_store(store)
    rows = predict_file(
        model_uri,
        input_path,
        output_path,
        input_format=input_format,
        output_format=output_format,
        chunk_rows=chunk_rows,
        params=params,
        include_input=include_input,
        progress=not no_progress,
    )
    click.echo(f"{rows:,} rows predicted into {output_path}")
