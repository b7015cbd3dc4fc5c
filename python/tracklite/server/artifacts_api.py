"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``): upload, list, download.

Runs and logged models have ``mlflow-artifacts:/<path>`` URIs; MLflow's client turns them
into requests here. A path names a root, which belongs to a run or a logged model, then a
file below it:

* ``<experiment>/<run>/artifacts/<file>``: a run's artifacts;
* ``<experiment>/models/<model_id>/artifacts/<file>``: a logged model's files;
* ``@registry/<key>/<version>/<file>``: a registered version's pinned copy (read-only).

Uploads go only to an active run or an existing logged model; paths that climb out of
their root (``..``, absolute, backslashes) are refused before anything is read.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist
from tracklite.server.app import MAX_UPLOAD_BYTES, RequestError, ServerContext, json_response
from tracklite.server.endpoints import STRING, endpoint
from tracklite.server.web_security import INLINE_TYPES, attachment
from tracklite.store.artifacts import clean_artifact_path

if TYPE_CHECKING:
    from starlette.responses import Response


@dataclass(frozen=True)
class ArtifactTarget:
    """Where a proxy path points.

    Attributes:
        root: The stored root (``1/abc/artifacts``); empty if the path is above any root.
        path: The file or directory below the root (``""``: the root itself).
        kind: ``"run"``, ``"logged_model"``, ``"registry"`` or ``"none"``.
        experiment_id: The experiment of a run or logged model root.
        owner: The run id, logged-model id, or ``<key>/<version>`` of a registry root.
    """

    root: str
    path: str
    kind: str
    experiment_id: str | None
    owner: str | None


def artifact_target(path: str) -> ArtifactTarget:
    """Resolve a proxy path (see the module docstring).

    Raises:
        InvalidParameterValue: for a path that is absolute, climbs with ``..`` or holds
            backslashes or NULs.
    """
    clean = clean_artifact_path(path)
    parts = clean.split("/") if clean else []
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        return ArtifactTarget("/".join(parts[:4]), "/".join(parts[4:]), "logged_model", parts[0], parts[2])
    if len(parts) >= 3 and parts[0] == "@registry":
        return ArtifactTarget("/".join(parts[:3]), "/".join(parts[3:]), "registry", None, f"{parts[1]}/{parts[2]}")
    if len(parts) >= 3 and parts[2] == "artifacts":
        return ArtifactTarget("/".join(parts[:3]), "/".join(parts[3:]), "run", parts[0], parts[1])
    return ArtifactTarget("", clean, "none", parts[0] if parts else None, None)


def _check_writable(ctx: ServerContext, target: ArtifactTarget) -> None:
    store = ctx.store
    if target.kind == "run":
        run = store.get_run(target.owner)  # raises for an unknown run
        if run.info.experiment_id != target.experiment_id:
            raise ResourceDoesNotExist(f"Run '{target.owner}' is not in experiment '{target.experiment_id}'.")
        if run.info.lifecycle_stage != "active":
            raise InvalidParameterValue(
                f"The run {target.owner} must be in the 'active' state to take artifacts; restore it first."
            )
    elif target.kind == "logged_model":
        model = store.get_logged_model(target.owner)
        if model.experiment_id != target.experiment_id:
            raise ResourceDoesNotExist(f"Logged model '{target.owner}' is not in experiment '{target.experiment_id}'.")
    elif target.kind == "registry":
        raise InvalidParameterValue("Registered model versions are read-only; register a new version instead.")
    else:
        raise InvalidParameterValue(
            f"Artifact path '{target.path}' names no run or logged model; upload to "
            "'<experiment_id>/<run_id>/artifacts/<file>' or '<experiment_id>/models/<model_id>/artifacts/<file>'."
        )
    if not target.path:
        raise InvalidParameterValue("An artifact upload needs a file name after the artifact root.")


def _media_type(path: str) -> str:
    import mimetypes

    guessed, _ = mimetypes.guess_type(path)
    if path.endswith((".yaml", ".yml", "MLmodel", ".txt", ".log", ".csv", ".md")):
        return "text/plain; charset=utf-8"
    return guessed or "application/octet-stream"


