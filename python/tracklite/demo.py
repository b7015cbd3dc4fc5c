"""``tracklite demo``: a newcomer's first minute with tracklite.

Trains a small scikit-learn classifier a few times with different settings, logging
params, per-epoch metrics, tags, an artifact and the model into ``./mlruns.duckdb``, then
prints a summary table, searches the runs, loads the best model back, registers it and
promotes it in the model registry, evaluates it against a baseline, answers a question with SQL over the same file, and
exports everything as an MLflow file store and as a Parquet dataset.
"""

from __future__ import annotations

import os
import textwrap
import time
from typing import Any

import click

EXPERIMENT = "tracklite-demo"
REGISTERED_NAME = "digits-classifier"

BEST_RUN_SQL = """\
-- best run per learning rate, by final validation loss
SELECT p.value AS learning_rate, r.run_name, round(l.value, 4) AS final_val_loss
FROM latest_metric_values l
JOIN runs r USING (run_id)
JOIN params p ON p.run_id = r.run_id AND p.key = 'learning_rate'
WHERE l.key = 'val_loss' AND r.experiment_id = ?
QUALIFY row_number() OVER (PARTITION BY p.value ORDER BY l.value) = 1
ORDER BY final_val_loss"""


def _train_one(lr: float, alpha: float, epochs: int, data: tuple[Any, ...]) -> None:
    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, log_loss

    import tracklite
    import tracklite.sklearn

    x_train, x_val, y_train, y_val, classes = data
    tracklite.log_params({"learning_rate": lr, "alpha": alpha, "epochs": epochs, "model": "SGDClassifier"})
    tracklite.set_tag("dataset", "digits")
    model = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=lr, alpha=alpha, random_state=0)
    rng = np.random.default_rng(0)
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        for batch in np.array_split(order, 10):
            model.partial_fit(x_train[batch], y_train[batch], classes=classes)
        proba = model.predict_proba(x_val)
        tracklite.log_metric("train_accuracy", accuracy_score(y_train, model.predict(x_train)), step=epoch)
        tracklite.log_metric("val_accuracy", accuracy_score(y_val, proba.argmax(axis=1)), step=epoch)
        tracklite.log_metric("val_loss", log_loss(y_val, proba, labels=classes), step=epoch)
    # A whole curve at once, straight from NumPy: the learning-rate schedule per batch.
    tracklite.log_metric_series("lr_schedule", np.full(epochs * 10, lr))
    tracklite.log_dict({"coef_shape": list(model.coef_.shape), "classes": classes.tolist()}, "model_summary.json")
    # The model itself, as an MLflow model directory stored inside the same file; the
    # input example gives it a signature that predict() enforces.
    tracklite.sklearn.log_model(model, name="model", input_example=x_val[:5])


