"""Artifacts inside the store: content-addressed, chunked blobs.

A file is cut into chunks of ``CHUNK_SIZE`` bytes; each chunk is stored once under its
SHA-256 in ``artifact_chunks``, and ``artifact_files`` maps ``(root, path)`` to the
ordered chunk digests. The same bytes logged twice (a model re-logged, a dataset in
every run) are stored once, and files of any size stream through memory one chunk at
a time in both directions.

On a lake the chunks are files instead, ``<chunk_dir>/<2 hex>/<sha256>``, where every host
reads them; the connection says where (its ``chunk_dir``, see ``store.lake_store``).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import time
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

from tracklite.entities import FileInfo
from tracklite.errors import InvalidParameterValue, ResourceDoesNotExist

ARTIFACT_SCHEME = "tracklite-artifacts:/"
CHUNK_SIZE = 4 * 1024 * 1024
_BATCH_BYTES = 16 * 1024 * 1024  # small files read per query when downloading a tree
# A chunk file no row refers to is only deleted this many seconds after it was written: a
# writer on another host may have written it and not yet committed the row that refers to it.
ORPHAN_AGE_ENV = "TRACKLITE_ORPHAN_CHUNK_AGE"


def chunk_folder(con: Any) -> str | None:
    """The folder of chunk files when ``con`` is a lake's connection, else None (chunks are rows)."""
    return getattr(con, "chunk_dir", None)


def chunk_file(folder: str, digest: str) -> str:
    """Where the chunk ``digest`` lives under a lake's chunk folder."""
    return os.path.join(folder, digest[:2], digest)


def put_chunk(con: Any, digest: str, data: bytes) -> None:
    """Store one chunk under its SHA-256 ``digest`` unless it is already there."""
    folder = chunk_folder(con)
    if folder is None:
        con.execute(
            "INSERT INTO artifact_chunks (digest, size, data) SELECT ?, ?, ? WHERE NOT EXISTS "
            "(SELECT 1 FROM artifact_chunks WHERE digest = ?)",
            [digest, len(data), data, digest],
        )
        return
    path = chunk_file(folder, digest)
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Written aside and renamed: a reader on any host sees the whole chunk or none of it.
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def artifact_root(artifact_uri: str) -> str:
    """The key under which files are stored, from an artifact URI (``tracklite-artifacts:/<root>``)."""
    return artifact_uri[len(ARTIFACT_SCHEME) :] if artifact_uri.startswith(ARTIFACT_SCHEME) else artifact_uri


def clean_artifact_path(path: str | None) -> str:
    """Normalise a relative artifact path; ``""`` means the root.

    Raises:
        InvalidParameterValue: for absolute paths, ``..`` escapes, backslashes or NULs.
    """
    if path is None or path in ("", "."):
        return ""
    if not isinstance(path, str):
        raise InvalidParameterValue(f"Invalid artifact path {path!r}: expected a string.")
    bad = (
        path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or (len(path) > 1 and path[1] == ":" and path[0].isascii() and path[0].isalpha())  # C:, a drive
        or any(part == ".." for part in path.split("/"))
    )
    if bad:
        raise InvalidParameterValue(
            f"Invalid artifact path '{path}': artifact paths must be relative and stay inside the artifact "
            "root (no leading '/', no drive letter, no '..' segments, no backslashes). Use e.g. 'plots/loss.png'."
        )
    cleaned = posixpath.normpath(path)
    return "" if cleaned == "." else cleaned


def put_stream(con: Any, root: str, path: str, stream: BinaryIO) -> int:
    """Store the bytes of ``stream`` as artifact ``path`` under ``root``; returns the size.

    Replaces an existing file at the same path. The caller holds a transaction.
    """
    whole = hashlib.sha256()
    digests: list[str] = []
    size = 0
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            break
        whole.update(chunk)
        digest = hashlib.sha256(chunk).hexdigest()
        digests.append(digest)
        size += len(chunk)
        put_chunk(con, digest, chunk)
    con.execute("DELETE FROM artifact_files WHERE root = ? AND path = ?", [root, path])
    con.execute(
        "INSERT INTO artifact_files (root, path, size, digest, chunks, created_time) VALUES (?, ?, ?, ?, ?, ?)",
        [root, path, size, whole.hexdigest(), digests, int(time.time() * 1000)],
    )
    return size


