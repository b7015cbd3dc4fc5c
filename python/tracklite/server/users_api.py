"""MLflow's user and permission management endpoints (its basic-auth app), for ``--auth``.

* ``users/create|get|current|list|update-password|update-admin|delete``: admins manage
  users; any user may read their own record and change their own password (giving the
  current one, as MLflow 3 asks).
* ``experiments/permissions/create|get|update|delete`` and
  ``registered-models/permissions/create|get|update|delete``: whoever has MANAGE on the
  experiment or registered model (and admins) manage who may do what with it.

Without ``--auth`` these endpoints answer 404: there are no users to manage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracklite.errors import InvalidParameterValue, PermissionDenied
from tracklite.server.app import RequestError, ServerContext
from tracklite.server.endpoints import BOOLEAN, STRING, endpoint

if TYPE_CHECKING:
    from tracklite.server.auth import BasicAuth, ResourceKind, UserInfo


def _auth(ctx: ServerContext) -> BasicAuth:
    from tracklite.server.auth import BasicAuth

    if not isinstance(ctx.authorizer, BasicAuth):
        raise RequestError(
            "User management needs authentication: start the server with `tracklite server --auth`.",
            http_status=404,
            error_code="ENDPOINT_NOT_FOUND",
        )
    return ctx.authorizer


def _caller() -> str:
    from tracklite.users import acting_user

    return acting_user.get() or ""


def _self_or_admin(auth: BasicAuth, username: str) -> None:
    caller = _caller()
    if caller != username and not auth.is_admin(caller):
        raise PermissionDenied(f"Permission denied: user '{caller}' may only see and change their own account.")


def _user_json(auth: BasicAuth, user: UserInfo) -> dict[str, Any]:
    from tracklite.server.auth import user_id

    uid = user_id(user.username)
    grants = auth.users.grants_of(user.username)
    return {
        "id": uid,
        "username": user.username,
        "is_admin": user.is_admin,
        "experiment_permissions": [
            {"experiment_id": e, "user_id": uid, "permission": p} for e, p in grants["experiment"]
        ],
        "registered_model_permissions": [
            {"name": n, "user_id": uid, "permission": p} for n, p in grants["registered_model"]
        ],
    }


# -- users ---------------------------------------------------------------------------------------

_USER_PASSWORD = {"username": STRING, "password": STRING}


@endpoint("users/create", "POST", fields={**_USER_PASSWORD, "is_admin": BOOLEAN}, need="ADMIN")
def create_user(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Create a user (admins only)."""
    auth = _auth(ctx)
    if not args.get("username") or not args.get("password"):
        raise InvalidParameterValue("Username and password cannot be empty.")
    user = auth.users.create_user(args["username"], args["password"], bool(args.get("is_admin", False)))
    return {"user": _user_json(auth, user)}


@endpoint("users/get", "GET", fields={"username": STRING}, required=("username",), need="USER")
def get_user(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """A user and their grants (yourself, or anyone for admins)."""
    auth = _auth(ctx)
    _self_or_admin(auth, args["username"])
    return {"user": _user_json(auth, auth.users.get_user(args["username"]))}


@endpoint("users/current", "GET", need="USER")
def get_current_user(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """The signed-in user and their grants."""
    auth = _auth(ctx)
    return {"user": _user_json(auth, auth.users.get_user(_caller()))}


@endpoint("users/list", "GET", need="ADMIN")
def list_users(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Every user (admins only)."""
    auth = _auth(ctx)
    return {"users": [_user_json(auth, u) for u in auth.users.list_users()]}


@endpoint(
    "users/update-password",
    "PATCH",
    fields={**_USER_PASSWORD, "current_password": STRING},
    required=("username", "password"),
    need="USER",
)
def update_user_password(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Change a password: your own (with ``current_password``), or anyone's for admins."""
    auth = _auth(ctx)
    username = args["username"]
    _self_or_admin(auth, username)
    if _caller() == username:
        current = args.get("current_password")
        if not current:
            raise InvalidParameterValue("Current password is required when changing your own password.")
        if not auth.users.authenticate(username, current):
            raise InvalidParameterValue("Current password does not match.")
        if current == args["password"]:
            raise InvalidParameterValue("New password must differ from the current password.")
    auth.users.set_password(username, args["password"])
    return {}


@endpoint(
    "users/update-admin",
    "PATCH",
    fields={"username": STRING, "is_admin": BOOLEAN},
    required=("username", "is_admin"),
    need="ADMIN",
)
def update_user_admin(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Make a user an admin or not (admins only)."""
    _auth(ctx).users.set_admin(args["username"], args["is_admin"])
    return {}


@endpoint("users/delete", "DELETE", fields={"username": STRING}, required=("username",), need="ADMIN")
def delete_user(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
    """Delete a user and their grants (admins only; not yourself)."""
    auth = _auth(ctx)
    if args["username"] == _caller():
        raise InvalidParameterValue("You cannot delete your own account; ask another admin.")
    auth.users.delete_user(args["username"])
    return {}


# -- permissions ---------------------------------------------------------------------------------


def _permission_json(kind: ResourceKind, key: str, username: str, permission: str) -> dict[str, Any]:
    from tracklite.server.auth import user_id

    if kind == "experiment":
        return {"experiment_permission": {"experiment_id": key, "user_id": user_id(username), "permission": permission}}
    return {"registered_model_permission": {"name": key, "user_id": user_id(username), "permission": permission}}


def _declare_permission_endpoints(kind: ResourceKind, base: str, key_field: str) -> None:
    fields = {key_field: STRING, "username": STRING, "permission": STRING}
    keyed = (key_field, "username")
    label = "an experiment" if kind == "experiment" else "a registered model"

    def create(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
        auth = _auth(ctx)
        key, user, perm = args[key_field], args["username"], args["permission"].upper()
        auth.users.grant(kind, key, user, perm, create_only=True)
        return _permission_json(kind, key, user, perm)

    def get(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
        auth = _auth(ctx)
        key, user = args[key_field], args["username"]
        return _permission_json(kind, key, user, auth.users.get_permission(kind, key, user))

    def update(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
        _auth(ctx).users.update_permission(kind, args[key_field], args["username"], args["permission"])
        return {}

    def delete(ctx: ServerContext, args: dict[str, Any]) -> dict[str, Any]:
        _auth(ctx).users.revoke(kind, args[key_field], args["username"])
        return {}

    create.__doc__ = f"Grant a user a permission on {label} (MANAGE on it, or admin)."
    get.__doc__ = f"A user's permission on {label} (MANAGE on it, or admin)."
    update.__doc__ = f"Change a user's permission on {label} (MANAGE on it, or admin)."
    delete.__doc__ = f"Remove a user's permission on {label} (MANAGE on it, or admin)."
    resource = "experiment" if kind == "experiment" else "registered_model"
    common: dict[str, Any] = {"need": "MANAGE", "resource": resource}
    endpoint(f"{base}/create", "POST", fields=fields, required=(*keyed, "permission"), **common)(create)
    endpoint(f"{base}/get", "GET", fields=fields, required=keyed, **common)(get)
    endpoint(f"{base}/update", "PATCH", fields=fields, required=(*keyed, "permission"), **common)(update)
    endpoint(f"{base}/delete", "DELETE", fields=fields, required=keyed, **common)(delete)


_declare_permission_endpoints("experiment", "experiments/permissions", "experiment_id")
_declare_permission_endpoints("registered_model", "registered-models/permissions", "name")
