"""The Parquet dataset: what DuckDB, PyArrow and Polars read from it is what the store holds;
the folder rules; import with the original ids, twice without change; the docs' examples."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import tracklite
import tracklite.sklearn
from sklearn.linear_model import LogisticRegression
from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist
from tracklite.exchange.output import ExportDir, is_incomplete
from tracklite.exchange.parquet import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    TABLES,
    export_parquet,
    import_parquet,
    table_columns,
)
from tracklite.store.schema import SCHEMA_VERSION

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake

ROOT = Path(__file__).resolve().parent.parent
PARTITIONED = ("runs", "params", "tags", "metrics")
# Keys as users write them (MLflow allows letters of any script, digits, _ - . : / and spaces).
ODD_KEYS = ("val/loss", "ünïcødé/ключ", "a b/c.d", "x:y-z_1")


def _populate(client: tracklite.Client, model_dir: str, logreg: LogisticRegression) -> dict[str, str]:
    """Two experiments, nested runs with odd keys and NaN/inf points, a deleted run, a logged
    model and a registered model with versions, stages, aliases and tags."""
    exp = client.create_experiment("sweep ✓", tags={"team": "vision", "a/b": "ç"})
    other = client.create_experiment("other")
    parent = client.create_run(exp, run_name="parent").info.run_id
    child = client.create_run(exp, run_name="child ✓", tags={"mlflow.parentRunId": parent}).info.run_id
    gone = client.create_run(other, run_name="gone").info.run_id
    for i, run_id in enumerate((parent, child, gone)):
        client.log_param(run_id, "lr", str(10.0 ** -(i + 1)))
        for key in ODD_KEYS:
            client.log_param(run_id, key, f"{key}={i}")
            client.set_tag(run_id, key, f"tag {key} {i}")
        client.log_metric_series(run_id, "loss", [1.0 / (s + 1 + i) for s in range(50)])
        client.log_metric(run_id, "val/loss", float("nan"), step=0)
        client.log_metric(run_id, "val/loss", float("inf"), step=1)
        client.log_metric(run_id, "val/loss", float("-inf"), step=2)
        client.log_metric(run_id, "ünïcødé/ключ", 0.5 + i, step=3, timestamp=1_700_000_000_000 + i)
        client.set_terminated(run_id)
    client.delete_run(gone)
    with tracklite.start_run(experiment_id=exp, run_name="with model") as run:
        tracklite.log_param("C", "1.0")
        info = tracklite.sklearn.log_model(logreg, name="model")
    name = "iris clf"
    client.create_registered_model(name, tags={"owner": "ünï"}, description="the classifier")
    for _ in range(3):
        client.create_model_version(name, model_dir, description="from a folder")
    client.create_model_version(name, f"models:/{info.model_id}", run_id=run.info.run_id)
    client.transition_model_version_stage(name, 1, "Production")
    client.transition_model_version_stage(name, 2, "Staging")
    client.set_registered_model_alias(name, "champion", 1)
    client.set_registered_model_alias(name, "challenger", 4)
    client.set_model_version_tag(name, 1, "validated", "yes ✓")
    client.delete_model_version(name, 3)
    client.flush()
    return {"exp": exp, "other": other, "parent": parent, "child": child, "gone": gone}


@pytest.fixture
def model_dir(tmp_path: Path, logreg: LogisticRegression) -> str:
    path = str(tmp_path / "model")
    tracklite.sklearn.save_model(logreg, path)
    return path


@pytest.fixture
def populated_store(client: tracklite.Client, model_dir: str, logreg: LogisticRegression) -> dict[str, str]:
    return _populate(client, model_dir, logreg)


def _norm(value: Any) -> Any:
    """Comparable cells: NaN equals NaN, ints and floats stay apart."""
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    return value


def _rows(rows: Iterable[Iterable[Any]]) -> list[tuple[Any, ...]]:
    return sorted((tuple(_norm(v) for v in row) for row in rows), key=repr)


def _columns(table: str) -> list[str]:
    """A table's columns in the store's view (partitioned ones with experiment_id)."""
    names = [n for n, _ in table_columns(table)]
    return ["experiment_id", *names] if table in PARTITIONED else names


def _select(columns: Iterable[str], prefix: str = "") -> str:
    return ", ".join(f'{prefix}"{c}"' for c in columns)


def _store_rows(table: str, store_path: str) -> list[tuple[Any, ...]]:
    """What the store's view holds for a table of the dataset."""
    if table in ("params", "tags", "metrics"):
        # Run-level rows are partitioned by their run's experiment.
        query = (
            f"SELECT r.experiment_id, {_select(_columns(table)[1:], 't.')} FROM {table} t JOIN runs r USING (run_id)"
        )
    else:
        query = f"SELECT {_select(_columns(table))} FROM {table}"
    return _rows(tracklite.sql(query, tracking_uri=store_path).fetchall())