def put_dir(con: Any, root: str, local_dir: str) -> None:
    """Store every file below ``local_dir`` under ``root``, at its relative path."""
    for dirpath, _dirs, files in os.walk(local_dir):
        for file in sorted(files):
            full = os.path.join(dirpath, file)
            rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
            with open(full, "rb") as stream:
                put_stream(con, root, rel, stream)


def copy_tree(con: Any, src_root: str, src_path: str, dst_root: str) -> int:
    """Give ``dst_root`` its own file rows for every file at or below ``src_path`` of ``src_root``
    (paths made relative to ``src_path``). Only rows are written: the chunks are shared, so the
    copy costs no bytes and outlives any change to the source. Returns the number of files."""
    cut = len(src_path) + 1 if src_path else 0
    (copied,) = con.execute(
        "INSERT INTO artifact_files (root, path, size, digest, chunks, created_time) "
        "SELECT ?, CASE WHEN path = ? THEN regexp_extract(path, '[^/]+$') ELSE substr(path, ? + 1) END, "
        "size, digest, chunks, ? FROM artifact_files "
        "WHERE root = ? AND (? = '' OR path = ? OR starts_with(path, ? || '/'))",
        [dst_root, src_path, cut, int(time.time() * 1000), src_root, src_path, src_path, src_path],
    ).fetchone()
    return int(copied)


def list_files(con: Any, root: str, path: str = "") -> list[FileInfo]:
    """The direct children of directory ``path`` under ``root``, as MLflow lists them.

    Paths in the result are relative to ``root`` (MLflow's ``list_artifacts``). A file
    or missing path lists as empty.
    """
    prefix = f"{path}/" if path else ""
    rows = con.execute(
        "SELECT path, size FROM artifact_files WHERE root = ? AND starts_with(path, ?) ORDER BY path",
        [root, prefix],
    ).fetchall()
    seen: dict[str, FileInfo] = {}
    for full, size in rows:
        rest = full[len(prefix) :]
        head, sep, _ = rest.partition("/")
        child = prefix + head
        if sep:
            seen.setdefault(child, FileInfo(child, True, None))
        else:
            seen[child] = FileInfo(child, False, int(size))
    return sorted(seen.values(), key=lambda f: f.path)


def file_chunks(con: Any, root: str, path: str) -> tuple[int, list[str]] | None:
    """``(size, chunk digests)`` of one artifact file, or None if it is not a file."""
    row = con.execute("SELECT size, chunks FROM artifact_files WHERE root = ? AND path = ?", [root, path]).fetchone()
    return None if row is None else (int(row[0]), list(row[1]))


def files_under(con: Any, root: str, path: str) -> list[tuple[str, int, list[str]]]:
    """Every file at or below ``path`` as ``(path, size, chunk digests)``."""
    if path:
        rows = con.execute(
            "SELECT path, size, chunks FROM artifact_files WHERE root = ? AND (path = ? OR starts_with(path, ?))"
            " ORDER BY path",
            [root, path, path + "/"],
        ).fetchall()
    else:
        rows = con.execute(
            "SELECT path, size, chunks FROM artifact_files WHERE root = ? ORDER BY path", [root]
        ).fetchall()
    return [(p, int(s), list(c)) for p, s, c in rows]


def read_chunk(con: Any, digest: str) -> bytes:
    """One chunk's bytes."""
    found = read_chunks(con, [digest])
    if digest not in found:
        raise ResourceDoesNotExist(f"artifact chunk {digest} is missing from the store; run `tracklite doctor`")
    return found[digest]


def present_chunks(con: Any, digests: list[str]) -> list[str]:
    """Which of ``digests`` the store has."""
    folder = chunk_folder(con)
    if folder is None:
        rows = con.execute("SELECT digest FROM artifact_chunks WHERE list_contains(?, digest)", [digests])
        return [r[0] for r in rows.fetchall()]
    return [d for d in digests if os.path.exists(chunk_file(folder, d))]