@endpoint(
    "artifacts/{artifact_path:path}",
    "PUT",
    raw_body=True,
    need="EDIT",
    resource="artifact",
    prefix="mlflow-artifacts",
)
async def upload_artifact(ctx: ServerContext, args: dict[str, Any]) -> Response:
    """Upload one artifact file (the request body is the file's bytes)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    request = args["body"]
    target = artifact_target(args["artifact_path"])
    await run_in_threadpool(_check_writable, ctx, target)
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise RequestError(
                    f"Artifact upload is over the server's limit of {MAX_UPLOAD_BYTES} bytes "
                    "(TRACKLITE_SERVER_MAX_UPLOAD_BYTES).",
                    http_status=413,
                )
            spool.write(chunk)
        spool.seek(0)
        await run_in_threadpool(ctx.store.put_artifact_at, target.root, target.path, spool)
    return Response(b"", status_code=200)


@endpoint("artifacts", "GET", fields={"path": STRING}, resource="artifact", prefix="mlflow-artifacts")
def list_artifacts(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """List the direct children of an artifact directory (``{}`` for a file or nothing)."""
    target = artifact_target(args.get("path", ""))
    if not target.root:
        return {}
    files = ctx.store.list_artifacts_at(target.root, target.path)
    cut = len(target.path) + 1 if target.path else 0
    out = []
    for f in files:
        entry: dict[str, Any] = {"path": f.path[cut:], "is_dir": f.is_dir}
        if not f.is_dir:
            entry["file_size"] = f.file_size
        out.append(entry)
    return {"files": out} if out else {}


@endpoint(
    "artifacts/{artifact_path:path}",
    "GET",
    fields={"download": STRING},
    raw_body=True,
    resource="artifact",
    prefix="mlflow-artifacts",
)
async def download_artifact(ctx: ServerContext, args: dict[str, Any]) -> Response:
    """Download one artifact file (streamed)."""
    from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
    from starlette.responses import StreamingResponse

    target = artifact_target(args["artifact_path"])
    size = await run_in_threadpool(ctx.store.artifact_size_at, target.root, target.path) if target.root else None
    if size is None or not target.path:
        raise ResourceDoesNotExist(f"No such artifact: '{args['artifact_path']}'")
    chunks = ctx.store.iter_artifact_at(target.root, target.path)
    media_type = _media_type(target.path)
    headers = {"Content-Length": str(size)}
    # An uploaded page or image that could run script (HTML, SVG, XML, ...) is only ever a
    # download; the UI still shows SVGs through <img>, where no script runs (web_security.py).
    if args.get("download") in ("1", "true") or media_type.split(";", 1)[0] not in INLINE_TYPES:
        headers["Content-Disposition"] = attachment(target.path.rsplit("/", 1)[-1])
    return StreamingResponse(iterate_in_threadpool(chunks), media_type=media_type, headers=headers)


@endpoint(
    "artifacts/{artifact_path:path}",
    "DELETE",
    raw_body=True,
    need="MANAGE",
    resource="artifact",
    prefix="mlflow-artifacts",
)
async def delete_artifact(ctx: ServerContext, args: dict[str, Any]) -> Response:
    """Delete an artifact file or directory."""
    from starlette.concurrency import run_in_threadpool

    target = artifact_target(args["artifact_path"])
    await run_in_threadpool(_check_writable, ctx, target)
    removed = await run_in_threadpool(ctx.store.delete_artifacts_at, target.root, target.path)
    if not removed:
        raise ResourceDoesNotExist(f"No such artifact: '{args['artifact_path']}'")
    return json_response({})


@endpoint("artifacts/list", "GET", fields={"run_id": STRING, "run_uuid": STRING, "path": STRING}, resource="run")
def list_run_artifacts(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """List a run's artifacts (MLflow's older ``artifacts/list``)."""
    from tracklite.server.protocol import public_uri

    run_id = args.get("run_id") or args.get("run_uuid")
    if not run_id:
        raise InvalidParameterValue("Missing value for required parameter 'run_id'.")
    run = ctx.client.get_run(run_id)
    files = ctx.client.list_artifacts(run_id, args.get("path") or None)
    return {
        "root_uri": public_uri(run.info.artifact_uri),
        "files": [
            {"path": f.path, "is_dir": f.is_dir, **({} if f.is_dir else {"file_size": f.file_size})} for f in files
        ],
    }
