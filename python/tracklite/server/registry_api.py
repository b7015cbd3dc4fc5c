"""MLflow's model registry REST API, plus the audit trail (tracklite's own endpoint).

Every change runs as the signed-in user (``tracklite.users.acting_user``), so the audit
trail names who made it.
"""

from __future__ import annotations

from typing import Any

from tracklite.errors import InvalidParameterValue
from tracklite.server.app import ServerContext
from tracklite.server.endpoints import BOOLEAN, INTEGER, KEY_VALUES, STRING, STRINGS, endpoint
from tracklite.server.protocol import (
    model_version_json,
    registered_model_json,
    registry_event_json,
    stored_uri,
)

_NAME = {"name": STRING}


# -- registered models ---------------------------------------------------------------


@endpoint(
    "registered-models/create",
    "POST",
    fields={"name": STRING, "tags": KEY_VALUES, "description": STRING},
    required=("name",),
    need="CREATE",
)
def create_registered_model(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Create a registered model."""
    rm = ctx.client.create_registered_model(args["name"], dict(args.get("tags", [])), args.get("description"))
    return {"registered_model": registered_model_json(rm)}


@endpoint("registered-models/get", "GET", fields=_NAME, required=("name",), resource="registered_model")
def get_registered_model(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Get a registered model with its latest version per stage."""
    return {"registered_model": registered_model_json(ctx.client.get_registered_model(args["name"]))}


@endpoint(
    "registered-models/search",
    "GET",
    fields={"filter": STRING, "max_results": INTEGER, "order_by": STRINGS, "page_token": STRING},
)
def search_registered_models(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Search registered models."""
    page = ctx.client.search_registered_models(
        _without_prompt_filter(args.get("filter")),
        args.get("max_results", 100),
        args.get("order_by") or None,
        args.get("page_token") or None,
    )
    out: dict[str, Any] = {"registered_models": [registered_model_json(m) for m in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out


def _without_prompt_filter(filter_string: str | None) -> str | None:
    # MLflow's client adds "tag.`mlflow.prompt.is_prompt` != 'true'" to every search: tracklite
    # has no prompts, so the clause holds for every model; drop it rather than depend on the
    # grammar accepting MLflow's singular "tag." prefix.
    if not filter_string:
        return None
    clauses = [c.strip() for c in filter_string.split(" AND ")]
    kept = [c for c in clauses if "mlflow.prompt.is_prompt" not in c]
    return " AND ".join(kept) or None


@endpoint(
    "registered-models/rename",
    "POST",
    fields={"name": STRING, "new_name": STRING},
    required=("name", "new_name"),
    need="EDIT",
    resource="registered_model",
)
def rename_registered_model(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Rename a registered model."""
    return {
        "registered_model": registered_model_json(ctx.client.rename_registered_model(args["name"], args["new_name"]))
    }


@endpoint(
    "registered-models/update",
    "PATCH",
    fields={"name": STRING, "description": STRING},
    required=("name",),
    need="EDIT",
    resource="registered_model",
)
def update_registered_model(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Set a registered model's description."""
    rm = ctx.client.update_registered_model(args["name"], args.get("description", ""))
    return {"registered_model": registered_model_json(rm)}


@endpoint(
    "registered-models/delete", "DELETE", fields=_NAME, required=("name",), need="MANAGE", resource="registered_model"
)
def delete_registered_model(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Delete a registered model and its versions."""
    ctx.client.delete_registered_model(args["name"])
    return {}


@endpoint(
    "registered-models/get-latest-versions",
    ("GET", "POST"),
    fields={"name": STRING, "stages": STRINGS},
    required=("name",),
    resource="registered_model",
)
def get_latest_versions(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """The latest version in each stage (or in the given stages)."""
    versions = ctx.client.get_latest_versions(args["name"], args.get("stages") or None)
    return {"model_versions": [model_version_json(v) for v in versions]}


@endpoint(
    "registered-models/set-tag",
    "POST",
    fields={"name": STRING, "key": STRING, "value": STRING},
    required=("name", "key"),
    need="EDIT",
    resource="registered_model",
)
def set_registered_model_tag(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Set a tag on a registered model."""
    ctx.client.set_registered_model_tag(args["name"], args["key"], args.get("value", ""))
    return {}


@endpoint(
    "registered-models/delete-tag",
    "DELETE",
    fields={"name": STRING, "key": STRING},
    required=("name", "key"),
    need="EDIT",
    resource="registered_model",
)
def delete_registered_model_tag(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Remove a tag from a registered model."""
    ctx.client.delete_registered_model_tag(args["name"], args["key"])
    return {}


@endpoint(
    "registered-models/alias",
    "POST",
    fields={"name": STRING, "alias": STRING, "version": STRING},
    required=("name", "alias", "version"),
    need="EDIT",
    resource="registered_model",
)
def set_alias(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Point an alias at a version."""
    ctx.client.set_registered_model_alias(args["name"], args["alias"], _version(args["version"]))
    return {}


@endpoint(
    "registered-models/alias",
    "DELETE",
    fields={"name": STRING, "alias": STRING},
    required=("name", "alias"),
    need="MANAGE",
    resource="registered_model",
)
def delete_alias(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Remove an alias."""
    ctx.client.delete_registered_model_alias(args["name"], args["alias"])
    return {}


@endpoint(
    "registered-models/alias",
    "GET",
    fields={"name": STRING, "alias": STRING},
    required=("name", "alias"),
    resource="registered_model",
)
def get_version_by_alias(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """The version an alias points at."""
    return {"model_version": model_version_json(ctx.client.get_model_version_by_alias(args["name"], args["alias"]))}


# -- model versions ------------------------------------------------------------------


def _version(value: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidParameterValue(f"Invalid model version {value!r}: expected a positive integer.") from None
    if number < 1:
        raise InvalidParameterValue(f"Invalid model version {value!r}: expected a positive integer.")
    return number


_NAME_VERSION = {"name": STRING, "version": STRING}


@endpoint(
    "model-versions/create",
    "POST",
    fields={
        "name": STRING,
        "source": STRING,
        "run_id": STRING,
        "tags": KEY_VALUES,
        "run_link": STRING,
        "description": STRING,
        "model_id": STRING,
    },
    required=("name", "source"),
    need="EDIT",
    resource="registered_model",
)
def create_model_version(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Register a model (``models:/<model_id>``, ``runs:/...``) as the next version."""
    source = stored_uri(args["source"])
    model_id = args.get("model_id")
    if model_id and not source.startswith("models:/"):
        source = f"models:/{model_id}"
    if not source.startswith(("models:/", "runs:/", "tracklite-artifacts:/")):
        # A local path or file:// URI would copy files of the server's machine into the store.
        raise InvalidParameterValue(
            f"Invalid model version source {args['source']!r}: over the server, a source is a logged model "
            "('models:/<model_id>'), a run's model ('runs:/<run_id>/<path>'), another version "
            "('models:/<name>/<version>') or an 'mlflow-artifacts:/' URI; a path on the server's disk is refused."
        )
    mv = ctx.client.create_model_version(
        args["name"],
        source,
        args.get("run_id") or None,
        dict(args.get("tags", [])),
        args.get("run_link") or None,
        args.get("description") or None,
    )
    return {"model_version": model_version_json(mv)}


@endpoint("model-versions/get", "GET", fields=_NAME_VERSION, required=("name", "version"), resource="registered_model")
def get_model_version(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Get one model version."""
    return {"model_version": model_version_json(ctx.client.get_model_version(args["name"], _version(args["version"])))}


@endpoint(
    "model-versions/get-download-uri",
    "GET",
    fields=_NAME_VERSION,
    required=("name", "version"),
    resource="registered_model",
)
def get_download_uri(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Where a version's files can be downloaded (through the artifact proxy)."""
    from tracklite.server.protocol import public_uri

    return {
        "artifact_uri": public_uri(ctx.client.get_model_version_download_uri(args["name"], _version(args["version"])))
    }


@endpoint(
    "model-versions/search",
    "GET",
    fields={"filter": STRING, "max_results": INTEGER, "order_by": STRINGS, "page_token": STRING},
)
def search_model_versions(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Search model versions."""
    page = ctx.client.search_model_versions(
        args.get("filter") or None,
        args.get("max_results", 10_000),
        args.get("order_by") or None,
        args.get("page_token") or None,
    )
    out: dict[str, Any] = {"model_versions": [model_version_json(v) for v in page]}
    if page.token:
        out["next_page_token"] = page.token
    return out


@endpoint(
    "model-versions/update",
    "PATCH",
    fields={"name": STRING, "version": STRING, "description": STRING},
    required=("name", "version"),
    need="EDIT",
    resource="registered_model",
)
def update_model_version(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Set a version's description."""
    mv = ctx.client.update_model_version(args["name"], _version(args["version"]), args.get("description", ""))
    return {"model_version": model_version_json(mv)}


@endpoint(
    "model-versions/delete",
    "DELETE",
    fields=_NAME_VERSION,
    required=("name", "version"),
    need="MANAGE",
    resource="registered_model",
)
def delete_model_version(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Delete a version (its number is never reused)."""
    ctx.client.delete_model_version(args["name"], _version(args["version"]))
    return {}


@endpoint(
    "model-versions/transition-stage",
    "POST",
    fields={"name": STRING, "version": STRING, "stage": STRING, "archive_existing_versions": BOOLEAN},
    required=("name", "version", "stage"),
    need="EDIT",
    resource="registered_model",
)
def transition_stage(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Move a version to a stage."""
    mv = ctx.client.transition_model_version_stage(
        args["name"], _version(args["version"]), args["stage"], bool(args.get("archive_existing_versions", False))
    )
    return {"model_version": model_version_json(mv)}


@endpoint(
    "model-versions/set-tag",
    "POST",
    fields={"name": STRING, "version": STRING, "key": STRING, "value": STRING},
    required=("name", "version", "key"),
    need="EDIT",
    resource="registered_model",
)
def set_model_version_tag(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Set a tag on a model version."""
    ctx.client.set_model_version_tag(args["name"], _version(args["version"]), args["key"], args.get("value", ""))
    return {}


@endpoint(
    "model-versions/delete-tag",
    "DELETE",
    fields={"name": STRING, "version": STRING, "key": STRING},
    required=("name", "version", "key"),
    need="MANAGE",
    resource="registered_model",
)
def delete_model_version_tag(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Remove a tag from a model version."""
    ctx.client.delete_model_version_tag(args["name"], _version(args["version"]), args["key"])
    return {}


# -- audit trail (tracklite) ---------------------------------------------------------


@endpoint(
    "registered-models/history",
    "GET",
    fields=_NAME,
    required=("name",),
    resource="registered_model",
    prefix="tracklite",
)
def registry_history(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Every change to a registered model, oldest first, with who made it."""
    return {"events": [registry_event_json(e) for e in ctx.client.get_registry_history(args["name"])]}