def _duckdb_rows(out: Path, table: str) -> list[tuple[Any, ...]]:
    columns = _select(_columns(table))
    if table in PARTITIONED:
        hive = "hive_partitioning = true, hive_types = {experiment_id: VARCHAR}"
        source = f"read_parquet('{out}/{table}/**/*.parquet', {hive})"
    else:
        source = f"read_parquet('{out}/{table}/*.parquet')"
    with duckdb.connect() as con:
        return _rows(con.sql(f"SELECT {columns} FROM {source}").fetchall())


def _arrow_rows(out: Path, table: str) -> list[tuple[Any, ...]]:
    if table in PARTITIONED:
        part = ds.partitioning(pa.schema([("experiment_id", pa.string())]), flavor="hive")
        data = ds.dataset(out / table, format="parquet", partitioning=part).to_table()
    else:
        data = ds.dataset(out / table, format="parquet").to_table()
    columns = [data.column(c).to_pylist() for c in _columns(table)]
    return _rows(zip(*columns, strict=True))


def _polars_rows(out: Path, table: str) -> list[tuple[Any, ...]]:
    if table in PARTITIONED:
        frame = pl.scan_parquet(
            out / table / "**" / "*.parquet", hive_partitioning=True, hive_schema={"experiment_id": pl.String}
        )
    else:
        frame = pl.scan_parquet(out / table / "*.parquet")
    return _rows(frame.select(_columns(table)).collect().rows())


