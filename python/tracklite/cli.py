"""The ``tracklite`` command: demo, runs, experiments, models, export, import, sql, gc, doctor."""

from __future__ import annotations

import json
from typing import Any

import click

from tracklite.cli_shared import STORE_OPTION, client_for, fmt_time
from tracklite.tracking._uri import get_tracking_uri


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tracklite")
def main() -> None:
    """tracklite: an embedded, single-file ML lifecycle store with MLflow's API."""


@main.command()
@click.option("--store", "store", default="mlruns.duckdb", show_default=True, help="Store file to log the demo into.")
@click.option("--runs", "n_runs", default=3, show_default=True, help="How many training runs to log.")
def demo(store: str, n_runs: int) -> None:
    """Log a few real scikit-learn training runs, then query them."""
    from tracklite.demo import run_demo

    run_demo(store, n_runs=n_runs)


@main.group()
def runs() -> None:
    """List, show and reap runs."""


_RUN_ATTRIBUTES = (
    "run_id",
    "run_name",
    "experiment_id",
    "experiment",
    "status",
    "user_id",
    "start_time",
    "end_time",
    "lifecycle_stage",
    "artifact_uri",
    "started",
    "metrics",
)
_DEFAULT_COLUMNS = "run_id,run_name,experiment,status,started,metrics"


def _parse_columns(text: str) -> list[str]:
    """Split ``--columns`` on commas outside back-quotes; check each name."""
    import re

    columns = []
    for raw in re.findall(r"(?:[^,`]|`[^`]*`)+", text):
        name = raw.strip()
        prefix, _, key = name.partition(".")
        if prefix in ("metrics", "params", "tags") and key:
            columns.append(f"{prefix}.{key.strip('`')}")
        elif name in _RUN_ATTRIBUTES:
            columns.append(name)
        elif name:
            raise click.BadParameter(
                f"unknown column '{name}'; use {', '.join(_RUN_ATTRIBUTES)}, or metrics.<key>, params.<key>, "
                "tags.<key> (back-quote keys with commas: params.`a,b`)",
                param_hint="--columns",
            )
    if not columns:
        raise click.BadParameter("no columns given", param_hint="--columns")
    return columns


def _run_cell(run: Any, column: str, experiment_names: dict[str, str]) -> Any:
    info, data = run.info, run.data
    prefix, _, key = column.partition(".")
    if column == "metrics":
        return ", ".join(f"{k}={v:.4g}" for k, v in sorted(data.metrics.items())[:4])
    if prefix == "metrics" and key:
        value = data.metrics.get(key)
        return "" if value is None else f"{value:.6g}"
    if prefix == "params" and key:
        return data.params.get(key, "")
    if prefix == "tags" and key:
        return data.tags.get(key, "")
    if column == "experiment":
        return experiment_names.get(info.experiment_id, info.experiment_id)
    if column == "started":
        return fmt_time(info.start_time)
    if column in ("start_time", "end_time"):
        return fmt_time(getattr(info, column))
    return getattr(info, column)


@runs.command("list")
@STORE_OPTION
@click.option("--experiment", "-e", "experiment", default=None, help="Experiment name or id (default: all).")
@click.option("--all", "show_all", is_flag=True, help="Include deleted runs.")
@click.option("--limit", default=50, show_default=True, help="At most this many runs.")
@click.option(
    "--filter",
    "filter_string",
    default="",
    help="""MLflow search filter, e.g. "metrics.loss < 0.5 AND params.lr = '0.01'" (docs/search.md).""",
)
@click.option(
    "--order-by",
    "order_by",
    multiple=True,
    help="Sort key such as 'metrics.loss ASC' or 'start_time DESC'; repeat for ties (default: newest first).",
)
@click.option(
    "--columns",
    default=_DEFAULT_COLUMNS,
    show_default=True,
    help="Comma list of columns: run attributes, metrics.<key>, params.<key>, tags.<key>.",
)
def runs_list(
    store: str | None,
    experiment: str | None,
    show_all: bool,
    limit: int,
    filter_string: str,
    order_by: tuple[str, ...],
    columns: str,
) -> None:
    """List runs (newest first, or as --order-by says), optionally filtered."""
    from tracklite.entities import ViewType
    from tracklite.errors import TrackliteError

    wanted = _parse_columns(columns)
    client = client_for(store)
    view = ViewType.ALL if show_all else ViewType.ACTIVE_ONLY
    exps = client.search_experiments(view_type=ViewType.ALL)
    if experiment is not None:
        exps = [e for e in exps if experiment in (e.name, e.experiment_id)]
        if not exps:
            raise click.ClickException(
                f"no experiment named or numbered '{experiment}'; see `tracklite experiments list`"
            )
    names = {e.experiment_id: e.name for e in exps}
    try:
        found = client.search_runs(
            list(names), filter_string=filter_string, run_view_type=view, max_results=limit, order_by=list(order_by)
        )
    except TrackliteError as exc:
        raise click.ClickException(exc.message) from exc
    rows = [[_run_cell(r, c, names) for c in wanted] for r in found]
    if not rows:
        click.echo(
            "no runs match the filter"
            if filter_string
            else "no runs yet; log some with `tracklite demo` or tracklite.start_run()"
        )
        return
    from tracklite._tables import render

    click.echo(render(wanted, rows, max_rows=limit))