def run_demo(store: str = "mlruns.duckdb", *, n_runs: int = 3) -> None:
    """Log ``n_runs`` real training runs into ``store`` and print what was logged.

    Args:
        store: The store file (created if missing).
        n_runs: How many settings to try.
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler
    except ImportError as exc:
        raise click.ClickException(
            "the demo trains a scikit-learn model: `pip install 'tracklite[sklearn]'` (or scikit-learn)"
        ) from exc
    import numpy as np

    import tracklite
    from tracklite._tables import render

    started = time.perf_counter()
    tracklite.set_tracking_uri(store)
    click.echo(f"tracklite demo: logging {n_runs} training runs into {os.path.abspath(store)}\n")
    exp = tracklite.set_experiment(EXPERIMENT)
    x, y = load_digits(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0)
    data = (x_train, x_val, y_train, y_val, np.unique(y))
    settings = [(lr, alpha) for lr in (0.001, 0.01, 0.1) for alpha in (1e-4, 1e-2)][: max(n_runs, 1)]
    for lr, alpha in settings:
        with tracklite.start_run(run_name=f"sgd-lr{lr}-a{alpha}") as run:
            _train_one(lr, alpha, 15, data)
        click.echo(f"  logged run {run.info.run_id}  {run.info.run_name}")

    client = tracklite.Client()
    runs = client.store.list_runs([exp.experiment_id], max_results=n_runs)
    rows = [
        [
            r.info.run_name,
            r.data.params.get("learning_rate"),
            r.data.params.get("alpha"),
            f"{r.data.metrics.get('val_accuracy', float('nan')):.3f}",
            f"{r.data.metrics.get('val_loss', float('nan')):.4f}",
            r.info.status,
        ]
        for r in runs
    ]
    click.echo("\nRuns (latest metric values):")
    click.echo(render(["run", "learning_rate", "alpha", "val_accuracy", "val_loss", "status"], rows))
    search = "metrics.val_accuracy > 0.93 AND params.alpha = '0.0001'"
    click.echo(f'\nMLflow\'s search grammar: search_runs(filter_string="{search}", order_by=["metrics.val_loss"])')
    found = tracklite.search_runs(
        experiment_ids=[exp.experiment_id], filter_string=search, order_by=["metrics.val_loss"], output_format="list"
    )
    click.echo(render(["run", "val_loss"], [[r.info.run_name, f"{r.data.metrics['val_loss']:.4f}"] for r in found]))
    best_run = min(runs, key=lambda r: r.data.metrics.get("val_loss", float("inf")))
    _show_model(best_run.info.run_id, x_val, y_val)
    _register_best(best_run.info.run_id, x_val, y_val)
    _evaluate_champion(x_train, y_train, x_val, y_val)
    click.echo("\nThe store is a plain DuckDB file. Example query:\n")
    click.echo(BEST_RUN_SQL.replace("?", f"'{exp.experiment_id}'") + ";\n")
    best = tracklite.sql(BEST_RUN_SQL, [exp.experiment_id])
    click.echo(render(best.columns, best.fetchall()))
    _export(store)
    _autolog_search(x_train, y_train)
    _serve(store)
    _serve_model(store, x_val, y_val)
    _scale_out(store)
    click.echo(
        f"done in {time.perf_counter() - started:.1f} s. Next: `tracklite runs list`, "
        f"`tracklite runs show {runs[0].info.run_id}`, `tracklite models history {REGISTERED_NAME}`, "
        f"`tracklite ui --store {store}`, or `duckdb {store}` and `FROM metric_history;`"
    )


def _show_model(run_id: str, x_val: Any, y_val: Any) -> None:
    """Load the best run's logged model back and show its signature at work."""
    import tracklite.pyfunc
    from tracklite.errors import TrackliteError

    uri = f"runs:/{run_id}/model"
    model = tracklite.pyfunc.load_model(uri)
    accuracy = float((model.predict(x_val) == y_val).mean())
    click.echo("\nModels: each run logged its model, an MLflow model directory, into the store. The best:")
    click.echo(f"  pyfunc.load_model({uri!r}).predict(x_val) -> accuracy {accuracy:.3f}")
    click.echo(f"  signature inputs: {model.metadata.get_input_schema()}")
    try:
        model.predict(x_val.astype("float32"))
    except TrackliteError as exc:
        click.echo(f"  a float32 input is refused before the model sees it: {exc.message.rsplit('Error: ', 1)[-1]}")


def _register_best(run_id: str, x_val: Any, y_val: Any) -> None:
    """Register the best run's model, promote it and load it by alias, as a deployment would."""
    import tracklite
    import tracklite.pyfunc

    client = tracklite.Client()
    version = tracklite.register_model(f"runs:/{run_id}/model", REGISTERED_NAME)
    client.transition_model_version_stage(
        REGISTERED_NAME, version.version, "Production", archive_existing_versions=True
    )
    client.set_registered_model_alias(REGISTERED_NAME, "champion", version.version)
    uri = f"models:/{REGISTERED_NAME}@champion"
    accuracy = float((tracklite.pyfunc.load_model(uri).predict(x_val) == y_val).mean())
    click.echo(
        f"\nRegistry: registered as {REGISTERED_NAME} version {version.version}, moved to Production, alias @champion"
    )
    click.echo(f"  pyfunc.load_model({uri!r}).predict(x_val) -> accuracy {accuracy:.3f}")
    events = client.get_registry_history(REGISTERED_NAME)[-3:]
    for e in events:
        what = f"{e.key}: " if e.key else ""
        before = f"{e.old_value} -> " if e.old_value is not None else ""
        click.echo(f"  audit: {e.user_id} {e.action} v{e.version} {what}{before}{e.new_value}")


