"""Model URIs to local directories: plain paths, ``runs:/<run_id>/<name>``, ``models:/<model_id>``,
and registered versions: ``models:/<name>/<version>``, ``models:/<name>/<stage>`` (the newest
version in that stage), ``models:/<name>/latest`` and ``models:/<name>@<alias>``.

Models in the store are materialised into a cache directory named by the store, the
model id and a digest of the model's file list (paths, sizes, content hashes): loading
the same unchanged model again reuses the directory without reading its bytes, and a
changed model gets a fresh one. ``TRACKLITE_MODEL_CACHE`` moves the cache (default
``~/.cache/tracklite/models``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import Any

from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist
from tracklite.store.artifacts import artifact_root

_COMPLETE = ".tracklite-complete"


def cache_root() -> str:
    """Where materialised models live."""
    return os.environ.get("TRACKLITE_MODEL_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "tracklite", "models"
    )


def _store() -> Any:
    from tracklite.tracking.client import Client

    return Client().store


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` as ``(run_id, path)``.

    Raises:
        InvalidParameterValue: for a URI without a run id or path.
    """
    rest = uri[len("runs:/") :].lstrip("/")
    run_id, _, path = rest.partition("/")
    if not run_id or not path.strip("/"):
        raise InvalidParameterValue(f"Invalid runs URI '{uri}': expected runs:/<run_id>/<model name or path>.")
    return run_id, path.strip("/")


def _materialise(key: str, manifest: list[tuple[str, int, list[str]]], download: Any, dst_path: str | None) -> str:
    """A local copy of stored files: reused from the cache when the manifest is unchanged."""
    if not manifest:
        raise ResourceDoesNotExist(f"Model '{key}' has no files in the store.")
    if dst_path is not None:
        os.makedirs(dst_path, exist_ok=True)
        download(dst_path)
        return dst_path
    digest = hashlib.sha256()
    for rel, size, chunks in sorted(manifest):
        digest.update(f"{rel}\0{size}\0{','.join(chunks)}\n".encode())
    store_key = hashlib.sha256(os.path.abspath(_store().path).encode()).hexdigest()[:16]
    target = os.path.join(cache_root(), store_key, key.replace("/", "_"), digest.hexdigest()[:32])
    if os.path.exists(os.path.join(target, _COMPLETE)):
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".incoming-", dir=os.path.dirname(target))
    try:
        download(staging)
        open(os.path.join(staging, _COMPLETE), "w").close()
        try:
            os.rename(staging, target)
        except OSError:  # another process materialised it first, or a partial leftover
            if not os.path.exists(os.path.join(target, _COMPLETE)):
                shutil.rmtree(target, ignore_errors=True)
                os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _logged_model_dir(model_id: str, dst_path: str | None) -> str:
    store = _store()
    manifest = store.logged_model_manifest(model_id)
    return _materialise(model_id, manifest, lambda d: store.download_logged_model(model_id, d), dst_path)


def _registered_model_dir(ref: str, dst_path: str | None) -> str:
    """A registered version (``name/version``, ``name/stage``, ``name/latest``, ``name@alias``)."""
    registry = _store().registry
    version = registry.resolve_model_reference(ref)
    return _materialise(
        # Keyed by the pinned files' root: renaming the model or moving an alias reuses the copy.
        artifact_root(version.storage_location or ""),
        registry.model_version_manifest(version),
        lambda d: registry.download_model_version(version, d),
        dst_path,
    )


def local_model_path(model_uri: str, dst_path: str | None = None) -> str:
    """A local directory holding the model at ``model_uri``.

    Raises:
        ResourceDoesNotExist: if the URI names no model.
        InvalidParameterValue: for a URI scheme tracklite does not read.
    """
    if not isinstance(model_uri, str) or not model_uri:
        raise InvalidParameterValue(f"model_uri must be a non-empty string, got {model_uri!r}")
    if model_uri.startswith("models:/"):
        ref = model_uri[len("models:/") :].strip("/")
        if ref.startswith("m-") and "/" not in ref and "@" not in ref:
            return _logged_model_dir(ref, dst_path)
        return _registered_model_dir(ref, dst_path)
    if model_uri.startswith("runs:/"):
        run_id, path = parse_runs_uri(model_uri)
        store = _store()
        model_id = store.find_run_model(run_id, path)
        if model_id is not None:
            return _logged_model_dir(model_id, dst_path)
        # A model directory logged as plain run artifacts (log_artifacts) loads too.
        store.get_run(run_id)  # raises for an unknown run
        if not any(f.path.rsplit("/", 1)[-1] == "MLmodel" for f in store.list_artifacts(run_id, path)):
            raise ResourceDoesNotExist(
                f"Run '{run_id}' has no model named '{path}': no logged model and no MLmodel file at that path."
            )
        target = dst_path or tempfile.mkdtemp(prefix="tracklite-run-model-")
        return str(store.download_artifacts(run_id, path, target))
    if "://" in model_uri and not model_uri.startswith("file://"):
        raise InvalidParameterValue(
            f"Unsupported model URI '{model_uri}': use a local path, runs:/<run_id>/<name>, models:/<model_id>, "
            "models:/<name>/<version or stage> or models:/<name>@<alias>."
        )
    path = model_uri.removeprefix("file://")
    if not os.path.exists(path):
        raise ResourceDoesNotExist(f'Could not find an "MLmodel" configuration file at "{path}"')
    return path


def local_artifact(uri: str) -> str:
    """A local path for an artifact given to a custom model: a path, ``file://`` or ``runs:/`` URI.

    Raises:
        ResourceDoesNotExist: if it does not exist.
    """
    if uri.startswith("runs:/"):
        run_id, path = parse_runs_uri(uri)
        return str(_store().download_artifacts(run_id, path, tempfile.mkdtemp(prefix="tracklite-artifact-")))
    path = uri.removeprefix("file://")
    if not os.path.exists(path):
        raise ResourceDoesNotExist(f"Model artifact '{uri}' does not exist.")
    return path
