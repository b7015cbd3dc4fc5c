"""Writing a model directory: the steps every flavor shares around its own model file."""

from __future__ import annotations

import os
import shutil
from typing import Any

from tracklite.errors import InvalidParameterValue
from tracklite.models.environment import write_environment
from tracklite.models.model import MLMODEL_FILE_NAME, Model


def new_model_dir(path: str) -> None:
    """Create ``path`` for a model.

    Raises:
        InvalidParameterValue: if ``path`` exists and is not an empty directory.
    """
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise InvalidParameterValue(
            f"Path '{path}' already exists and is not empty; save a model into a new directory."
        )
    os.makedirs(path, exist_ok=True)


def copy_code_paths(path: str, code_paths: list[str] | None) -> str | None:
    """Copy ``code_paths`` into ``path/code``; the subdirectory name, or None without code.

    Raises:
        InvalidParameterValue: for a code path that does not exist.
    """
    if not code_paths:
        return None
    target = os.path.join(path, "code")
    os.makedirs(target, exist_ok=True)
    for source in code_paths:
        if not os.path.exists(source):
            raise InvalidParameterValue(f"code path '{source}' does not exist; pass files or directories to copy.")
        dest = os.path.join(target, os.path.basename(os.path.normpath(source)))
        if os.path.isdir(source):
            shutil.copytree(source, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest)
    return "code"


def dir_size(path: str) -> int:
    """Total bytes of the files under ``path``."""
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def finish_model_dir(
    path: str,
    model: Model,
    *,
    signature: Any,
    input_example: Any,
    requirements: list[str],
    pip_requirements: list[str] | None,
    extra_pip_requirements: list[str] | None,
    metadata: dict[str, Any] | None,
) -> Model:
    """Write the input example, environment files and ``MLmodel`` beside a saved model.

    The signature is inferred from the input example when none is given.

    Returns:
        ``model``, as written.
    """
    from tracklite.models.examples import save_example
    from tracklite.models.signature import infer_signature

    if input_example is not None:
        model.saved_input_example_info = save_example(path, input_example)
        if signature is None:
            has_params = isinstance(input_example, tuple) and len(input_example) == 2
            data = input_example[0] if has_params else input_example
            signature = infer_signature(data, params=input_example[1] if has_params else None)
    model.signature = signature
    model.metadata = metadata
    lines = pip_requirements if pip_requirements is not None else requirements
    write_environment(path, lines, extra_pip_requirements or ())
    model.model_size_bytes = dir_size(path)
    model.save(os.path.join(path, MLMODEL_FILE_NAME))
    return model
