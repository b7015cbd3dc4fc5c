"""A model directory's environment files: ``requirements.txt``, ``python_env.yaml``, ``conda.yaml``.

They list what loading the model needs, pinned to the versions installed when it was
saved, in the layout MLflow writes (so ``mlflow models serve`` can rebuild the environment).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from importlib import metadata

import yaml

CONDA_FILE = "conda.yaml"
PYTHON_ENV_FILE = "python_env.yaml"
REQUIREMENTS_FILE = "requirements.txt"


def pinned(distribution: str) -> str:
    """``name==installed version``; the bare name when the package is not installed."""
    try:
        return f"{distribution}=={metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        return distribution


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def write_environment(path: str, requirements: Iterable[str], extra_pip_requirements: Iterable[str] = ()) -> list[str]:
    """Write the three environment files into the model directory ``path``.

    Args:
        path: The model directory.
        requirements: Distribution names (pinned here to installed versions) or full
            requirement lines (kept as given, e.g. ``"torch>=2"``).
        extra_pip_requirements: More requirement lines, kept as given.

    Returns:
        The requirement lines written.
    """
    lines: list[str] = []
    for req in [*requirements, *extra_pip_requirements]:
        line = req if any(c in req for c in "<>=!~ @") else pinned(req)
        if line not in lines:
            lines.append(line)
    python = platform.python_version()
    pip = _version("pip")
    with open(os.path.join(path, REQUIREMENTS_FILE), "w", encoding="utf-8") as fh:
        fh.write("".join(f"{line}\n" for line in lines))
    python_env = {
        "python": python,
        "build_dependencies": [
            f"pip=={pip}" if pip else "pip",
            pinned("setuptools"),
            "wheel",
        ],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    with open(os.path.join(path, PYTHON_ENV_FILE), "w", encoding="utf-8") as fh:
        yaml.safe_dump(python_env, fh, default_flow_style=False, sort_keys=False)
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", f"pip<={pip}" if pip else "pip", {"pip": lines}],
        "name": "mlflow-env",
    }
    with open(os.path.join(path, CONDA_FILE), "w", encoding="utf-8") as fh:
        yaml.safe_dump(conda, fh, default_flow_style=False, sort_keys=False)
    return lines


ENV_BLOCK = {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}
"""The ``env`` entry of a ``python_function`` flavor block."""