def _evaluate_champion(x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> None:
    """Evaluate the champion against a trivial baseline, with a threshold it must meet."""
    from sklearn.dummy import DummyClassifier

    import tracklite
    from tracklite.models import MetricThreshold

    uri = f"models:/{REGISTERED_NAME}@champion"
    baseline = DummyClassifier(strategy="most_frequent").fit(x_train, y_train)
    started = time.perf_counter()
    with tracklite.start_run(run_name="evaluate-champion"):
        result = tracklite.evaluate(
            uri,
            (x_val, y_val),
            model_type="classifier",
            baseline_model=baseline,
            validation_thresholds={
                "accuracy_score": MetricThreshold(threshold=0.9, min_absolute_change=0.5, greater_is_better=True)
            },
        )
    click.echo(
        f"\nEvaluate: tracklite.evaluate({uri!r}, (x_val, y_val), model_type='classifier',\n"
        "    baseline_model=DummyClassifier(strategy='most_frequent'),\n"
        "    validation_thresholds={'accuracy_score': MetricThreshold(\n"
        "        threshold=0.9, min_absolute_change=0.5, greater_is_better=True)})"
    )
    from tracklite._tables import render

    baseline_metrics = result.baseline_model_metrics or {}
    shown = ("accuracy_score", "f1_score", "log_loss", "roc_auc")
    rows = [[k, f"{result.metrics[k]:.4f}", f"{baseline_metrics.get(k, float('nan')):.4f}"] for k in shown]
    click.echo(render(["metric", "champion", "baseline"], rows))
    click.echo(
        f"  thresholds passed; logged into run {result.run_id} in {time.perf_counter() - started:.1f} s "
        f"with {len(result.artifacts)} artifacts:"
    )
    paths = ", ".join(artifact.path for artifact in result.artifacts.values())
    click.echo(textwrap.fill(paths, width=100, initial_indent="    ", subsequent_indent="    "))


def _autolog_search(x_train: Any, y_train: Any) -> None:
    """A grid search with autologging and system metrics: no log calls, a run with the search's
    results and a child run per candidate."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import GridSearchCV

    import tracklite
    import tracklite.sklearn

    started = time.perf_counter()
    tracklite.sklearn.autolog()
    tracklite.set_system_metrics_sampling_interval(0.25)
    search = GridSearchCV(SGDClassifier(loss="log_loss", random_state=0), {"alpha": [1e-4, 1e-3, 1e-2]}, cv=3)
    try:
        with tracklite.start_run(run_name="grid-search", log_system_metrics=True) as active:
            search.fit(x_train, y_train)
    finally:
        tracklite.sklearn.autolog(disable=True)
        tracklite.set_system_metrics_sampling_interval(None)
    client = tracklite.Client()
    run = client.get_run(active.info.run_id)
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    files = [f.path for f in client.list_artifacts(run.info.run_id)]
    cpu = client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")
    click.echo(
        "\nAutologging: tracklite.sklearn.autolog(); in start_run(log_system_metrics=True),\n"
        "  GridSearchCV(SGDClassifier(...), {'alpha': [1e-4, 1e-3, 1e-2]}, cv=3).fit(x_train, y_train)"
    )
    click.echo(
        f"  run {run.info.run_id}: best_alpha={run.data.params['best_alpha']}, "
        f"best_cv_score={run.data.metrics['best_cv_score']:.3f}, "
        f"training_accuracy_score={run.data.metrics['training_accuracy_score']:.3f}"
    )
    click.echo(
        f"  {len(children)} child runs (one per candidate), models 'model' and 'best_estimator', "
        f"{', '.join(files)}; {time.perf_counter() - started:.1f} s with no log call"
    )
    click.echo(
        f"  system metrics every 0.25 s: {len(cpu)} points of system/cpu_utilization_percentage "
        f"(last {cpu[-1].value:.0f} %), with memory, disk and network beside it"
    )


def _serve(store: str) -> None:
    """Share the store: start ``tracklite server`` on it, log a run from this process over HTTP
    with tracklite's client, search it back and fetch a chart series as the web UI does."""
    import json
    import socket
    import subprocess
    import sys
    import urllib.request

    import tracklite

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "tracklite", "server", "--store", store, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.perf_counter() - started > 30:
                    click.echo("\nServe: skipped (the tracking server did not start)")
                    return
                time.sleep(0.05)
        click.echo(f"\nServe: `tracklite server --store {store}` shares the store over MLflow's REST API")
        click.echo(f"  and the web UI (`tracklite ui` opens it on localhost). Here on {url}:")
        tracklite.set_tracking_uri(url)
        tracklite.set_experiment(EXPERIMENT)
        with tracklite.start_run(run_name="remote-run") as run:
            tracklite.log_param("where", "over http")
            for step in range(100_000):
                tracklite.log_metric("remote_loss", 1.0 / (step + 1), step=step)
        found = tracklite.search_runs(filter_string="params.where = 'over http'", output_format="list")
        query = f"run_ids={run.info.run_id}&key=remote_loss&max_points=500"
        with urllib.request.urlopen(f"{url}/api/2.0/tracklite/metrics/series?{query}", timeout=30) as resp:
            series = json.load(resp)["series"][0]
        click.echo(
            f"  tracklite.set_tracking_uri('{url}'): logged 100,000 points of remote_loss in run "
            f"{run.info.run_id}; search_runs over HTTP finds it: {run.info.run_id in {r.info.run_id for r in found}}"
        )
        click.echo(
            f"  the UI's chart of it: {len(series['x'])} of {series['points']:,} points, downsampled in the Rust core"
        )
        click.echo(f"  MLflow's client works unchanged: mlflow.set_tracking_uri('{url}')")
    finally:
        tracklite.set_tracking_uri(store)
        server.terminate()
        server.wait(timeout=30)


def _serve_model(store: str, x_val: Any, y_val: Any) -> None:
    """Deploy the champion: ``tracklite models serve`` answers MLflow scoring requests, and
    ``tracklite models predict`` scores a Parquet file in chunks."""
    import json
    import socket
    import subprocess
    import sys
    import tempfile
    import urllib.request

    import pandas as pd

    from tracklite.serving.batch import predict_file

    uri = f"models:/{REGISTERED_NAME}@champion"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = ["tracklite", "models", "serve", "-m", uri, "--store", store, "--port", str(port)]
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/ping", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.perf_counter() - started > 30:
                    click.echo("\nModel serving: skipped (the scoring server did not start)")
                    return
                time.sleep(0.05)
        body = json.dumps({"inputs": x_val[:5].tolist()}).encode()
        request = urllib.request.Request(url + "/invocations", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            predictions = json.load(resp)["predictions"]
        click.echo(f"\nModel serving: `{' '.join(command[:5])}` speaks MLflow's scoring protocol on {url}")
        click.echo(f'  POST /invocations {{"inputs": <5 digits>}} -> {{"predictions": {predictions}}}')
        click.echo(f"  (true labels {y_val[:5].tolist()}; JSON, CSV and Parquet bodies, checked against the signature)")
    finally:
        server.terminate()
        server.wait(timeout=30)
    with tempfile.TemporaryDirectory() as folder:
        source, target = os.path.join(folder, "digits.parquet"), os.path.join(folder, "scored.parquet")
        pd.DataFrame(x_val, columns=[f"pixel{i}" for i in range(x_val.shape[1])]).to_parquet(source)
        rows = predict_file(uri, source, target, chunk_rows=100)
        accuracy = float((pd.read_parquet(target)["prediction"].to_numpy() == y_val).mean())
    click.echo(
        f"  batch: `tracklite models predict -m {uri} -i digits.parquet -o scored.parquet` scored {rows} rows "
        f"in chunks of 100 (accuracy {accuracy:.3f})"
    )


def _scale_out(store: str) -> None:
    """Copy the store into a lake with ``migrate`` and search it there."""
    import tracklite
    from tracklite.exchange.migrate import migrate

    click.echo(
        "\nScale out: a DuckLake lake (catalog in PostgreSQL, data as Parquet) takes many writers on many "
        "hosts.\n`tracklite migrate` copies a store into one; here the lake's catalog is a local DuckDB file."
    )
    folder = _export_folder(store, "lake", "catalog.ducklake")
    if folder is None:
        return
    lake = f"ducklake:{folder}/catalog.ducklake?data_path={folder}/data"
    try:
        started = time.perf_counter()
        report = migrate(store, lake)
    except tracklite.TrackliteError as exc:
        click.echo(f"  (skipped: {str(exc).splitlines()[0]})")
        return
    click.echo(
        f"  tracklite migrate {store} '{lake}'\n  copied {report.rows:,} rows and {report.chunks} artifact chunks "
        f"in {time.perf_counter() - started:.2f} s"
    )
    found = tracklite.Client(lake).search_runs(
        [tracklite.get_experiment_by_name(EXPERIMENT).experiment_id],  # type: ignore[union-attr]
        "metrics.val_accuracy > 0.9",
        max_results=3,
        order_by=["metrics.val_loss"],
    )
    click.echo(f"  the same API on the lake: {len(found)} runs with val_accuracy > 0.9, best {found[0].info.run_name}")
    click.echo("  (many hosts: tracklite.set_tracking_uri('ducklake:postgresql://USER@HOST/DB?data_path=/shared'))")


def _export_folder(store: str, name: str, marker: str) -> str | None:
    """``demo-export/<name>`` beside the store, if it is new, empty or an earlier demo export."""
    folder = os.path.join(os.path.dirname(os.path.abspath(store)), "demo-export", name)
    if not os.path.isdir(folder) or not os.listdir(folder) or os.path.exists(os.path.join(folder, marker)):
        return folder
    click.echo(f"  (skipped: {folder} holds other files)")
    return None


def _export(store: str) -> None:
    """Export the store for MLflow and as Parquet, and query the Parquet with plain DuckDB."""
    import duckdb

    import tracklite

    click.echo("\nExport: leave with everything, in MLflow's format or as Parquet for any engine.")
    mlruns = _export_folder(store, "mlruns", os.path.join("0", "meta.yaml"))
    if mlruns is not None:
        started = time.perf_counter()
        counts = tracklite.export_mlruns(mlruns, force=True)
        click.echo(
            f"  export_mlruns -> {mlruns}: {counts['runs']} runs, {counts['metric_points']:,} metric points, "
            f"{counts['model_versions']} model versions in {time.perf_counter() - started:.2f} s"
        )
        click.echo(f"  MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri file:{mlruns}")
    dataset = _export_folder(store, "parquet", "_tracklite_dataset.json")
    if dataset is not None:
        tracklite.export_parquet(dataset, force=True)
        query = (
            "SELECT run_name, count(*) AS epochs, round(arg_max(value, step), 3) AS final_val_accuracy\n"
            f"FROM read_parquet('{dataset}/metrics/*/*.parquet', hive_partitioning = true)\n"
            f"JOIN read_parquet('{dataset}/runs/*/*.parquet', hive_partitioning = true) USING (run_id)\n"
            "WHERE key = 'val_accuracy' GROUP BY run_name ORDER BY final_val_accuracy DESC"
        )
        result = duckdb.sql(query)
        assert result is not None  # a SELECT always gives a relation
        from tracklite._tables import render

        click.echo(f"  export_parquet -> {dataset}; any engine reads it, e.g. DuckDB:")
        click.echo(query + ";\n")
        click.echo(render(result.columns, [list(r) for r in result.fetchall()]))
