"""Artifacts stored inside the store file: content-addressed, chunked, streamed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import tracklite
from tracklite import Client
from tracklite.store import artifacts as art

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake


def test_log_and_list_and_download(client: Client, tmp_path: Path) -> None:
    rid = client.create_run("0").info.run_id
    src = tmp_path / "src"
    (src / "sub" / "dir").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "dir" / "b.txt").write_text("beta")
    client.log_artifacts(rid, str(src), artifact_path="tree")
    client.log_artifact(rid, str(src / "a.txt"))
    client.log_text(rid, "hello", "notes/readme.md")
    client.log_dict(rid, {"a": 1, "b": [1, 2]}, "cfg/config.yaml")
    client.log_dict(rid, {"a": 1}, "cfg/config.json")
    top = client.list_artifacts(rid)
    assert [(f.path, f.is_dir) for f in top] == [("a.txt", False), ("cfg", True), ("notes", True), ("tree", True)]
    assert top[0].file_size == 5
    assert [f.path for f in client.list_artifacts(rid, "tree")] == ["tree/a.txt", "tree/sub"]
    assert client.list_artifacts(rid, "a.txt") == []
    out = tmp_path / "out"
    local = client.download_artifacts(rid, "tree", str(out))
    assert Path(local, "sub", "dir", "b.txt").read_text() == "beta"
    one = client.download_artifacts(rid, "notes/readme.md", str(out))
    assert Path(one).read_text() == "hello"
    assert tracklite.load_dict(f"runs:/{rid}/cfg/config.yaml") == {"a": 1, "b": [1, 2]}
    assert tracklite.load_dict(f"runs:/{rid}/cfg/config.json") == {"a": 1}
    assert tracklite.load_text(f"runs:/{rid}/notes/readme.md") == "hello"
    with pytest.raises(tracklite.ResourceDoesNotExist):
        client.download_artifacts(rid, "nope", str(out))


def test_fluent_artifact_uri_and_load(store_path: str) -> None:
    with tracklite.start_run() as run:
        tracklite.log_text("x", "t.txt")
        uri = tracklite.get_artifact_uri("t.txt")
        assert uri == f"{run.info.artifact_uri}/t.txt"
        assert tracklite.load_text(uri) == "x"
        assert tracklite.get_artifact_uri().endswith(f"/{run.info.run_id}/artifacts")


def test_identical_bytes_stored_once(client: Client) -> None:
    blob = os.urandom(3 * 1024 * 1024)
    for i in range(3):
        rid = client.create_run("0").info.run_id
        client.store.log_artifact_bytes(rid, blob, f"copy{i}.bin")  # type: ignore[attr-defined]
    stats = client.store.stats()  # type: ignore[attr-defined]
    assert stats["counts"]["artifact_chunks"] == 1 and stats["artifact_bytes"] == len(blob)


def test_large_file_streams_in_chunks(client: Client, tmp_path: Path) -> None:
    rid = client.create_run("0").info.run_id
    big = tmp_path / "big.bin"
    rng = np.random.default_rng(0)
    with open(big, "wb") as fh:
        for _ in range(5):  # 5 x 7 MiB: spans several chunks, not chunk-aligned
            fh.write(rng.bytes(7 * 1024 * 1024))
    client.log_artifact(rid, str(big))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    with client.store.connector.connect() as con:  # type: ignore[attr-defined]
        size, chunks = con.execute("SELECT size, len(chunks) FROM artifact_files WHERE path = 'big.bin'").fetchone()
    assert size == big.stat().st_size and chunks == -(-size // art.CHUNK_SIZE)
    out = client.download_artifacts(rid, "big.bin", str(tmp_path / "dl"))
    assert hashlib.sha256(Path(out).read_bytes()).hexdigest() == digest


def test_log_image_and_figure(client: Client) -> None:
    pytest.importorskip("PIL")
    rid = client.create_run("0").info.run_id
    client.log_image(rid, np.zeros((8, 8, 3), dtype=np.uint8), "img/black.png")
    client.log_image(rid, np.ones((4, 4)), "img/white.png")
    with pytest.raises(tracklite.InvalidParameterValue):
        client.log_image(rid, np.full((2, 2), 300), "img/bad.png")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    client.log_figure(rid, fig, "plots/line.png")
    plt.close(fig)
    data = client.read_artifact(rid, "plots/line.png")
    assert data.startswith(b"\x89PNG")
    assert client.read_artifact(rid, "img/black.png").startswith(b"\x89PNG")


def test_gc_removes_deleted_runs_and_orphan_chunks(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(art.ORPHAN_AGE_ENV, "0")  # a lake's chunk files: no grace for other hosts' writes
    keep = client.create_run("0").info.run_id
    drop = client.create_run("0").info.run_id
    client.store.log_artifact_bytes(drop, b"only-in-drop", "x.bin")  # type: ignore[attr-defined]
    client.store.log_artifact_bytes(keep, b"kept", "y.bin")  # type: ignore[attr-defined]
    client.log_metric(drop, "m", 1.0)
    client.log_param(drop, "p", 1)
    client.delete_run(drop)
    done = client.store.gc()  # type: ignore[attr-defined]
    assert done["runs"] == 1 and done["chunks"] == 1
    with pytest.raises(tracklite.ResourceDoesNotExist):
        client.get_run(drop)
    assert client.read_artifact(keep, "y.bin") == b"kept"