@runs.command("show")
@STORE_OPTION
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
def runs_show(store: str | None, run_id: str, as_json: bool) -> None:
    """Show one run: info, params, latest metrics, tags, artifacts and logged models."""
    from tracklite.errors import TrackliteError

    client = client_for(store)
    try:
        run = client.get_run(run_id)
    except TrackliteError as exc:
        raise click.ClickException(exc.message) from exc
    if as_json:
        click.echo(json.dumps(run.to_dictionary(), indent=2, default=str))
        return
    info = run.info
    click.echo(f"run {info.run_id}  ({info.run_name})")
    for label, value in (
        ("experiment", info.experiment_id),
        ("status", info.status),
        ("lifecycle", info.lifecycle_stage),
        ("user", info.user_id),
        ("started", fmt_time(info.start_time)),
        ("ended", fmt_time(info.end_time)),
        ("artifacts", info.artifact_uri),
    ):
        click.echo(f"  {label:<11}{value}")
    for title, items in (("params", run.data.params), ("metrics", run.data.metrics), ("tags", run.data.tags)):
        click.echo(f"{title}:")
        for k, v in sorted(items.items()):
            click.echo(f"  {k} = {v}")
    files = client.list_artifacts(run_id)
    click.echo("artifact files:" if files else "artifact files: none")
    for f in files:
        click.echo(f"  {f.path}{'/' if f.is_dir else ''}{'' if f.is_dir else f'  ({f.file_size} bytes)'}")
    models = client.search_logged_models(
        [info.experiment_id], filter_string=f"source_run_id = '{info.run_id}'", order_by=["creation_timestamp ASC"]
    )
    click.echo("logged models:" if models else "logged models: none")
    for m in models:
        click.echo(f"  {m.name}  {m.model_id}  {m.status}  (runs:/{info.run_id}/{m.name})")


@runs.command("reap")
@STORE_OPTION
@click.option("--dry-run", is_flag=True, help="Only list the runs that would be marked KILLED.")
def runs_reap(store: str | None, dry_run: bool) -> None:
    """Mark runs left RUNNING by dead processes as KILLED."""
    client = client_for(store)
    found = client.store.find_orphaned_runs() if dry_run else client.mark_orphaned_runs_killed()
    verb = "would mark" if dry_run else "marked"
    click.echo(f"{verb} {len(found)} run(s) KILLED" + "".join(f"\n  {r}" for r in found))


@main.group()
def experiments() -> None:
    """List experiments."""


@experiments.command("list")
@STORE_OPTION
@click.option("--all", "show_all", is_flag=True, help="Include deleted experiments.")
def experiments_list(store: str | None, show_all: bool) -> None:
    """List experiments with their run counts."""
    from tracklite.entities import ViewType

    client = client_for(store)
    exps = client.search_experiments(view_type=ViewType.ALL if show_all else ViewType.ACTIVE_ONLY)
    counts: dict[str, int] = {}
    for run in client.store.list_runs([e.experiment_id for e in exps], ViewType.ALL, None):
        counts[run.info.experiment_id] = counts.get(run.info.experiment_id, 0) + 1
    from tracklite._tables import render

    rows = [
        [e.experiment_id, e.name, e.lifecycle_stage, counts.get(e.experiment_id, 0), fmt_time(e.creation_time)]
        for e in exps
    ]
    click.echo(render(["experiment_id", "name", "lifecycle", "runs", "created"], rows))