def _dataset_rows(out: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {t: _duckdb_rows(out, t) for t in TABLES if any((out / t).rglob("*.parquet"))}


# -- export ---------------------------------------------------------------------------------------


def test_export_holds_what_the_store_holds_in_three_readers(
    populated_store: dict[str, str], store_path: str, tmp_path: Path
) -> None:
    out = tmp_path / "dataset"
    counts = export_parquet(str(out), tracking_uri=store_path)
    assert list(counts) == list(TABLES)
    assert counts["runs"] == 4 and counts["model_versions"] == 3  # version 3 was deleted
    assert counts["metrics"] == 3 * (50 + 3 + 1)  # the model's run logged no points
    assert not is_incomplete(out)

    for table in TABLES:
        expected = _store_rows(table, store_path)
        assert len(expected) == counts[table], table
        assert _duckdb_rows(out, table) == expected, table
        assert _arrow_rows(out, table) == expected, table
        assert _polars_rows(out, table) == expected, table

    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["format"] == FORMAT and manifest["format_version"] == FORMAT_VERSION
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["experiment_ids"] is None
    assert [(t["name"], t["rows"]) for t in manifest["tables"]] == list(counts.items())
    assert {t["name"] for t in manifest["tables"] if t["partition_by"] == ["experiment_id"]} == set(PARTITIONED)

    # Hive layout: one folder per experiment with runs, and the partition column not in the files.
    exp, other = populated_store["exp"], populated_store["other"]
    assert sorted(p.name for p in (out / "metrics").iterdir()) == sorted(
        [f"experiment_id={exp}", f"experiment_id={other}"]
    )
    one_file = next((out / "metrics" / f"experiment_id={exp}").glob("*.parquet"))
    assert pq.read_schema(one_file).names == [n for n, _ in table_columns("metrics")]
    assert str(pq.read_metadata(one_file).row_group(0).column(0).compression) == "ZSTD"

    # The details that are easy to lose: NaN and ±inf, odd keys, the deleted run, nesting.
    with duckdb.connect() as con:
        points = con.sql(
            f"SELECT step, value FROM read_parquet('{out}/metrics/**/*.parquet', hive_partitioning = true) "
            f"WHERE run_id = '{populated_store['child']}' AND key = 'val/loss' ORDER BY step"
        ).fetchall()
        assert math.isnan(points[0][1]) and points[1:] == [(1, math.inf), (2, -math.inf)]
        gone = populated_store["gone"]
        stage = con.sql(f"SELECT lifecycle_stage FROM read_parquet('{out}/runs/**/*.parquet') WHERE run_id = '{gone}'")
        assert stage.fetchall() == [("deleted",)]
        keys = {r[0] for r in con.sql(f"SELECT DISTINCT key FROM read_parquet('{out}/params/**/*.parquet')").fetchall()}
        assert set(ODD_KEYS) <= keys
        assert con.sql(
            f"SELECT value FROM read_parquet('{out}/tags/**/*.parquet') "
            f"WHERE run_id = '{populated_store['child']}' AND key = 'mlflow.parentRunId'"
        ).fetchall() == [(populated_store["parent"],)]


def test_empty_tables_have_a_folder_and_an_empty_store_exports(store_path: str, tmp_path: Path) -> None:
    tracklite.Client(store_path).get_experiment("0")  # creates the store: the Default experiment only
    out = tmp_path / "empty"
    counts = export_parquet(str(out), tracking_uri=store_path)
    assert counts["experiments"] == 1 and sum(counts.values()) == 1
    assert sorted(p.name for p in out.iterdir()) == sorted([*TABLES, MANIFEST])
    for table in PARTITIONED:
        assert not any((out / table).iterdir())  # no experiment has runs: no partitions
    # An unpartitioned table with no rows is still a file that carries its columns.
    schema = pq.read_schema(out / "model_versions" / "data_0.parquet")
    assert schema.names == [n for n, _ in table_columns("model_versions")]


def test_out_is_refused_unless_empty_or_forced_and_an_interrupted_export_is_marked(
    populated: dict[str, str], store_path: str, tmp_path: Path
) -> None:
    out = tmp_path / "dataset"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InvalidParameterValue, match="is not empty; pass force=True"):
        export_parquet(str(out), tracking_uri=store_path)
    assert (out / "keep.txt").read_text() == "mine"

    (out / "keep.txt").unlink()
    ExportDir(out)  # what an export leaves when it is killed before it finishes
    assert is_incomplete(out)
    with pytest.raises(InvalidParameterValue, match="holds an interrupted export"):
        export_parquet(str(out), tracking_uri=store_path)
    with pytest.raises(InvalidParameterValue, match="did not finish"):
        import_parquet(str(out), tracking_uri=str(tmp_path / "copy.duckdb"))

    counts = export_parquet(str(out), tracking_uri=store_path, force=True)
    assert counts["runs"] == 2 and not is_incomplete(out)
    with pytest.raises(InvalidParameterValue, match="is a file"):
        export_parquet(str(out / MANIFEST), tracking_uri=store_path, force=True)


