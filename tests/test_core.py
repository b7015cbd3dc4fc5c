"""Guard tests for the Rust core: its classes, its stub, its log file format."""

from __future__ import annotations

import fcntl
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tracklite
from tracklite import _core


def _pyclasses() -> list[type]:
    return [obj for _, obj in inspect.getmembers(_core, inspect.isclass) if obj.__module__ == "tracklite._core"]


def test_every_pyclass_is_frozen_and_named() -> None:
    classes = _pyclasses()
    assert {c.__name__ for c in classes} >= {"MetricLog", "RunWriter"}
    rust = Path(__file__).resolve().parent.parent / "rust"
    declarations = [
        line.strip()
        for src in rust.glob("*.rs")
        for line in src.read_text().splitlines()
        if line.strip().startswith("#[pyclass")
    ]
    assert len(declarations) == len(classes)
    for decl in declarations:
        assert "frozen" in decl and 'module = "tracklite._core"' in decl and "name = " in decl, decl
    for cls in classes:
        assert "__dict__" not in dir(cls)  # no instance dict: state lives behind Rust locks


def test_every_native_item_is_in_the_stub() -> None:
    stub = (Path(tracklite.__file__).parent / "_core.pyi").read_text()
    public = [n for n in dir(_core) if not n.startswith("_") or n == "__version__"]
    for name in public:
        assert name in stub, f"{name} is exported by _core but missing from _core.pyi"


@pytest.mark.skipif(shutil.which("stubgen") is None, reason="mypy is not installed")
def test_stub_matches_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "tracklite._core"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_log_is_locked_while_open_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "a.tlog"
    log = _core.MetricLog(str(path), flush_interval_ms=0)
    w = log.run_writer("run1")
    for i in range(10):
        w.log("m", float(i), i, 1000 + i)
    w.log_series("s", np.arange(5, dtype=np.float64))
    end = log.sync()
    with open(path, "rb") as fh, pytest.raises(BlockingIOError):
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    got = _core.read_log(str(path), 0)
    assert got["runs"] == ["run1"] and set(got["keys"]) == {"m", "s"}
    assert got["count"] == 15 and got["end_offset"] == end and got["at_end"] and not got["torn"]
    assert np.frombuffer(got["value"], dtype=np.float64)[:10].tolist() == [float(i) for i in range(10)]
    log.close()
    with open(path, "rb") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on close
    with pytest.raises(ValueError, match="closed"):
        w.log("m", 1.0)
    with pytest.raises(FileExistsError):
        _core.MetricLog(str(path))


def test_torn_tail_is_cut_at_the_last_whole_record(tmp_path: Path) -> None:
    path = tmp_path / "t.tlog"
    log = _core.MetricLog(str(path), flush_interval_ms=0)
    w = log.run_writer("r")
    w.log("m", 1.0, 0, 1)
    first_end = log.sync()
    w.log("m", 2.0, 1, 2)
    full_end = log.sync()
    log.close()
    data = path.read_bytes()
    for cut in range(first_end, full_end):
        torn = tmp_path / f"cut{cut}.tlog"
        torn.write_bytes(data[:cut])
        got = _core.read_log(str(torn), 0)
        assert got["count"] == 1 and got["end_offset"] == first_end
        assert got["torn"] == (cut > first_end)
    corrupt = bytearray(data)
    corrupt[-1] ^= 0xFF
    bad = tmp_path / "crc.tlog"
    bad.write_bytes(bytes(corrupt))
    got = _core.read_log(str(bad), 0)
    assert got["count"] == 1 and got["torn"]


def test_wrong_magic_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "x.tlog"
    path.write_bytes(b"NOTALOG!" + os.urandom(32))
    with pytest.raises(tracklite.StoreCorruptError):
        _core.read_log(str(path), 0)


def test_validate_metric_key_matches_python_rules() -> None:
    from tracklite.validation import validate_key

    for key in ["loss", "a/b", "val loss", "a:b", "ünïcode", "x.y-z", "", ".", "/a", "../a", "a//b", "a/", "a*b"]:
        py_ok = rust_ok = True
        try:
            validate_key("metric", key)
        except tracklite.InvalidParameterValue:
            py_ok = False
        try:
            _core.validate_metric_key(key)
        except tracklite.InvalidParameterValue:
            rust_ok = False
        assert py_ok == rust_ok, key
