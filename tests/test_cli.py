"""The ``tracklite`` command, run as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click import Group
from tracklite.cli import main
from tracklite.store.schema import SCHEMA_VERSION


def _cli(*args: str, cwd: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracklite.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def _all_commands(group: Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, Group):
            found += _all_commands(cmd, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("command", _all_commands(main), ids=lambda c: " ".join(c) or "tracklite")
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    proc = _cli(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
    # a one-line description of its own, not an empty help text
    body = proc.stdout.split("\n\n", 2)
    assert len(body) >= 2 and body[1].strip()


def test_demo_then_inspect(tmp_path: Path) -> None:
    proc = _cli("demo", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mlruns.duckdb").exists()
    assert "best run per learning rate" in proc.stdout
    assert "final_val_loss" in proc.stdout
    assert "search_runs(filter_string=" in proc.stdout and "sgd-lr0.01-a0.0001" in proc.stdout
    assert "pyfunc.load_model('runs:/" in proc.stdout and "refused before the model sees it" in proc.stdout
    assert "registered as digits-classifier version 1, moved to Production" in proc.stdout
    assert "pyfunc.load_model('models:/digits-classifier@champion')" in proc.stdout
    assert "audit: " in proc.stdout and "set_registered_model_alias v1 champion: 1" in proc.stdout
    run_ids = re.findall(r"logged run ([0-9a-f]{32})", proc.stdout)
    assert len(run_ids) == 3
    assert "thresholds passed; logged into run" in proc.stdout and "with 8 artifacts" in proc.stdout
    assert re.search(r"accuracy_score +│ 0\.9\d+ +│ 0\.\d+", proc.stdout), proc.stdout  # champion vs baseline
    assert "confusion_matrix.png" in proc.stdout and "shap_summary_plot.png" in proc.stdout
    assert "4 runs, 601 metric points, 1 model versions" in proc.stdout  # 3 trained, 1 evaluation
    assert "3 child runs (one per candidate), models 'model' and 'best_estimator', cv_results.csv" in proc.stdout
    assert re.search(r"best_alpha=0\.0\d+, best_cv_score=0\.9\d+", proc.stdout), proc.stdout
    assert re.search(r"system metrics every 0\.25 s: [1-9]\d* points of system/cpu_utilization", proc.stdout)
    assert (tmp_path / "demo-export" / "mlruns" / "models" / "digits-classifier" / "version-1" / "meta.yaml").exists()
    assert re.search(r"sgd-lr0\.01-a0\.0001 +│ 15 +│ 0\.9", proc.stdout), proc.stdout  # the Parquet query
    # the server step: a run logged over HTTP by tracklite's client, found again, charted downsampled
    assert (
        "logged 100,000 points of remote_loss" in proc.stdout and "search_runs over HTTP finds it: True" in proc.stdout
    )
    assert re.search(r"the UI's chart of it: \d{3} of 100,000 points", proc.stdout), proc.stdout
    # the model serving step: the champion answers a scoring request and scores a Parquet file
    served = re.search(r'-> \{"predictions": \[([\d, ]+)\]\}\n  \(true labels \[([\d, ]+)\]', proc.stdout)
    assert served and len(served.group(1).split(",")) == 5, proc.stdout
    assert re.search(r"scored 450 rows in chunks of 100 \(accuracy 0\.9\d+\)", proc.stdout), proc.stdout

    listed = _cli("runs", "list", cwd=str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    for rid in run_ids:
        assert rid in listed.stdout
    shown = _cli("runs", "show", run_ids[0], cwd=str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "learning_rate" in shown.stdout and "val_loss" in shown.stdout and "model_summary.json" in shown.stdout
    assert re.search(rf"  model  m-[0-9a-f]{{32}}  READY  \(runs:/{run_ids[0]}/model\)", shown.stdout), shown.stdout
    exps = _cli("experiments", "list", cwd=str(tmp_path))
    assert "tracklite-demo" in exps.stdout and "Default" in exps.stdout
    models = _cli("models", "list", cwd=str(tmp_path))
    assert "digits-classifier" in models.stdout and "Production v1" in models.stdout and "@champion v1" in models.stdout
    again = _cli("demo", cwd=str(tmp_path))  # a second demo adds version 2 and archives version 1
    assert again.returncode == 0, again.stderr
    assert "registered as digits-classifier version 2" in again.stdout
    # 3 + 3 trained, 2 evaluations, 2 x 4 autologged runs (their system metrics vary in number),
    # 1 logged over HTTP by the first demo's server step
    assert re.search(r"13 runs, [\d,]+ metric points, 2 model versions", again.stdout), again.stdout
    history = _cli("models", "history", "digits-classifier", cwd=str(tmp_path))
    assert history.stdout.count("create_model_version") == 2 and "Archived" in history.stdout
    doctor = _cli("doctor", cwd=str(tmp_path))
    assert doctor.returncode == 0, doctor.stderr
    assert f"schema version  {SCHEMA_VERSION}" in doctor.stdout
    assert str(tmp_path / "mlruns.duckdb") in doctor.stdout


def test_runs_show_missing_run_is_a_clear_error(tmp_path: Path) -> None:
    proc = _cli("runs", "show", "f" * 32, "--store", str(tmp_path / "s.duckdb"))
    assert proc.returncode != 0
    assert "not found" in proc.stderr and "Traceback" not in proc.stderr


def test_gc_and_reap(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    code = (
        "import sys, tracklite\n"
        "c = tracklite.Client(sys.argv[1])\n"
        "r = c.create_run('0'); c.log_text(r.info.run_id, 'x' * 100000, 'big.txt'); c.set_terminated(r.info.run_id)\n"
        "c.delete_run(r.info.run_id)\n"
    )
    assert subprocess.run([sys.executable, "-c", code, store], check=False).returncode == 0
    proc = _cli("gc", "--store", store)
    assert proc.returncode == 0, proc.stderr
    assert "removed 1 run(s)" in proc.stdout and "1 artifact chunk(s)" in proc.stdout
    reap = _cli("runs", "reap", "--store", store)
    assert reap.returncode == 0 and "marked 0 run(s)" in reap.stdout


def test_store_from_environment(tmp_path: Path) -> None:
    store = str(tmp_path / "env.duckdb")
    code = "import tracklite\nwith tracklite.start_run(run_name='from-env'): tracklite.log_metric('m', 1)\n"
    env = {"TRACKLITE_TRACKING_URI": store}
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}).returncode == 0
    listed = _cli("runs", "list", env=env)
    assert "from-env" in listed.stdout


@pytest.fixture
def sweep_store(tmp_path: Path) -> str:
    """A store file with three finished runs (lr 0.1, 0.01, 0.001; loss 0.3, 0.1, 0.2), written by another process."""
    store = str(tmp_path / "sweep.duckdb")
    code = (
        "import sys, tracklite\n"
        "c = tracklite.Client(sys.argv[1])\n"
        "e = c.create_experiment('sweep')\n"
        "for lr, loss, team in (('0.1', 0.3, 'a'), ('0.01', 0.1, 'b'), ('0.001', 0.2, 'a')):\n"
        "    r = c.create_run(e, run_name='lr' + lr).info.run_id\n"
        "    c.log_param(r, 'lr', lr); c.set_tag(r, 'team', team); c.log_metric(r, 'loss', loss)\n"
        "    c.set_terminated(r)\n"
    )
    assert subprocess.run([sys.executable, "-c", code, store]).returncode == 0
    return store


def test_runs_list_filter_order_columns(sweep_store: str) -> None:
    proc = _cli(
        "runs",
        "list",
        "--store",
        sweep_store,
        "--filter",
        "metrics.loss < 0.25",
        "--order-by",
        "metrics.loss ASC",
        "--columns",
        "run_name,metrics.loss,params.lr,tags.team,status",
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "lr0" in line]
    assert [line.split("│")[1].strip() for line in lines] == ["lr0.01", "lr0.001"]
    assert "tags.team" in proc.stdout and "FINISHED" in proc.stdout and "lr0.1 " not in proc.stdout


def test_runs_list_repeated_order_by(sweep_store: str) -> None:
    proc = _cli(
        "runs", "list", "--store", sweep_store, "--order-by", "tags.team DESC", "--order-by", "params.lr ASC",
        "--columns", "run_name",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    names = [line.split("│")[1].strip() for line in proc.stdout.splitlines() if "lr0" in line]
    assert names == ["lr0.01", "lr0.001", "lr0.1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--filter", "metrics.loss <"), "filter"),
        (("--order-by", "metrics.loss SIDEWAYS"), "SIDEWAYS"),
        (("--columns", "run_id,bogus"), "unknown column 'bogus'"),
    ],
)
def test_runs_list_bad_input_is_a_clear_error(sweep_store: str, args: tuple[str, ...], message: str) -> None:
    proc = _cli("runs", "list", "--store", sweep_store, *args)
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr
