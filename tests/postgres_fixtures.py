"""A real PostgreSQL server for the DuckLake tests: Debian's, started on 127.0.0.1 for the session.

``initdb`` and ``pg_ctl`` come from ``/usr/lib/postgresql/<version>/bin`` (``.ci/run``
installs the ``postgresql`` package when it is missing). PostgreSQL refuses to run as root,
so under root the cluster belongs to the ``postgres`` user. Each test gets its own database
(``lake_db``), so lakes never see each other.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from server_fixtures import free_port

USER = "tracklite"
_databases = itertools.count()


def _bin_dir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (.ci/run does it).")
    return os.path.dirname(initdb)


@dataclass
class Postgres:
    """A running PostgreSQL server on 127.0.0.1 (trust authentication for ``USER``)."""

    host: str
    port: int
    bin_dir: str
    data_dir: str = ""

    def restart(self) -> None:
        """Restart the server (``-m fast``: every client connection is cut)."""
        pg_ctl = os.path.join(self.bin_dir, "pg_ctl")
        log = os.path.join(os.path.dirname(self.data_dir), "server.log")
        # Output to a log file: the new server would otherwise hold our pipes open.
        subprocess.run(
            _as_owner([pg_ctl, "-D", self.data_dir, "-l", log, "-m", "fast", "-w", "restart"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
            timeout=120,
        )

    def create_database(self) -> str:
        """A fresh, empty database; its name."""
        name = f"lake_{os.getpid()}_{next(_databases)}"
        self.sql("postgres", f"CREATE DATABASE {name}")
        return name

    def sql(self, database: str, statement: str) -> str:
        """Run one statement with ``psql``; its output."""
        psql = [os.path.join(self.bin_dir, "psql"), "-h", self.host, "-p", str(self.port), "-U", USER]
        result = subprocess.run(
            [*psql, "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", statement],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout

    def lake_uri(self, database: str, data_path: str | Path) -> str:
        """The tracking URI of a lake with its catalog in ``database``."""
        return f"ducklake:postgresql://{USER}@{self.host}:{self.port}/{database}?data_path={data_path}"


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server for the whole session, stopped (and its files removed) at the end."""
    bin_dir = _bin_dir()
    # Not under pytest's temporary root: that is private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="tracklite-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    port = free_port()
    init = subprocess.run(
        _as_owner([os.path.join(bin_dir, "initdb"), "-D", str(data), "--auth=trust", "-U", USER, "-E", "UTF8"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stdout}{init.stderr}")
    # fsync off: a test server's durability is not under test, and it makes commits far cheaper.
    options = f"-p {port} -h 127.0.0.1 -k {folder} -c fsync=off -c max_connections=200"
    pg_ctl = os.path.join(bin_dir, "pg_ctl")
    start = subprocess.run(
        _as_owner([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if start.returncode != 0:
        raise RuntimeError(f"PostgreSQL did not start: {start.stderr}\n{(folder / 'server.log').read_text()}")
    try:
        yield Postgres("127.0.0.1", port, bin_dir, str(data))
    finally:
        subprocess.run(
            _as_owner([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]), capture_output=True, timeout=120
        )
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class LakeTemplate:
    """A lake with a fresh schema, copied for each test (``CREATE DATABASE ... TEMPLATE``
    and a copy of its data folder) instead of creating the schema every time."""

    postgres: Postgres
    database: str
    data_path: Path

    def new_lake(self, folder: Path) -> str:
        """A lake of its own for a test, under ``folder``; its tracking URI."""
        import psycopg

        name = f"lake_{os.getpid()}_{next(_databases)}"
        data = folder / "lake-data"
        shutil.copytree(self.data_path, data)
        conninfo = f"host={self.postgres.host} port={self.postgres.port} user={USER}"
        with psycopg.connect(conninfo + " dbname=postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {self.database}")
        with psycopg.connect(conninfo + f" dbname={name}", autocommit=True) as conn:
            # The catalog names its data folder; point the copy at its own.
            conn.execute(
                "UPDATE ducklake_metadata SET value = %s WHERE key = 'data_path'",
                [str(data).rstrip("/") + "/"],
            )
        return self.postgres.lake_uri(name, data)


@pytest.fixture(scope="session")
def lake_template(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> LakeTemplate:
    """An empty lake with tracklite's schema, to be copied by ``LakeTemplate.new_lake``."""
    from tracklite.store.lake_store import LakeStore

    database = postgres.create_database()
    data = tmp_path_factory.mktemp("lake-template")
    store = LakeStore(postgres.lake_uri(database, data))
    store.get_experiment("0")  # creates the schema
    store.close()
    return LakeTemplate(postgres, database, data)
