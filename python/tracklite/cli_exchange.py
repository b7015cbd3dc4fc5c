"""``tracklite export ...`` and ``tracklite import ...``: leaving tracklite with everything, and
arriving with an MLflow history."""

from __future__ import annotations

import click

from tracklite.cli_registry import errors_as_messages
from tracklite.cli_shared import STORE_OPTION


@click.group("export")
def export_group() -> None:
    """Write the store out: an MLflow mlruns tree, or a Parquet dataset."""


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
