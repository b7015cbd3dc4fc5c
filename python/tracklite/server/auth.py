"""``tracklite server --auth``: HTTP basic auth and MLflow's per-resource permissions.

Users live in the store (``users``: name, salted scrypt hash, admin flag) and so do their
grants (``experiment_permissions``, ``registered_model_permissions``). The rules are those
of MLflow's basic-auth app:

* a permission is one of ``READ`` (read), ``EDIT`` (read, update), ``MANAGE`` (read,
  update, delete, manage permissions) or ``NO_PERMISSIONS``;
* each endpoint declares what it needs (``Endpoint.need``) on the resource its request
  names (``Endpoint.resource``): an experiment, a run's experiment, a logged model's
  experiment, a registered model, or the owner of an artifact path;
* a user with no grant on a resource has the default permission (``READ``, or
  ``$TRACKLITE_AUTH_DEFAULT_PERMISSION``);
* admins may do everything; whoever creates an experiment or a registered model gets
  ``MANAGE`` on it; searches return only what the caller may read.

:class:`UserStore` reads and writes the users and grants (the ``tracklite users`` CLI and
the user-management endpoints use it); :class:`BasicAuth` is the server's ``Authorizer``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tracklite.errors import (
    InvalidParameterValue,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    Unauthenticated,
)
from tracklite.server.login_guard import LoginGuard

if TYPE_CHECKING:
    from starlette.requests import Request

    from tracklite.server.endpoints import Endpoint


@dataclass(frozen=True)
class Permission:
    """What a permission level allows (MLflow's ``mlflow.server.auth.permissions``).

    Attributes:
        name: ``READ``, ``EDIT``, ``MANAGE`` or ``NO_PERMISSIONS``.
        can_read: May read the resource.
        can_update: May change it (log to runs, edit descriptions, move stages).
        can_delete: May delete or restore it.
        can_manage: May grant others permissions on it.
    """

    name: str
    can_read: bool
    can_update: bool
    can_delete: bool
    can_manage: bool


READ = Permission("READ", True, False, False, False)
EDIT = Permission("EDIT", True, True, False, False)
MANAGE = Permission("MANAGE", True, True, True, True)
NO_PERMISSIONS = Permission("NO_PERMISSIONS", False, False, False, False)
#: Every permission level by name.
PERMISSIONS: dict[str, Permission] = {p.name: p for p in (READ, EDIT, MANAGE, NO_PERMISSIONS)}

#: The kinds of resource a grant is on.
ResourceKind = Literal["experiment", "registered_model"]

_NEED_CHECK: dict[str, Callable[[Permission], bool]] = {
    "READ": lambda p: p.can_read,
    "EDIT": lambda p: p.can_update,
    "MANAGE": lambda p: p.can_delete and p.can_manage,
}

# scrypt cost: 16 MiB and some tens of milliseconds per check (OWASP's minimum is N=2**17
# with r=8 for interactive logins; the server caches successful checks, see BasicAuth).
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_MAXMEM = 256 * 1024 * 1024


def get_permission(name: str) -> Permission:
    """The permission level called ``name``.

    Raises:
        InvalidParameterValue: for anything but READ, EDIT, MANAGE or NO_PERMISSIONS.
    """
    try:
        return PERMISSIONS[name.upper() if isinstance(name, str) else name]
    except (KeyError, TypeError):
        raise InvalidParameterValue(
            f"Invalid permission '{name}'. Valid permissions are: {', '.join(PERMISSIONS)}."
        ) from None


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``: ``scrypt$N$r$p$salt$hash`` (base64 parts)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=_SCRYPT_MAXMEM, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (constant-time compare)."""
    try:
        scheme, n, r, p, salt_b64, hash_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(hash_b64, validate=True)
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(digest, expected)


def user_id(username: str) -> int:
    """The number MLflow's JSON shows as a user's ``id``/``user_id``: stable, derived from the
    name (tracklite keys users by name)."""
    return zlib.crc32(username.encode("utf-8")) & 0x7FFFFFFF


@dataclass(frozen=True)
class UserInfo:
    """A user of the tracking server.

    Attributes:
        username: The login name.
        is_admin: Admins may do everything, including managing users.
        created_at: Creation time, milliseconds since the epoch.
    """

    username: str
    is_admin: bool
    created_at: int


@dataclass
class AuthSnapshot:
    """Every user and grant, as read at ``loaded_at`` (they are few; one read serves many requests)."""

    users: dict[str, tuple[str, bool]] = field(default_factory=dict)
    experiments: dict[tuple[str, str], str] = field(default_factory=dict)
    registered_models: dict[tuple[str, str], str] = field(default_factory=dict)
    generation: int = -1
    loaded_at: float = 0.0


def _check_username(username: str) -> None:
    if not isinstance(username, str) or not username.strip():
        raise InvalidParameterValue("Username cannot be empty.")
    if ":" in username:
        raise InvalidParameterValue(f"Username '{username}' contains ':', which HTTP basic auth cannot carry.")
    if len(username) > 256:
        raise InvalidParameterValue("Username is longer than 256 characters.")


def _check_password(password: str) -> None:
    if not isinstance(password, str) or not password:
        raise InvalidParameterValue("Password cannot be empty.")


_GENERATIONS: dict[str, int] = {}
_GENERATIONS_LOCK = threading.Lock()


class UserStore:
    """The users and permission grants in a store file.

    Works directly on the file (the server need not run); a running server sees changes
    within its cache time (``TRACKLITE_AUTH_CACHE_TTL``, 2 s).

    Args:
        path: The store file (created if missing).

    Examples:
        >>> import os, tempfile
        >>> users = UserStore(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> users.has_admin()
        False
        >>> users.create_user("alice", "s3cret", is_admin=True).is_admin
        True
        >>> users.authenticate("alice", "s3cret"), users.authenticate("alice", "nope")
        (True, False)
    """

    def __init__(self, path: str) -> None:
        from tracklite.store import get_store

        store: Any = get_store(path)
        self._store = store
        self._connector = store.connector
        self._path = str(store.path)

    @property
    def generation(self) -> int:
        """Bumped on every write to this store's users or grants from this process, so
        caches in this process reload at once."""
        return _GENERATIONS.get(self._path, 0)

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._connector.connect() as con:
            yield con

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._connector.transaction() as con:
            yield con
        with _GENERATIONS_LOCK:
            _GENERATIONS[self._path] = _GENERATIONS.get(self._path, 0) + 1

    # -- users ---------------------------------------------------------------------------

    def has_admin(self) -> bool:
        """Whether any admin user exists (``tracklite server --auth`` needs one)."""
        with self._read() as con:
            return bool(con.execute("SELECT count(*) FROM users WHERE is_admin").fetchone()[0])

    def create_user(self, name: str, password: str, is_admin: bool = False) -> UserInfo:
        """Add a user.

        Args:
            name: Login name (no ``:``).
            password: The password; only a salted scrypt hash is stored.
            is_admin: Make the user an admin.

        Raises:
            InvalidParameterValue: for an empty name or password.
            ResourceAlreadyExists: if the name is taken.
        """
        _check_username(name)
        _check_password(password)
        hashed = hash_password(password)
        now = int(time.time() * 1000)
        with self._write() as con:
            if con.execute("SELECT 1 FROM users WHERE username = ?", [name]).fetchone():
                raise ResourceAlreadyExists(f"User '{name}' already exists.")
            con.execute("INSERT INTO users VALUES (?, ?, ?, ?)", [name, hashed, bool(is_admin), now])
        return UserInfo(name, bool(is_admin), now)

    def get_user(self, name: str) -> UserInfo:
        """The user called ``name``.

        Raises:
            ResourceDoesNotExist: if there is none.
        """
        with self._read() as con:
            row = con.execute("SELECT username, is_admin, created_at FROM users WHERE username = ?", [name]).fetchone()
        if row is None:
            raise ResourceDoesNotExist(f"User with username={name} not found; `tracklite users list` shows the users.")
        return UserInfo(row[0], bool(row[1]), int(row[2]))

    def list_users(self) -> list[UserInfo]:
        """Every user, by name."""
        with self._read() as con:
            rows = con.execute("SELECT username, is_admin, created_at FROM users ORDER BY username").fetchall()
        return [UserInfo(r[0], bool(r[1]), int(r[2])) for r in rows]

    def authenticate(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s (False for unknown users)."""
        with self._read() as con:
            row = con.execute("SELECT password_hash FROM users WHERE username = ?", [name]).fetchone()
        return row is not None and verify_password(password, row[0])

    def set_password(self, name: str, password: str) -> None:
        """Change ``name``'s password.

        Raises:
            InvalidParameterValue: for an empty password.
            ResourceDoesNotExist: for an unknown user.
        """
        _check_password(password)
        hashed = hash_password(password)
        with self._write() as con:
            self._require_user(con, name)
            con.execute("UPDATE users SET password_hash = ? WHERE username = ?", [hashed, name])

    def set_admin(self, name: str, is_admin: bool) -> None:
        """Make ``name`` an admin or not.

        Raises:
            ResourceDoesNotExist: for an unknown user.
        """
        with self._write() as con:
            self._require_user(con, name)
            con.execute("UPDATE users SET is_admin = ? WHERE username = ?", [bool(is_admin), name])

    def delete_user(self, name: str) -> None:
        """Remove ``name`` and every grant they hold.

        Raises:
            ResourceDoesNotExist: for an unknown user.
        """
        with self._write() as con:
            self._require_user(con, name)
            con.execute("DELETE FROM users WHERE username = ?", [name])
            con.execute("DELETE FROM experiment_permissions WHERE username = ?", [name])
            con.execute("DELETE FROM registered_model_permissions WHERE username = ?", [name])

    @staticmethod
    def _require_user(con: Any, name: str) -> None:
        if not con.execute("SELECT 1 FROM users WHERE username = ?", [name]).fetchone():
            raise ResourceDoesNotExist(f"User with username={name} not found; `tracklite users list` shows the users.")

    # -- grants ----------------------------------------------------------------------------

    @staticmethod
    def _table(kind: ResourceKind) -> tuple[str, str]:
        if kind == "experiment":
            return "experiment_permissions", "experiment_id"
        if kind == "registered_model":
            return "registered_model_permissions", "name"
        raise InvalidParameterValue(f"Unknown resource kind {kind!r}; expected 'experiment' or 'registered_model'.")

    def _require_resource(self, con: Any, kind: ResourceKind, key: str) -> None:
        if kind == "experiment":
            if not con.execute("SELECT 1 FROM experiments WHERE experiment_id = ?", [key]).fetchone():
                raise ResourceDoesNotExist(f"No experiment with id '{key}'; `tracklite experiments list` shows them.")
        elif not con.execute("SELECT 1 FROM registered_models WHERE name = ?", [key]).fetchone():
            raise ResourceDoesNotExist(f"Registered model with name={key} not found.")

    def get_permission(self, kind: ResourceKind, key: str, username: str) -> str:
        """The permission ``username`` was granted on an experiment id or registered model name.

        Raises:
            ResourceDoesNotExist: if there is no such grant.
        """
        table, column = self._table(kind)
        with self._read() as con:
            row = con.execute(
                f"SELECT permission FROM {table} WHERE {column} = ? AND username = ?", [key, username]
            ).fetchone()
        if row is None:
            what = "Experiment" if kind == "experiment" else "Registered model"
            raise ResourceDoesNotExist(f"{what} permission with {column}={key} and username={username} not found.")
        return str(row[0])

    def grant(self, kind: ResourceKind, key: str, username: str, permission: str, *, create_only: bool = False) -> None:
        """Give ``username`` ``permission`` on an experiment id or registered model name
        (replacing an earlier grant).

        Args:
            kind: ``"experiment"`` or ``"registered_model"``.
            key: The experiment id or registered model name.
            username: Who gets it.
            permission: READ, EDIT, MANAGE or NO_PERMISSIONS.
            create_only: Fail if a grant exists already (MLflow's ``permissions/create``).

        Raises:
            InvalidParameterValue: for an unknown permission.
            ResourceDoesNotExist: for an unknown user, experiment or registered model.
            ResourceAlreadyExists: with ``create_only`` when a grant exists.
        """
        perm = get_permission(permission).name
        table, column = self._table(kind)
        with self._write() as con:
            self._require_user(con, username)
            self._require_resource(con, kind, key)
            exists = con.execute(
                f"SELECT 1 FROM {table} WHERE {column} = ? AND username = ?", [key, username]
            ).fetchone()
            if exists and create_only:
                what = "Experiment" if kind == "experiment" else "Registered model"
                raise ResourceAlreadyExists(f"{what} permission ({column}={key}, username={username}) already exists.")
            con.execute(f"DELETE FROM {table} WHERE {column} = ? AND username = ?", [key, username])
            con.execute(f"INSERT INTO {table} VALUES (?, ?, ?)", [key, username, perm])

    def update_permission(self, kind: ResourceKind, key: str, username: str, permission: str) -> None:
        """Change an existing grant.

        Raises:
            InvalidParameterValue: for an unknown permission.
            ResourceDoesNotExist: if there is no such grant.
        """
        perm = get_permission(permission).name
        self.get_permission(kind, key, username)
        table, column = self._table(kind)
        with self._write() as con:
            con.execute(f"UPDATE {table} SET permission = ? WHERE {column} = ? AND username = ?", [perm, key, username])

    def revoke(self, kind: ResourceKind, key: str, username: str) -> None:
        """Remove ``username``'s grant on an experiment id or registered model name.

        Raises:
            ResourceDoesNotExist: if there is no such grant.
        """
        self.get_permission(kind, key, username)
        table, column = self._table(kind)
        with self._write() as con:
            con.execute(f"DELETE FROM {table} WHERE {column} = ? AND username = ?", [key, username])

    def grants_of(self, username: str) -> dict[ResourceKind, list[tuple[str, str]]]:
        """``username``'s grants: ``{"experiment": [(id, permission)], "registered_model": [(name, permission)]}``."""
        with self._read() as con:
            exps = con.execute(
                "SELECT experiment_id, permission FROM experiment_permissions WHERE username = ? ORDER BY 1", [username]
            ).fetchall()
            models = con.execute(
                "SELECT name, permission FROM registered_model_permissions WHERE username = ? ORDER BY 1", [username]
            ).fetchall()
        return {"experiment": [(r[0], r[1]) for r in exps], "registered_model": [(r[0], r[1]) for r in models]}

    def rename_registered_model(self, old: str, new: str) -> None:
        """Move the grants on registered model ``old`` to ``new`` (after a rename)."""
        with self._write() as con:
            con.execute("UPDATE registered_model_permissions SET name = ? WHERE name = ?", [new, old])

    def forget_registered_model(self, name: str) -> None:
        """Drop every grant on registered model ``name`` (after it is deleted)."""
        with self._write() as con:
            con.execute("DELETE FROM registered_model_permissions WHERE name = ?", [name])

    def snapshot(self) -> AuthSnapshot:
        """Every user and grant, read in one short open of the file."""
        generation = self.generation
        with self._read() as con:
            users = con.execute("SELECT username, password_hash, is_admin FROM users").fetchall()
            exps = con.execute("SELECT experiment_id, username, permission FROM experiment_permissions").fetchall()
            models = con.execute("SELECT name, username, permission FROM registered_model_permissions").fetchall()
        return AuthSnapshot(
            users={r[0]: (r[1], bool(r[2])) for r in users},
            experiments={(r[0], r[1]): r[2] for r in exps},
            registered_models={(r[0], r[1]): r[2] for r in models},
            generation=generation,
            loaded_at=time.monotonic(),
        )

    # -- resources -------------------------------------------------------------------------

    def lookup(self, query: str, key: str) -> str | None:
        """The first column of the first row ``query`` finds for ``key`` (None if none)."""
        with self._read() as con:
            row = con.execute(query, [key]).fetchone()
        return None if row is None else str(row[0])


# Successful password checks are remembered this long (scrypt is slow on purpose). The
# cached entry names the hash it was checked against, so a password change, a deleted user
# or a new hash is seen as soon as the users snapshot reloads.
_VERIFIED_TTL_S = 60.0


@functools.cache
def _dummy_hash() -> str:
    """What an unknown user's password is checked against, so that the answer takes as long
    as for a known user (login_guard.py); made at the first sign-in, not at import."""
    return hash_password(os.urandom(16).hex())


_VERIFIED_MAX = 10_000
_IMMUTABLE_MAX = 100_000

# Endpoints whose result is filtered to what the caller may read: (prefix, path) -> list key,
# and how to find the resource of one listed item.
_FILTERS: dict[tuple[str, str], tuple[str, ResourceKind, Callable[[dict[str, Any]], str]]] = {
    ("mlflow", "experiments/search"): ("experiments", "experiment", lambda o: str(o.get("experiment_id"))),
    ("mlflow", "runs/search"): ("runs", "experiment", lambda o: str(o.get("info", {}).get("experiment_id"))),
    ("mlflow", "logged-models/search"): ("models", "experiment", lambda o: str(o.get("info", {}).get("experiment_id"))),
    ("mlflow", "registered-models/search"): ("registered_models", "registered_model", lambda o: str(o.get("name"))),
    ("mlflow", "model-versions/search"): ("model_versions", "registered_model", lambda o: str(o.get("name"))),
}


class BasicAuth:
    """The server's ``Authorizer`` for ``--auth``: HTTP basic auth against the store's users,
    MLflow's permission rules (see the module docstring).

    Users and grants are read in one query set and kept for ``cache_ttl`` seconds (writes
    through this process reload at once); another worker process's changes show within
    that time.

    Args:
        store_path: The store file the server owns.
        default_permission: For users without a grant on a resource; default
            ``$TRACKLITE_AUTH_DEFAULT_PERMISSION`` or READ (MLflow's ``default_permission``).
        cache_ttl: Seconds a users-and-grants snapshot is used; default
            ``$TRACKLITE_AUTH_CACHE_TTL`` or 2.

    Raises:
        InvalidParameterValue: for an unknown default permission.
    """

    def __init__(
        self, store_path: str, *, default_permission: str | None = None, cache_ttl: float | None = None
    ) -> None:
        self.users = UserStore(store_path)
        name = default_permission or os.environ.get("TRACKLITE_AUTH_DEFAULT_PERMISSION") or "READ"
        self.default_permission = get_permission(name)
        self.cache_ttl = float(os.environ.get("TRACKLITE_AUTH_CACHE_TTL", "2")) if cache_ttl is None else cache_ttl
        self._lock = threading.Lock()
        self._snap: AuthSnapshot | None = None
        self._verified: dict[tuple[str, str], tuple[str, float]] = {}
        self.guard = LoginGuard()
        # Runs and logged models never move between experiments: remember where they are.
        self._run_experiment: dict[str, str] = {}
        self._logged_model_experiment: dict[str, str] = {}

    # -- state -------------------------------------------------------------------------------

    def snapshot(self) -> AuthSnapshot:
        """The users and grants, reloaded when older than ``cache_ttl`` or after a write here."""
        snap = self._snap
        if (
            snap is None
            or snap.generation != self.users.generation
            or time.monotonic() - snap.loaded_at > self.cache_ttl
        ):
            with self._lock:
                snap = self._snap
                if (
                    snap is None
                    or snap.generation != self.users.generation
                    or time.monotonic() - snap.loaded_at > self.cache_ttl
                ):
                    snap = self.users.snapshot()
                    self._snap = snap
        return snap

    def is_admin(self, username: str | None) -> bool:
        """Whether ``username`` is an admin."""
        entry = self.snapshot().users.get(username or "")
        return bool(entry and entry[1])

    def permission(self, username: str, kind: ResourceKind, key: str) -> Permission:
        """``username``'s permission on an experiment id or registered model name (their
        grant, else the default permission). Admins are not special here."""
        snap = self.snapshot()
        grants = snap.experiments if kind == "experiment" else snap.registered_models
        name = grants.get((key, username))
        return PERMISSIONS.get(name, self.default_permission) if name else self.default_permission

    def can_read(self, username: str | None, kind: ResourceKind, key: str) -> bool:
        """Whether ``username`` may read the resource (admins may read everything)."""
        if username is None or self.is_admin(username):
            return True
        return self.permission(username, kind, key).can_read

    # -- the Authorizer protocol -------------------------------------------------------------

    def authenticate(self, request: Request) -> str:
        """The user named by the request's ``Authorization: Basic`` header.

        Raises:
            Unauthenticated: for a missing, malformed or wrong user name or password (401).
        """
        header = request.headers.get("authorization")
        if not header:
            raise Unauthenticated(
                "You are not authenticated: send HTTP basic auth credentials (MLflow clients read "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)."
            )
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise Unauthenticated(f"Unsupported authorization scheme '{scheme}'; this server takes HTTP basic auth.")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise Unauthenticated("Malformed basic auth credentials; expected base64 of 'username:password'.") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise Unauthenticated("Invalid username or password.")
        entry = self.snapshot().users.get(username)
        stored = entry[0] if entry is not None else None
        key = (username, hashlib.sha256(password.encode("utf-8")).hexdigest())
        cached = self._verified.get(key)
        if stored is not None and cached is not None and cached[0] == stored and cached[1] > time.monotonic():
            return username  # checked recently: no scrypt, no queue, no backoff
        client = request.client.host if request.client else "unknown"
        if not self.guard.check(username, client, lambda: self._check(key, stored, password)):
            raise Unauthenticated("Invalid username or password.")
        return username

    def _check(self, key: tuple[str, str], stored: str | None, password: str) -> bool:
        """One scrypt check; an unknown user's costs the same, against a dummy hash."""
        if stored is None:
            verify_password(password, _dummy_hash())
            return False
        if not verify_password(password, stored):
            return False
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[key] = (stored, time.monotonic() + _VERIFIED_TTL_S)
        return True

    def authorize(self, user: str | None, ep: Endpoint, args: dict[str, Any]) -> None:
        """Check ``user`` may call ``ep`` with ``args`` (see the module docstring).

        Raises:
            PermissionDenied: if not (403).
        """
        if user is None or ep.need in ("PUBLIC", "USER", "CREATE"):
            return
        if self.is_admin(user):
            return
        if ep.need == "ADMIN":
            raise PermissionDenied(f"Permission denied: only admins may call {ep.path}; user '{user}' is not one.")
        check = _NEED_CHECK[ep.need]
        for kind, key in self._targets(ep, args):
            perm = self.permission(user, kind, key)
            if not check(perm):
                what = "experiment" if kind == "experiment" else "registered model"
                raise PermissionDenied(
                    f"Permission denied: user '{user}' has {perm.name} on {what} '{key}' and needs "
                    f"{ep.need} for {ep.path}; an admin or a user with MANAGE on it can grant it."
                )
        # A model version is a copy of its source: making one reads the source.
        for kind, key in self._source_targets(ep, args):
            perm = self.permission(user, kind, key)
            if not perm.can_read:
                what = "experiment" if kind == "experiment" else "registered model"
                raise PermissionDenied(
                    f"Permission denied: user '{user}' has {perm.name} on {what} '{key}', which the source "
                    f"of {ep.path} belongs to, and needs READ there to copy it."
                )

    def after(self, user: str | None, ep: Endpoint, args: dict[str, Any], result: Any) -> Any:
        """Grant creators MANAGE, keep grants in step with renames and deletes of registered
        models, and filter search results to what ``user`` may read."""
        if user is None or ep.need == "PUBLIC":
            return result
        where = (ep.prefix, ep.path)
        if where == ("mlflow", "experiments/create") and isinstance(result, dict) and result.get("experiment_id"):
            self.users.grant("experiment", str(result["experiment_id"]), user, "MANAGE")
        elif where == ("mlflow", "registered-models/create") and isinstance(result, dict):
            name = result.get("registered_model", {}).get("name")
            if name:
                self.users.grant("registered_model", name, user, "MANAGE")
        elif where == ("mlflow", "registered-models/rename"):
            self.users.rename_registered_model(args["name"], args["new_name"])
        elif where == ("mlflow", "registered-models/delete"):
            self.users.forget_registered_model(args["name"])
        elif where in _FILTERS and isinstance(result, dict) and not self.is_admin(user):
            list_key, kind, resource_of = _FILTERS[where]
            items = result.get(list_key)
            if isinstance(items, list):
                result[list_key] = [o for o in items if self.permission(user, kind, resource_of(o)).can_read]
        return result

    # -- which resources a request names -------------------------------------------------------

    def _targets(self, ep: Endpoint, args: dict[str, Any]) -> list[tuple[ResourceKind, str]]:
        """The experiments and registered models a request acts on. A resource that does not
        exist names nothing, so the handler answers its usual 404."""
        resource = ep.resource
        if resource == "experiment":
            if args.get("experiment_id") not in (None, ""):
                return [("experiment", str(args["experiment_id"]))]
            if args.get("experiment_name"):
                found = self.users.lookup(
                    "SELECT experiment_id FROM experiments WHERE name = ?", str(args["experiment_name"])
                )
                return [("experiment", found)] if found is not None else []
            return []
        if resource == "run":
            ids = [args.get("run_id") or args.get("run_uuid")]
            ids += list(args.get("run_ids") or [])
            return [("experiment", e) for e in (self._experiment_of_run(str(r)) for r in ids if r) if e]
        if resource == "registered_model":
            return [("registered_model", str(args["name"]))] if args.get("name") else []
        if resource == "logged_model":
            found = self._experiment_of_logged_model(str(args.get("model_id") or ""))
            return [("experiment", found)] if found else []
        if resource == "artifact":
            return self._artifact_targets(str(args.get("artifact_path", args.get("path", "")) or ""))
        # "none": searches name experiments in the request; the results are filtered in after().
        return [("experiment", str(e)) for e in args.get("experiment_ids") or []]

    def _source_targets(self, ep: Endpoint, args: dict[str, Any]) -> list[tuple[ResourceKind, str]]:
        """What a version-creating request copies from: its ``source``, ``model_id`` and ``run_id``."""
        if (ep.prefix, ep.path) != ("mlflow", "model-versions/create"):
            return []
        from tracklite.server.protocol import stored_uri

        experiments = [
            self._experiment_of_run(str(args["run_id"])) if args.get("run_id") else None,
            self._experiment_of_logged_model(str(args["model_id"])) if args.get("model_id") else None,
        ]
        targets: list[tuple[ResourceKind, str]] = []
        source = stored_uri(str(args.get("source") or ""))
        if source.startswith("runs:/"):
            experiments.append(self._experiment_of_run(source.removeprefix("runs:/").split("/", 1)[0]))
        elif source.startswith("models:/"):
            ref = source.removeprefix("models:/")
            name = ref.split("/", 1)[0].split("@", 1)[0]
            if "/" in ref or "@" in ref:  # <name>/<version|stage|latest> or <name>@<alias>
                targets.append(("registered_model", name))
            else:  # a logged model's id
                experiments.append(self._experiment_of_logged_model(name))
        elif source.startswith("tracklite-artifacts:/"):
            targets += self._artifact_targets(source.removeprefix("tracklite-artifacts:/").lstrip("/"))
        return targets + [("experiment", e) for e in experiments if e]

    def _artifact_targets(self, path: str) -> list[tuple[ResourceKind, str]]:
        from tracklite.server.artifacts_api import artifact_target

        target = artifact_target(path)  # refuses traversal with a 400 before anything is read
        if target.kind in ("run", "logged_model") and target.experiment_id:
            return [("experiment", target.experiment_id)]
        if target.kind == "registry" and target.owner:
            key = target.owner.split("/", 1)[0]
            name = self.users.lookup("SELECT name FROM registered_models WHERE CAST(model_key AS VARCHAR) = ?", key)
            return [("registered_model", name)] if name is not None else []
        return []  # above any root: lists nothing, downloads nothing, uploads are refused

    def _experiment_of_run(self, run_id: str) -> str | None:
        found = self._run_experiment.get(run_id)
        if found is None:
            found = self.users.lookup("SELECT experiment_id FROM runs WHERE run_id = ?", run_id)
            if found is not None:
                if len(self._run_experiment) >= _IMMUTABLE_MAX:
                    self._run_experiment.clear()
                self._run_experiment[run_id] = found
        return found

    def _experiment_of_logged_model(self, model_id: str) -> str | None:
        found = self._logged_model_experiment.get(model_id)
        if found is None and model_id:
            found = self.users.lookup("SELECT experiment_id FROM logged_models WHERE model_id = ?", model_id)
            if found is not None:
                if len(self._logged_model_experiment) >= _IMMUTABLE_MAX:
                    self._logged_model_experiment.clear()
                self._logged_model_experiment[model_id] = found
        return found


__all__ = [
    "EDIT",
    "MANAGE",
    "NO_PERMISSIONS",
    "PERMISSIONS",
    "READ",
    "AuthSnapshot",
    "BasicAuth",
    "Permission",
    "UserInfo",
    "UserStore",
    "get_permission",
    "hash_password",
    "user_id",
    "verify_password",
]