@main.command()
@STORE_OPTION
@click.option("--older-than", default=None, type=float, help="Only items deleted at least this many days ago.")
def gc(store: str | None, older_than: float | None) -> None:
    """Permanently remove deleted runs and experiments and reclaim their space."""
    client = client_for(store)
    before = client.store.stats()["file_bytes"]
    older = None if older_than is None else int(older_than * 86_400_000)
    done = client.store.gc(older)
    after = client.store.stats()["file_bytes"]
    what = "lake Parquet" if client.store.uri.startswith("ducklake:") else "file"
    click.echo(
        f"removed {done['runs']} run(s), {done['experiments']} experiment(s), {done['chunks']} artifact chunk(s); "
        f"{what} {before:,} -> {after:,} bytes"
    )


@main.command("sql")
@click.argument("query")
@STORE_OPTION
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
    help="Output format; parquet needs --output.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write to this file, not stdout.")
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    help="A value for the next ? placeholder, as a string (cast in SQL: ?::DOUBLE); repeat for more.",
)
@click.option("--allow-writes", is_flag=True, help="Allow statements that change the store (INSERT, CREATE, ...).")
def sql_command(
    query: str, store: str | None, fmt: str, output: str | None, params: tuple[str, ...], allow_writes: bool
) -> None:
    """Run SQL over the store's views (runs, params, metrics, runs_wide, ...; docs/schema.md).

    QUERY is the SQL text, or - to read it from stdin. Example:

        tracklite sql "SELECT run_name, status FROM runs WHERE status = ?" -p FINISHED
    """
    import sys

    from tracklite.errors import TrackliteError
    from tracklite.query import sql

    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet writes a binary file: give it one with --output FILE")
    if query == "-":
        query = sys.stdin.read()
    try:
        result = sql(query, list(params), allow_writes=allow_writes, tracking_uri=store or get_tracking_uri())
    except TrackliteError as exc:
        raise click.ClickException(exc.message) from exc
    if fmt == "table":
        from tracklite._tables import render

        text = render(result.columns, result.fetchall())
        if output is None:
            click.echo(text)
        else:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        return
    writer = {"csv": result.to_csv, "json": result.to_json, "parquet": result.to_parquet}[fmt]
    try:
        if output is None:
            sys.stdout.flush()
            writer(sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            writer(output)
    except TrackliteError as exc:
        raise click.ClickException(exc.message) from exc
    if output is not None:
        click.echo(f"wrote {len(result)} row(s) to {output}", err=True)


@main.command()
@STORE_OPTION
@click.option("--repair", is_flag=True, help="Rebuild damaged unique indexes (a key stored twice keeps one row).")
def doctor(store: str | None, repair: bool) -> None:
    """Show the store's path, schema version, sizes, pending durability logs and index health."""
    client = client_for(store)
    stats = client.store.stats()
    click.echo(f"store           {stats['path']}")
    click.echo(f"schema version  {stats['schema_version']}")
    size = "lake Parquet" if str(stats["path"]).startswith("ducklake:") else "file size   "
    click.echo(f"{size}    {stats['file_bytes']:,} bytes")
    click.echo(f"artifact bytes  {stats['artifact_bytes']:,} (deduplicated)")
    for table, n in stats["counts"].items():
        click.echo(f"  {table:<18}{n:,} rows")
    logs = stats["logs"]
    click.echo(f"durability logs {len(logs)} in {client.store.logs_dir}")
    for log in logs:
        click.echo(
            f"  {log['name']}  {log['bytes']:,} bytes, {log['pending_bytes']:,} not yet in the store; {log['state']}"
        )
    orphans = client.store.find_orphaned_runs()
    click.echo(
        f"orphaned runs   {len(orphans)} RUNNING without a live process"
        + (" (mark them: `tracklite runs reap`)" if orphans else "")
    )
    problems = client.store.repair_indexes() if repair else client.store.check_indexes()
    if not problems:
        click.echo("unique indexes  sound")
        return
    verb = "repaired" if repair else "DAMAGED"
    click.echo(
        f"unique indexes  {len(problems)} {verb}" + ("" if repair else " (rebuild them: `tracklite doctor --repair`)")
    )
    for problem in problems:
        click.echo(f"  {problem.describe()}")
    if not repair:
        raise SystemExit(1)


from tracklite.cli_exchange import export_group, import_group, migrate_command  # noqa: E402 - after main, which they join
from tracklite.cli_registry import models  # noqa: E402
from tracklite.cli_server import server, ui, users  # noqa: E402
from tracklite.cli_serving import predict_command, serve_command  # noqa: E402, F401 - they join models

main.add_command(models)
main.add_command(export_group)
main.add_command(import_group)
main.add_command(migrate_command)
main.add_command(server)
main.add_command(ui)
main.add_command(users)

if __name__ == "__main__":  # pragma: no cover
    main()
