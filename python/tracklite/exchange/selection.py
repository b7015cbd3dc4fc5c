"""What an export covers (experiments chosen by name or id, runs by a filter) and each chunk of
runs read in one open of the store: shared by the exports into MLflow's formats."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from tracklite.entities import ViewType
from tracklite.errors import ResourceDoesNotExist


class RunRow(NamedTuple):
    """A run's attributes as the exports read them (the fields are the ``runs`` columns)."""

    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    deleted_time: int | None
    artifact_uri: str
    run_key: int


def experiment_ids(con: Any, experiments: Sequence[str] | None) -> list[str]:
    """The ids of ``experiments`` (names or ids), every experiment's for None.

    Raises:
        ResourceDoesNotExist: for a name or id the store does not have.
    """
    rows = con.execute("SELECT experiment_id, name FROM experiments ORDER BY experiment_id").fetchall()
    if experiments is None:
        return [r[0] for r in rows]
    by_name = {name: eid for eid, name in rows}
    ids = {eid for eid, _ in rows}
    chosen = []
    for wanted in experiments:
        if wanted in ids:
            chosen.append(wanted)
        elif wanted in by_name:
            chosen.append(by_name[wanted])
        else:
            raise ResourceDoesNotExist(
                f"No experiment with name or id '{wanted}'; `tracklite experiments list` shows them."
            )
    return list(dict.fromkeys(chosen))


def read_experiments(store: Any, exp_ids: list[str]) -> tuple[list[tuple[Any, ...]], dict[str, dict[str, str]]]:
    """Rows of ``(experiment_id, name, lifecycle_stage, creation_time, last_update_time)`` in id
    order, and each experiment's tags."""
    with store._read() as con:
        rows = con.execute(
            "SELECT experiment_id, name, lifecycle_stage, creation_time, last_update_time FROM experiments "
            "WHERE list_contains(?, experiment_id) ORDER BY experiment_id",
            [exp_ids],
        ).fetchall()
        tag_rows = con.execute(
            "SELECT experiment_id, key, value FROM experiment_tags WHERE list_contains(?, experiment_id) ORDER BY key",
            [exp_ids],
        ).fetchall()
    tags: dict[str, dict[str, str]] = {}
    for exp_id, key, value in tag_rows:
        tags.setdefault(exp_id, {})[key] = value
    return rows, tags


def select(store: Any, experiments: Sequence[str] | None, runs_filter: str | None) -> tuple[list[str], list[str]]:
    """The experiment ids and run ids (deleted ones too, in creation order) an export covers.

    Raises:
        ResourceDoesNotExist: for an unknown experiment.
        InvalidParameterValue: for a malformed filter.
    """
    with store._read() as con:
        exp_ids = experiment_ids(con, experiments)
    if runs_filter is not None:
        return exp_ids, [r.info.run_id for r in store.search_runs(exp_ids, ViewType.ALL, runs_filter, None, None)]
    with store._read() as con:
        rows = con.execute(
            "SELECT run_id FROM runs WHERE list_contains(?, experiment_id) ORDER BY run_key", [exp_ids]
        ).fetchall()
    return exp_ids, [r[0] for r in rows]


def read_runs(
    store: Any, run_ids: list[str]
) -> tuple[list[RunRow], dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]]]:
    """The runs of ``run_ids`` (in no particular order) and each one's params and tags, sorted by key."""
    with store._read() as con:
        runs = [
            RunRow(*row)
            for row in con.execute(
                f"SELECT {', '.join(RunRow._fields)} FROM runs WHERE list_contains(?, run_id)", [run_ids]
            ).fetchall()
        ]
        params = con.execute(
            "SELECT run_id, key, value FROM params WHERE list_contains(?, run_id) ORDER BY key", [run_ids]
        ).fetchall()
        tags = con.execute(
            "SELECT run_id, key, value FROM tags WHERE list_contains(?, run_id) ORDER BY key", [run_ids]
        ).fetchall()
    by_run: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {r.run_id: ([], []) for r in runs}
    for run_id, key, value in params:
        by_run[run_id][0].append((key, value))
    for run_id, key, value in tags:
        by_run[run_id][1].append((key, value))
    return runs, by_run


def registered_models(store: Any) -> list[Any]:
    """Every registered model of the store, a page of a thousand at a time."""
    models: list[Any] = []
    while True:
        page = store.registry.search_registered_models(None, 1000, None, len(models))
        models.extend(page)
        if len(page) < 1000:
            return models
