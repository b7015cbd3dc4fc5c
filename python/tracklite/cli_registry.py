"""``tracklite models ...``: the model registry from the terminal (list, show, register,
transition, alias, history)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from tracklite.cli_shared import STORE_OPTION, client_for, fmt_time
from tracklite.store.schema import quote_literal

F = TypeVar("F", bound=Callable[..., Any])


def errors_as_messages(fn: F) -> F:
    """Print a ``TrackliteError`` as a one-line error and exit 1, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tracklite.errors import TrackliteError

        try:
            return fn(*args, **kwargs)
        except TrackliteError as exc:
            raise click.ClickException(exc.message) from exc

    return wrapper  # type: ignore[return-value]


def _parse_tags(pairs: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{pair}' is not KEY=VALUE", param_hint="--tag")
        tags[key] = value
    return tags


def _name_filter(name: str) -> str:
    """A search filter matching exactly ``name``."""
    return f"name = {quote_literal(name)}"


@click.group()
def models() -> None:
    """The model registry: registered models, versions, stages, aliases and their history."""


@models.command("list")
@STORE_OPTION
@click.option("--filter", "filter_string", default=None, help="e.g. \"name LIKE 'iris%'\" or \"tags.team = 'a'\".")
@errors_as_messages
def models_list(store: str | None, filter_string: str | None) -> None:
    """List registered models with their newest version per stage and their aliases."""
    from tracklite._tables import render

    client = client_for(store)
    rows = []
    token = None
    while True:
        page = client.search_registered_models(filter_string, max_results=1000, page_token=token)
        for m in page:
            stages = ", ".join(f"{v.current_stage} v{v.version}" for v in m.latest_versions)
            aliases = ", ".join(f"@{a} v{v}" for a, v in m.aliases.items())
            rows.append([m.name, stages, aliases, m.description or "", fmt_time(m.last_updated_timestamp)])
        token = page.token
        if not token:
            break
    if not rows:
        click.echo("no registered models (register one: tracklite models register MODEL_URI NAME)")
        return
    click.echo(render(["name", "latest versions", "aliases", "description", "updated"], rows, keep_whole=("name",)))


@models.command("show")
@STORE_OPTION
@click.argument("name")
@errors_as_messages
def models_show(store: str | None, name: str) -> None:
    """Show one registered model: description, tags, aliases and every version."""
    from tracklite._tables import render

    client = client_for(store)
    model = client.get_registered_model(name)
    click.echo(f"registered model {model.name}")
    click.echo(f"  description  {model.description or ''}")
    click.echo(f"  created      {fmt_time(model.creation_timestamp)}")
    click.echo(f"  updated      {fmt_time(model.last_updated_timestamp)}")
    click.echo("tags:" if model.tags else "tags: none")
    for k, v in model.tags.items():
        click.echo(f"  {k} = {v}")
    click.echo("aliases:" if model.aliases else "aliases: none")
    for alias, version in model.aliases.items():
        click.echo(f"  @{alias} -> version {version}")
    versions = client.search_model_versions(_name_filter(name), order_by=["version_number DESC"])
    rows = [
        [
            v.version,
            v.current_stage,
            ", ".join(f"@{a}" for a in v.aliases),
            v.run_id or "",
            v.source,
            ", ".join(f"{k}={val}" for k, val in v.tags.items()),
            fmt_time(v.creation_timestamp),
        ]
        for v in versions
    ]
    click.echo(
        render(["version", "stage", "aliases", "run_id", "source", "tags", "created"], rows, keep_whole=("run_id",))
        if rows
        else "versions: none"
    )


@models.command("register")
@STORE_OPTION
@click.argument("model_uri")
@click.argument("name")
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE tag for the new version; repeat for more.")
@errors_as_messages
def models_register(store: str | None, model_uri: str, name: str, tags: tuple[str, ...]) -> None:
    """Register MODEL_URI (runs:/RUN_ID/NAME, models:/MODEL_ID or a model directory) as the next
    version of NAME, creating NAME if needed."""
    client = client_for(store)
    version = client.store.registry.create_model_version(name, model_uri, tags=_parse_tags(tags), create_model=True)
    click.echo(f"registered {name} version {version.version}  (source {version.source})")
    click.echo(f"load it with: tracklite.pyfunc.load_model('models:/{name}/{version.version}')")


@models.command("transition")
@STORE_OPTION
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@click.option("--archive-existing", is_flag=True, help="Move the other versions in STAGE to Archived.")
@errors_as_messages
def models_transition(store: str | None, name: str, version: str, stage: str, archive_existing: bool) -> None:
    """Move VERSION of NAME to STAGE (None, Staging, Production or Archived)."""
    client = client_for(store)
    before = {v.version: v.current_stage for v in client.search_model_versions(_name_filter(name))}
    moved = client.transition_model_version_stage(name, version, stage, archive_existing_versions=archive_existing)
    click.echo(f"{name} version {moved.version}: {before.get(moved.version)} -> {moved.current_stage}")
    for v in client.search_model_versions(_name_filter(name)):
        if v.version != moved.version and before.get(v.version) != v.current_stage:
            click.echo(f"{name} version {v.version}: {before.get(v.version)} -> {v.current_stage}")


@models.command("alias")
@STORE_OPTION
@click.argument("name")
@click.argument("alias")
@click.argument("version")
@errors_as_messages
def models_alias(store: str | None, name: str, alias: str, version: str) -> None:
    """Point ALIAS of NAME at VERSION (load it as models:/NAME@ALIAS)."""
    client = client_for(store)
    before = client.get_registered_model(name).aliases.get(alias)
    client.set_registered_model_alias(name, alias, version)
    now = client.get_model_version_by_alias(name, alias).version
    was = "new" if before is None else f"was version {before}"
    click.echo(f"{name}@{alias} -> version {now}  ({was})")


@models.command("history")
@STORE_OPTION
@click.argument("name")
@errors_as_messages
def models_history(store: str | None, name: str) -> None:
    """Print every change to NAME: when, who, what, and the value before and after."""
    from tracklite._tables import render

    events = client_for(store).get_registry_history(name)
    rows = [
        [
            fmt_time(e.timestamp),
            e.user_id,
            e.action,
            e.name,
            "" if e.version is None else e.version,
            e.key or "",
            e.old_value,
            e.new_value,
        ]
        for e in events
    ]
    click.echo(render(["when", "user", "action", "model", "version", "key", "before", "after"], rows, keep_whole=()))
