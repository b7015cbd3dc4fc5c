"""Docs that run: docstring examples and the README's quick start."""

from __future__ import annotations

import doctest
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tracklite
from tracklite.store import _STORES

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["tracklite.tracking.client", "tracklite.store.duckdb_store", "tracklite.query", "tracklite.search"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    try:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    finally:
        for store in list(_STORES.values()):
            store.close()  # type: ignore[attr-defined]
        _STORES.clear()
    assert result.attempted > 0 and result.failed == 0


def test_readme_quick_start_prints_what_it_says(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    code, shown = re.findall(r"```(?:python)?\n(.*?)```", section, flags=re.S)[:2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == shown
    assert (tmp_path / "mlruns.duckdb").exists()


def test_package_docstring_quick_start(tmp_path: Path) -> None:
    doc = tracklite.__doc__ or ""
    code = "\n".join(line[4:] for line in doc.split("::", 1)[1].split("Everything lands")[0].splitlines())
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_every_public_function_is_documented() -> None:
    for name in tracklite.__all__:
        obj = getattr(tracklite, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), f"tracklite.{name} has no docstring"