def read_chunks(con: Any, digests: list[str]) -> dict[str, bytes]:
    """The bytes of the chunks among ``digests`` that the store has, by digest."""
    folder = chunk_folder(con)
    if folder is None:
        rows = con.execute("SELECT digest, data FROM artifact_chunks WHERE list_contains(?, digest)", [digests])
        return {d: bytes(b) for d, b in rows.fetchall()}
    found = {}
    for digest in dict.fromkeys(digests):
        try:
            with open(chunk_file(folder, digest), "rb") as f:
                found[digest] = f.read()
        except FileNotFoundError:
            pass
    return found


def iter_file(connect: Any, root: str, path: str) -> Iterator[bytes]:
    """Yield a file's bytes chunk by chunk, opening the store briefly for each chunk.

    Args:
        connect: A callable returning a context manager that yields a connection.
    """
    with connect() as con:
        found = file_chunks(con, root, path)
    if found is None:
        raise ResourceDoesNotExist(f"No such artifact: '{path}'")
    for digest in found[1]:
        # Yield outside the connection: the consumer may resume this generator in
        # another thread (a server streaming a download), and the store's lock is per thread.
        with connect() as con:
            data = read_chunk(con, digest)
        yield data


def write_tree(connect: Any, root: str, path: str, dst_dir: str) -> str:
    """Download the file or directory ``path`` under ``root`` into ``dst_dir``.

    Returns:
        The local path of the downloaded file or directory.

    Raises:
        ResourceDoesNotExist: if nothing is stored at ``path``.
    """
    with connect() as con:
        files = files_under(con, root, path)
    if not files:
        raise ResourceDoesNotExist(
            f"No such artifact: '{path}'; list what the run has with `Client().list_artifacts(run_id)`"
        )
    # Small files (a model directory's MLmodel, YAML and pickle) come in batched queries;
    # big ones stream a chunk at a time, so memory stays bounded either way.
    loaded: dict[str, bytes] = {}

    def fetch(digests: list[str]) -> None:
        with connect() as con:
            loaded.update(read_chunks(con, digests))

    batch: list[str] = []
    batch_bytes = 0
    for _rel, size, digests in files:
        if size > CHUNK_SIZE:
            continue
        if batch and batch_bytes + size > _BATCH_BYTES:
            fetch(batch)
            batch, batch_bytes = [], 0
        batch += digests
        batch_bytes += size
    if batch:
        fetch(batch)
    for rel, _size, digests in files:
        # MLflow keeps the artifact's relative path below the destination.
        target = os.path.join(dst_dir, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as out:
            for digest in digests:
                data = loaded.pop(digest, None)
                if data is None:
                    with connect() as con:
                        data = read_chunk(con, digest)
                out.write(data)
    return os.path.join(dst_dir, path) if path else dst_dir


def delete_root(con: Any, root: str) -> None:
    """Forget every file under ``root`` (chunks are reclaimed by ``gc``)."""
    con.execute("DELETE FROM artifact_files WHERE root = ?", [root])


def delete_orphan_chunks(con: Any) -> int:
    """Delete chunks no file refers to; returns how many."""
    folder = chunk_folder(con)
    if folder is not None:
        return _delete_orphan_chunk_files(con, folder)
    n = con.execute(
        "SELECT count(*) FROM artifact_chunks WHERE digest NOT IN (SELECT DISTINCT unnest(chunks) FROM artifact_files)"
    ).fetchone()[0]
    if n:
        con.execute(
            "DELETE FROM artifact_chunks WHERE digest NOT IN (SELECT DISTINCT unnest(chunks) FROM artifact_files)"
        )
    return int(n)


def _delete_orphan_chunk_files(con: Any, folder: str) -> int:
    if not os.path.isdir(folder):
        return 0
    used = {r[0] for r in con.execute("SELECT DISTINCT unnest(chunks) FROM artifact_files").fetchall()}
    cutoff = time.time() - float(os.environ.get(ORPHAN_AGE_ENV, "3600"))
    removed = 0
    for sub in os.listdir(folder):
        for name in os.listdir(os.path.join(folder, sub)):
            path = os.path.join(folder, sub, name)
            if name not in used and os.path.getmtime(path) < cutoff:
                os.unlink(path)
                removed += not name.endswith(".tmp")
    return removed
