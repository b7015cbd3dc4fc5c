"""``tracklite server``, ``tracklite ui`` and ``tracklite users``: the tracking server."""

from __future__ import annotations

import click

from tracklite.cli_shared import STORE_OPTION
from tracklite.tracking._uri import get_tracking_uri


def _store_path(store: str | None) -> str:
    uri = store or get_tracking_uri()
    if "://" in uri and not uri.startswith(("file://", "ducklake:")):
        raise click.UsageError(f"--store must be a store file or a ducklake: lake, not {uri!r}.")
    return uri


@click.command("server")
@STORE_OPTION
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0: all).")
@click.option("--port", "-p", default=5000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--auth", is_flag=True, help="Require HTTP basic auth; users and permissions live in the store.")
@click.option("--no-ui", is_flag=True, help="Serve only the REST API, not the web UI.")
@click.option("--log-level", default="warning", show_default=True, help="uvicorn log level (info shows requests).")
def server(store: str | None, host: str, port: int, workers: int, auth: bool, no_ui: bool, log_level: str) -> None:
    """Serve a store over MLflow's REST API, with the web UI at /.

    MLflow clients use it with mlflow.set_tracking_uri("http://HOST:PORT"), tracklite's with
    tracklite.set_tracking_uri("http://HOST:PORT"). The server owns the store file.
    """
    from tracklite.server import run_server

    path = _store_path(store)
    if auth:
        from tracklite.server.auth import UserStore

        if not UserStore(path).has_admin():
            raise click.UsageError(
                "--auth needs an admin user first: run `tracklite users create NAME --admin --store "
                f"{path}` (it asks for the password)."
            )
    click.echo(f"tracklite server on http://{host}:{port} (store {path}{', auth on' if auth else ''})", err=True)
    run_server(path, host=host, port=port, workers=workers, auth=auth, ui=not no_ui, log_level=log_level)


@click.command("ui")
@STORE_OPTION
@click.option("--port", "-p", default=5000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
def ui(store: str | None, port: int) -> None:
    """Serve the web UI (and the REST API) on localhost and print its URL."""
    from tracklite.server import run_server

    path = _store_path(store)
    click.echo(f"tracklite UI: http://127.0.0.1:{port}/  (store {path}; Ctrl+C stops it)")
    run_server(path, host="127.0.0.1", port=port)


def _read_password(password_stdin: bool, prompt: str = "Password") -> str:
    import sys

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin read an empty password; pipe the password in on one line.")
        return password
    value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


@click.group("users")
def users() -> None:
    """Manage the tracking server's users and permissions (for `tracklite server --auth`).

    Works directly on the store file; a running server picks changes up within seconds.
    """


@users.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an admin (may do everything, manage users).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@STORE_OPTION
def users_create(name: str, admin: bool, password_stdin: bool, store: str | None) -> None:
    """Create user NAME (asks for the password twice unless --password-stdin)."""
    from tracklite.errors import TrackliteError
    from tracklite.server.auth import UserStore

    user_store = UserStore(_store_path(store))
    password = _read_password(password_stdin)
    try:
        user_store.create_user(name, password, is_admin=admin)
    except TrackliteError as e:
        raise click.ClickException(e.message) from None
    click.echo(f"created {'admin ' if admin else ''}user '{name}'")


@users.command("list")
@STORE_OPTION
def users_list(store: str | None) -> None:
    """List users, whether they are admins, and their permission grants."""
    from tracklite._tables import render
    from tracklite.cli_shared import fmt_time
    from tracklite.server.auth import UserStore

    user_store = UserStore(_store_path(store))
    rows = []
    for u in user_store.list_users():
        grants = user_store.grants_of(u.username)
        shown = [f"experiment {k}: {p}" for k, p in grants["experiment"]]
        shown += [f"model {k}: {p}" for k, p in grants["registered_model"]]
        rows.append([u.username, "yes" if u.is_admin else "", fmt_time(u.created_at), ", ".join(shown)])
    if not rows:
        click.echo("no users; create an admin with `tracklite users create NAME --admin`")
        return
    click.echo(render(["user", "admin", "created", "permissions"], rows))


@users.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from the first line of stdin.")
@STORE_OPTION
def users_set_password(name: str, password_stdin: bool, store: str | None) -> None:
    """Set user NAME's password (asks twice unless --password-stdin)."""
    from tracklite.errors import TrackliteError
    from tracklite.server.auth import UserStore

    user_store = UserStore(_store_path(store))
    try:
        user_store.get_user(name)
        user_store.set_password(name, _read_password(password_stdin, "New password"))
    except TrackliteError as e:
        raise click.ClickException(e.message) from None
    click.echo(f"password of '{name}' changed")


@users.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@STORE_OPTION
def users_delete(name: str, yes: bool, store: str | None) -> None:
    """Delete user NAME and their permission grants."""
    from tracklite.errors import TrackliteError
    from tracklite.server.auth import UserStore

    user_store = UserStore(_store_path(store))
    try:
        user = user_store.get_user(name)
        if user.is_admin and sum(u.is_admin for u in user_store.list_users()) == 1:
            raise click.ClickException(
                f"'{name}' is the only admin; `tracklite server --auth` needs one. Create another admin first."
            )
        if not yes:
            click.confirm(f"Delete user '{name}' and their permissions?", abort=True)
        user_store.delete_user(name)
    except TrackliteError as e:
        raise click.ClickException(e.message) from None
    click.echo(f"deleted user '{name}'")


@users.command("grant")
@click.argument("name")
@click.option("--experiment", "experiment_id", help="Experiment id to grant the permission on.")
@click.option("--model", "model_name", help="Registered model name to grant the permission on.")
@click.option(
    "--permission",
    required=True,
    type=click.Choice(["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"], case_sensitive=False),
    help="READ: read; EDIT: read and change; MANAGE: also delete and grant; NO_PERMISSIONS: nothing.",
)
@STORE_OPTION
def users_grant(
    name: str, experiment_id: str | None, model_name: str | None, permission: str, store: str | None
) -> None:
    """Give user NAME a permission on one experiment or registered model (replacing any earlier one)."""
    from tracklite.errors import TrackliteError
    from tracklite.server.auth import UserStore

    if (experiment_id is None) == (model_name is None):
        raise click.UsageError("Give exactly one of --experiment ID or --model NAME.")
    user_store = UserStore(_store_path(store))
    try:
        if experiment_id is not None:
            user_store.grant("experiment", experiment_id, name, permission.upper())
            what = f"experiment {experiment_id}"
        else:
            assert model_name is not None
            user_store.grant("registered_model", model_name, name, permission.upper())
            what = f"registered model '{model_name}'"
    except TrackliteError as e:
        raise click.ClickException(e.message) from None
    click.echo(f"'{name}' has {permission.upper()} on {what}")