def test_experiment_ids_choose_what_is_exported(
    populated_store: dict[str, str], store_path: str, tmp_path: Path
) -> None:
    exp = populated_store["exp"]
    out = tmp_path / "one"
    counts = export_parquet(str(out), tracking_uri=store_path, experiment_ids=[exp])
    assert counts["experiments"] == 1 and counts["runs"] == 3 and counts["logged_models"] == 1
    assert counts["registered_models"] == 1  # the registry is store-wide
    assert [p.name for p in (out / "runs").iterdir()] == [f"experiment_id={exp}"]
    assert json.loads((out / MANIFEST).read_text())["experiment_ids"] == [exp]

    with pytest.raises(ResourceDoesNotExist, match="'sweep ✓' is the name of experiment"):
        export_parquet(str(tmp_path / "x"), tracking_uri=store_path, experiment_ids=["sweep ✓"])
    with pytest.raises(InvalidParameterValue, match="a list of ids"):
        export_parquet(str(tmp_path / "x"), tracking_uri=store_path, experiment_ids=exp)
    with pytest.raises(InvalidParameterValue, match="is empty"):
        export_parquet(str(tmp_path / "x"), tracking_uri=store_path, experiment_ids=[])
    assert not (tmp_path / "x").exists()  # refused before anything was written
    with pytest.raises(ResourceDoesNotExist, match="No store file"):
        export_parquet(str(tmp_path / "x"), tracking_uri=str(tmp_path / "missing.duckdb"))
    assert not (tmp_path / "missing.duckdb").exists()


# -- import ---------------------------------------------------------------------------------------


def test_round_trip_keeps_ids_and_a_second_import_changes_nothing(
    populated_store: dict[str, str], store_path: str, tmp_path: Path
) -> None:
    first, second, third = tmp_path / "first", tmp_path / "second", tmp_path / "third"
    copy = str(tmp_path / "copy.duckdb")
    export_parquet(str(first), tracking_uri=store_path)

    counts = import_parquet(str(first), tracking_uri=copy)
    assert counts["runs"] == 4 and counts["metrics"] == 162 and counts["model_versions"] == 3
    assert counts["experiments"] == 2 and counts["experiments_skipped"] == 1  # Default is in every store
    export_parquet(str(second), tracking_uri=copy)

    before, after = _dataset_rows(first), _dataset_rows(second)
    # Default's times are those of the new store; the audit trail is the import's own.
    for rows in (before, after):
        rows["experiments"] = [r[:4] if r[0] == "0" else r for r in rows["experiments"]]
        del rows["registry_audit"]
    assert after == before

    # Runs, metrics and models are usable through the API as they were.
    client = tracklite.Client(copy)
    child = client.get_run(populated_store["child"])
    assert child.data.tags["mlflow.parentRunId"] == populated_store["parent"]
    assert child.data.params["ünïcødé/ключ"] == "ünïcødé/ключ=1"
    history = client.get_metric_history(populated_store["child"], "val/loss")
    assert math.isnan(history[0].value) and [m.value for m in history[1:]] == [math.inf, -math.inf]
    assert client.get_run(populated_store["gone"]).info.lifecycle_stage == "deleted"
    assert client.get_model_version_by_alias("iris clf", "champion").current_stage == "Production"
    assert client.get_model_version("iris clf", 1).tags == {"validated": "yes ✓"}

    again = import_parquet(str(first), tracking_uri=copy)
    assert again["runs"] == 0 and again["runs_skipped"] == 4 and again["metrics"] == 0
    assert again["registered_models"] == 0 and again["registered_models_skipped"] == 1
    assert again["experiments"] == 0 and again["logged_models"] == 0
    export_parquet(str(third), tracking_uri=copy)
    assert _dataset_rows(third) == _dataset_rows(second)


