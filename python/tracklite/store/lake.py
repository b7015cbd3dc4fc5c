"""Reaching a DuckLake: the ``ducklake:`` tracking URI, the extensions, the ``ATTACH``.

A lake is DuckLake's catalog (tables, snapshots, file lists) in PostgreSQL plus its data as
Parquet files under a shared data path. Every process attaches it through an in-memory
DuckDB with the ``ducklake`` and ``postgres`` extensions; PostgreSQL's transactions keep
many writers on many hosts consistent, so no file lock is involved.

URIs::

    ducklake:postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME?data_path=/shared/lake
    ducklake:/path/to/catalog.ducklake?data_path=/path/to/data     # a DuckDB-file catalog: one process

A password may also come from ``PGPASSWORD`` or ``~/.pgpass``, as for any libpq client. The
extensions load from the ``duckdb-ext-ducklake`` / ``duckdb-ext-postgres`` wheels (the
``lake`` extra) when installed, else through DuckDB's own ``INSTALL`` (which needs internet).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tracklite.errors import InvalidParameterValue, TrackliteError

SCHEME = "ducklake:"
# No data inlining (small inserts kept in the catalog instead of a Parquet file each): in
# DuckLake 0.3 (DuckDB 1.4.4) with a PostgreSQL catalog it wrote infinities as the literal
# 1e1000, which PostgreSQL refuses, and once an empty VALUES list. Every commit writes its
# own small files instead, and gc merges them.
# What the extension files are called in the wheels (the postgres extension's file keeps its old name).
_EXTENSION_FILES = {"ducklake": "ducklake", "postgres": "postgres_scanner"}
_URI_HELP = (
    "Use ducklake:postgresql://USER@HOST:PORT/DBNAME?data_path=/shared/path (a PostgreSQL catalog) or "
    "ducklake:/path/catalog.ducklake?data_path=/path (a DuckDB-file catalog, one process at a time)."
)


@dataclass(frozen=True, slots=True)
class LakeLocation:
    """Where a lake lives.

    Attributes:
        catalog: What follows ``ducklake:`` in DuckDB's ``ATTACH`` (``postgres:<libpq string>``
            or a catalog file path).
        data_path: The folder (or object-store prefix) of the lake's Parquet files and artifacts.
        uri: The tracking URI it was read from, with any password removed.
    """

    catalog: str
    data_path: str
    uri: str

    @property
    def is_postgres(self) -> bool:
        """Whether the catalog is a PostgreSQL database (many processes and hosts)."""
        return self.catalog.startswith("postgres:")


def is_lake_uri(uri: str) -> bool:
    """Whether ``uri`` names a lake."""
    return uri.startswith(SCHEME)


def _libpq_value(value: str) -> str:
    """``value`` quoted for a libpq key=value string."""
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_lake_uri(uri: str) -> LakeLocation:
    """The catalog and data path a ``ducklake:`` URI names.

    Raises:
        InvalidParameterValue: for a URI without a catalog or ``data_path``, naming the forms it takes.
    """
    if not is_lake_uri(uri):
        raise InvalidParameterValue(f"{uri!r} is not a ducklake: URI. {_URI_HELP}")
    rest = uri[len(SCHEME) :]
    target, _, query = rest.partition("?")
    options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(options) - {"data_path"}
    if unknown:
        raise InvalidParameterValue(f"Unknown option(s) {sorted(unknown)} in {uri!r}; the one option is data_path.")
    data_path = options.get("data_path", "")
    if not data_path:
        raise InvalidParameterValue(f"{uri!r} names no data_path for the lake's Parquet files. {_URI_HELP}")
    if target.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(target)
        dbname = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not dbname:
            raise InvalidParameterValue(f"{uri!r} needs a host and a database name. {_URI_HELP}")
        fields = {"dbname": dbname, "host": parts.hostname}
        if parts.port:
            fields["port"] = str(parts.port)
        if parts.username:
            fields["user"] = unquote(parts.username)
        if parts.password:
            fields["password"] = unquote(parts.password)
        catalog = "postgres:" + " ".join(f"{k}={_libpq_value(v)}" for k, v in fields.items())
        shown = uri.replace(f":{parts.password}@", ":***@") if parts.password else uri
        return LakeLocation(catalog, data_path, shown)
    if "://" in target or not target:
        raise InvalidParameterValue(f"Unsupported lake catalog in {uri!r}. {_URI_HELP}")
    return LakeLocation(os.path.abspath(target), data_path, uri)


def _extension_file(name: str, version: str, platform: str) -> str | None:
    """The extension's file in the installed ``duckdb-ext-*`` wheel, if there is one."""
    spec = importlib.util.find_spec("duckdb_ext")
    for base in list(spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(base, "extensions", f"v{version}", platform, f"{_EXTENSION_FILES[name]}.duckdb_extension")
        if os.path.exists(path):
            return path
    return None


def load_extensions(con: Any, location: LakeLocation) -> None:
    """Load ``ducklake`` (and ``postgres`` for a PostgreSQL catalog) into ``con``.

    Raises:
        TrackliteError: naming the package to install when an extension is not available.
    """
    import duckdb

    platform = con.execute("PRAGMA platform").fetchone()[0]
    for name in ("ducklake", "postgres") if location.is_postgres else ("ducklake",):
        path = _extension_file(name, duckdb.__version__, platform)
        try:
            if path is not None:
                con.execute(f"LOAD '{path}'")
            else:
                con.execute(f"INSTALL {name}")
                con.execute(f"LOAD {name}")
        except duckdb.Error as exc:
            raise TrackliteError(
                f"DuckDB's {name} extension is not available for DuckDB {duckdb.__version__} on {platform}: "
                f"install it with `pip install 'tracklite[lake]'` (or give DuckDB internet access for INSTALL). "
                f"({str(exc).splitlines()[0]})"
            ) from None


def attach(con: Any, location: LakeLocation, alias: str = "lake") -> None:
    """Attach the lake to ``con`` as ``alias`` and make it the default catalog.

    Raises:
        TrackliteError: when the catalog cannot be reached, saying which one.
    """
    import duckdb

    load_extensions(con, location)
    if "://" not in location.data_path:  # a local or mounted folder, not an object-store prefix
        os.makedirs(location.data_path, exist_ok=True)
    target = f"ducklake:{location.catalog}".replace("'", "''")
    data_path = location.data_path.replace("'", "''")
    try:
        con.execute(f"ATTACH '{target}' AS {alias} (DATA_PATH '{data_path}')")
    except duckdb.Error as exc:
        raise TrackliteError(f"Cannot open the lake {location.uri}: {str(exc).splitlines()[0]}") from None
    con.execute(f"USE {alias}")
