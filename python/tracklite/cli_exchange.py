"""``tracklite export ...`` and ``tracklite import ...``: leaving tracklite with everything, and
arriving with an MLflow history."""

from __future__ import annotations

import click

from tracklite.cli_registry import errors_as_messages
from tracklite.cli_shared import STORE_OPTION


@click.group("export")
def export_group() -> None:
    """Write the store out: an MLflow mlruns tree, any MLflow tracking backend, or a Parquet dataset."""


@export_group.command("mlruns")
@STORE_OPTION
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--experiment", "experiments", multiple=True, help="Experiment name or id to export; repeat for more.")
@click.option("--runs-filter", default=None, help="Only runs matching this search_runs filter.")
@click.option("--force", is_flag=True, help="Replace what OUT holds.")
@errors_as_messages
def export_mlruns_command(
    store: str | None, out: str, experiments: tuple[str, ...], runs_filter: str | None, force: bool
) -> None:
    """Write the store as an MLflow file store (mlruns tree) in OUT."""
    from tracklite.exchange.mlruns_export import FILE_STORE_NOTE, export_mlruns

    counts = export_mlruns(
        out,
        tracking_uri=store,
        experiments=list(experiments) or None,
        runs_filter=runs_filter,
        force=force,
        progress=True,
    )
    click.echo("exported " + ", ".join(f"{n:,} {what.replace('_', ' ')}" for what, n in counts.items()))
    click.echo(f"read it with MLflow: MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri file:{out}")
    click.echo(FILE_STORE_NOTE)


@click.group("import")
def import_group() -> None:
    """Bring an MLflow history (or a tracklite Parquet dataset) into the store."""


def _summary(verb: str, counts: dict[str, int]) -> str:
    """``imported 3 experiments, 12 runs, ...`` with skipped entities counted apart."""
    done = [f"{n:,} {what.replace('_', ' ')}" for what, n in counts.items() if n and not what.endswith("_skipped")]
    skipped = [
        f"{n:,} {what.removesuffix('_skipped').replace('_', ' ')}"
        for what, n in counts.items()
        if what.endswith("_skipped") and n
    ]
    line = f"{verb} " + (", ".join(done) or "nothing new")
    if skipped:
        line += "; already present, left as they were: " + ", ".join(skipped)
    return line


@export_group.command("parquet")
@STORE_OPTION
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--experiment", "experiments", multiple=True, help="Experiment id to export; repeat for more.")
@click.option("--force", is_flag=True, help="Replace what OUT holds.")
@errors_as_messages
def export_parquet_command(store: str | None, out: str, experiments: tuple[str, ...], force: bool) -> None:
    """Write the store as a Hive-partitioned Parquet dataset in OUT (see docs/parquet.md)."""
    from tracklite.exchange.parquet import export_parquet

    counts = export_parquet(
        out, tracking_uri=store, experiment_ids=list(experiments) or None, force=force, progress=True
    )
    click.echo(_summary("exported", counts))
    metrics = f"read_parquet('{out}/metrics/**/*.parquet', hive_partitioning=true)"
    click.echo(f'query it: duckdb -c "SELECT * FROM {metrics}"')


@import_group.command("mlruns")
@STORE_OPTION
@click.argument("src", type=click.Path(file_okay=False))
@errors_as_messages
def import_mlruns_command(store: str | None, src: str) -> None:
    """Bring an MLflow file store (mlruns tree) in SRC into the store, keeping every id."""
    from tracklite.exchange.mlruns_import import import_mlruns

    click.echo(_summary("imported", import_mlruns(src, tracking_uri=store, progress=True)))


@import_group.command("parquet")
@STORE_OPTION
@click.argument("src", type=click.Path(file_okay=False))
@errors_as_messages
def import_parquet_command(store: str | None, src: str) -> None:
    """Bring a dataset written by `tracklite export parquet` into the store, keeping every id."""
    from tracklite.exchange.parquet import import_parquet

    click.echo(_summary("imported", import_parquet(src, tracking_uri=store, progress=True)))


@import_group.command("mlflow-db")
@STORE_OPTION
@click.argument("src")
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False),
    default=None,
    help="The folder that held MLflow's artifact root (mlflow server --artifacts-destination, or ./mlruns), "
    "for artifact URIs that name no local folder (mlflow-artifacts:/..., a database from another machine).",
)
@errors_as_messages
def import_mlflow_db_command(store: str | None, src: str, artifacts: str | None) -> None:
    """Bring an MLflow SQL tracking store (its SQLite database) into the store, keeping every id.

    SRC is MLflow's tracking URI (sqlite:///mlflow.db, sqlite:////abs/path/mlflow.db) or the file's path.
    """
    from tracklite.exchange.mlflow_db_import import import_mlflow_db

    counts = import_mlflow_db(src, artifacts=artifacts, tracking_uri=store, progress=True)
    counts.pop("artifacts_missing")  # when not 0, a warning saying how to bring them is on stderr
    click.echo(_summary("imported", counts))


@export_group.command("mlflow")
@STORE_OPTION
@click.option(
    "--to", "to", required=True, help="MLflow tracking URI: sqlite:///mlflow.db, postgresql://..., http://host:5000."
)
@click.option("--experiment", "experiments", multiple=True, help="Experiment name or id to export; repeat for more.")
@click.option("--runs-filter", default=None, help="Only runs matching this search_runs filter.")
@errors_as_messages
def export_mlflow_command(store: str | None, to: str, experiments: tuple[str, ...], runs_filter: str | None) -> None:
    """Replay the store into an MLflow tracking backend (SQLite, a database, a server) with MLflow's client.

    Needs MLflow (pip install 'tracklite[mlflow]'). Run it again after an interruption to complete
    the export; run again after it finished, it changes nothing.
    """
    from tracklite.exchange.mlflow_export import export_mlflow

    counts = export_mlflow(
        to, tracking_uri=store, experiments=list(experiments) or None, runs_filter=runs_filter, progress=True
    )
    click.echo(_summary("exported", counts))
    remote = to.startswith(("http://", "https://"))
    click.echo(f"see it: {'open ' + to if remote else 'mlflow ui --backend-store-uri ' + to}")


@click.command("migrate")
@click.argument("src")
@click.argument("dst")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr.")
@errors_as_messages
def migrate_command(src: str, dst: str, progress: bool) -> None:
    """Copy the store SRC into DST, file to lake or lake to file (a path or a ducklake: URI).

    Every table is copied as it is, artifact bytes too. Running it again copies only what
    changed, so an interrupted migration is finished by running it again. Stop the writers
    of SRC first.
    """
    from tracklite.exchange.migrate import migrate

    report = migrate(src, dst, progress=progress)
    tables = ", ".join(f"{table} {n:,}" for table, n in sorted(report.tables.items())) or "none"
    click.echo(
        f"copied {report.rows:,} rows in {report.slices_copied} slices ({tables}) and {report.chunks:,} artifact "
        f"chunks; {report.slices_skipped} slices were already there"
    )