def test_import_refuses_what_is_not_a_tracklite_dataset(
    populated: dict[str, str], store_path: str, tmp_path: Path
) -> None:
    target = str(tmp_path / "copy.duckdb")
    with pytest.raises(InvalidParameterValue, match="is not a folder"):
        import_parquet(str(tmp_path / "nowhere"), tracking_uri=target)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(InvalidParameterValue, match="is not a tracklite Parquet dataset"):
        import_parquet(str(plain), tracking_uri=target)
    (plain / MANIFEST).write_text('{"format": "delta"}')
    with pytest.raises(InvalidParameterValue, match="does not describe a tracklite-parquet dataset"):
        import_parquet(str(plain), tracking_uri=target)
    (plain / MANIFEST).write_text("{not json")
    with pytest.raises(InvalidParameterValue, match="unreadable"):
        import_parquet(str(plain), tracking_uri=target)

    out = tmp_path / "dataset"
    export_parquet(str(out), tracking_uri=store_path)
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(InvalidParameterValue, match="newer than this tracklite reads"):
        import_parquet(str(out), tracking_uri=target)
    (out / MANIFEST).write_text(json.dumps(manifest))
    params = next((out / "params").rglob("*.parquet"))
    pq.write_table(pa.table({"run_id": ["x"], "name": ["lr"]}), params)
    with pytest.raises(InvalidParameterValue, match=r"'params' files .* do not have the columns"):
        import_parquet(str(out), tracking_uri=target)
    assert not Path(target).exists() or tracklite.sql("SELECT count(*) FROM runs", tracking_uri=target).fetchall() == [
        (0,)
    ]


# -- the docs' examples -----------------------------------------------------------------------------


def _sweep(client: tracklite.Client) -> None:
    """The sweep docs/parquet.md shows: three learning rates, two seeds, ten val_loss points."""
    exp = client.create_experiment("sweep")
    for lr in ("0.1", "0.01", "0.001"):
        for seed in (0, 1):
            run_id = client.create_run(exp, run_name=f"lr{lr}-s{seed}").info.run_id
            client.log_param(run_id, "lr", lr)
            rate = {"0.1": 0.5, "0.01": 0.8, "0.001": 0.95}[lr]
            floor = {"0.1": 0.3, "0.01": 0.1, "0.001": 0.2}[lr]
            curve = [round(floor + (1 - floor) * rate**step + 0.01 * seed, 4) for step in range(10)]
            client.log_metric_series(run_id, "val_loss", curve)
            client.set_terminated(run_id)


def _doc_blocks(language: str) -> list[str]:
    text = (ROOT / "docs" / "parquet.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_the_duckdb_example_in_the_docs_runs(
    client: tracklite.Client, store_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sweep(client)
    monkeypatch.chdir(tmp_path)
    export_parquet("dataset", tracking_uri=store_path)
    sql = _doc_blocks("sql")
    assert len(sql) >= 2
    setup, best = sql[0], sql[1]
    shown = _doc_blocks("text")[0]
    with duckdb.connect() as con:
        con.execute(setup)
        result = con.sql(best).fetchall()
        curve = con.sql(sql[2]).fetchall() if len(sql) > 2 else []
    # The same queries over the store's own views give the same answers.
    assert result == tracklite.sql(best, tracking_uri=store_path).fetchall()
    assert curve == tracklite.sql(sql[2], tracking_uri=store_path).fetchall()
    assert [(lr, run) for lr, run, _ in result] == [("0.001", "lr0.001-s0"), ("0.01", "lr0.01-s0"), ("0.1", "lr0.1-s0")]
    for lr, run, loss in result:  # the output printed in the docs
        assert re.search(rf"│ {re.escape(lr)}\s+│ {re.escape(run)}\s+│ {loss}\s+│", shown), (lr, run, loss)
    assert [step for step, _ in curve] == list(range(10)) and curve[-1][1] == result[1][2]


def test_the_docs_list_every_column_of_every_table() -> None:
    text = (ROOT / "docs" / "parquet.md").read_text()
    for table in TABLES:
        row = re.search(rf"^\| `{table}` \| (no|by `experiment_id`) \| (.*) \|$", text, flags=re.M)
        assert row is not None, table
        assert (row.group(1) != "no") == (table in PARTITIONED), table
        listed = re.findall(r"`(\w+)` (VARCHAR|BIGINT|INTEGER|DOUBLE)", row.group(2))
        assert listed == table_columns(table), table
