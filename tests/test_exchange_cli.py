"""The export and import commands in real processes: output, counts and errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tracklite


def _cli(*args: str, store: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACKLITE_TRACKING_URI": store}
    return subprocess.run([sys.executable, "-m", "tracklite", *args], capture_output=True, text=True, env=env)


def test_parquet_and_mlruns_through_the_cli(populated: dict[str, str], store_path: str, tmp_path: Path) -> None:
    tracklite.flush()
    data, tree = tmp_path / "data", tmp_path / "tree"
    out = _cli("export", "parquet", str(data), store=store_path)
    assert out.returncode == 0, out.stderr
    assert "2 runs" in out.stdout and "10 metrics" in out.stdout and "read_parquet(" in out.stdout
    assert _cli("export", "mlruns", str(tree), store=store_path).returncode == 0

    for kind, src in (("parquet", data), ("mlruns", tree)):
        target = str(tmp_path / f"from-{kind}.duckdb")
        first = _cli("import", kind, str(src), "--store", target, store=store_path)
        assert first.returncode == 0, first.stderr
        assert "2 runs" in first.stdout and "10 metrics" in first.stdout
        again = _cli("import", kind, str(src), "--store", target, store=store_path)
        assert again.returncode == 0, again.stderr
        assert again.stdout.startswith("imported nothing new; already present") and "2 runs" in again.stdout
        runs = tracklite.Client(target).search_runs([populated["experiment_id"]])
        assert sorted(r.info.run_id for r in runs) == sorted([populated["first"], populated["second"]])


def test_bad_sources_are_named_without_a_traceback(populated: dict[str, str], store_path: str, tmp_path: Path) -> None:
    tracklite.flush()
    for kind in ("mlruns", "parquet"):
        proc = _cli("import", kind, str(tmp_path / "missing"), store=store_path)
        assert proc.returncode != 0
        assert "missing" in proc.stderr and "Traceback" not in proc.stderr
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    proc = _cli("export", "parquet", str(busy), store=store_path)
    assert proc.returncode != 0 and "not empty" in proc.stderr and "--force" in proc.stderr
    assert (busy / "mine.txt").read_text() == "keep"
