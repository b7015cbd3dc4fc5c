"""Run search (docs/search.md) against an independent reference (tests/search_reference.py).

The reference is a plain-Python evaluator of the documented grammar; these tests check it
on hand-written tables first (always run), then compare ``Client.search_runs`` and the
fluent ``tracklite.search_runs`` with it and with the same tables.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import search_reference as ref
import tracklite
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from search_reference import RunRecord
from tracklite import Client, Metric, Param, RunTag, ViewType
from tracklite.store import _STORES

ALSO_ON_LAKE = True  # conftest: tests using store_path run on a store file and on a lake

needs_search = pytest.mark.skipif(
    not hasattr(tracklite.Client, "search_runs"), reason="Client.search_runs is not implemented yet"
)
needs_fluent_search = pytest.mark.skipif(
    not hasattr(tracklite, "search_runs"), reason="tracklite.search_runs is not implemented yet"
)

nan, inf = math.nan, math.inf

# ---------------------------------------------------------------------------------------
# Building runs from specs (through the real API) and the matching reference records


def make_runs(client: Client, experiment_id: str, specs: Sequence[dict[str, Any]]) -> list[tuple[RunRecord, bool]]:
    """Create one run per spec; return (record, deleted) pairs for the reference.

    A spec has ``name``, ``start``, ``end`` (None or (status, end_time)), ``metrics``
    (key -> value, or key -> list of values logged at steps 0, 1, ...: the last is the
    latest), ``params``, ``tags`` and optionally ``deleted``.
    """
    out = []
    for spec in specs:
        run = client.create_run(experiment_id, start_time=spec["start"], run_name=spec["name"])
        rid = run.info.run_id
        metrics = []
        latest = {}
        for key, logged in spec.get("metrics", {}).items():
            values = logged if isinstance(logged, list) else [logged]
            metrics += [Metric(key, v, 1_000 + step, step) for step, v in enumerate(values)]
            latest[key] = values[-1]
        client.log_batch(
            rid,
            metrics=metrics,
            params=[Param(k, v) for k, v in spec.get("params", {}).items()],
            tags=[RunTag(k, v) for k, v in spec.get("tags", {}).items()],
        )
        if spec.get("end") is not None:
            status, end_time = spec["end"]
            client.set_terminated(rid, status=status, end_time=end_time)
        if spec.get("deleted"):
            client.delete_run(rid)
        info = client.get_run(rid).info
        record = RunRecord(
            run_id=rid,
            run_name=spec["name"],
            status=spec["end"][0] if spec.get("end") else "RUNNING",
            user_id=info.user_id,
            artifact_uri=info.artifact_uri,
            start_time=spec["start"],
            end_time=spec["end"][1] if spec.get("end") else None,
            metrics=latest,
            params=dict(spec.get("params", {})),
            tags={**spec.get("tags", {}), "mlflow.runName": spec["name"]},
        )
        out.append((record, bool(spec.get("deleted"))))
    return out


def _ids(runs: Sequence[tracklite.Run]) -> list[str]:
    return [r.info.run_id for r in runs]


def _visible(pairs: Sequence[tuple[RunRecord, bool]], view: int) -> list[RunRecord]:
    keep = {ViewType.ACTIVE_ONLY: (False,), ViewType.DELETED_ONLY: (True,), ViewType.ALL: (False, True)}[view]
    return [rec for rec, deleted in pairs if deleted in keep]


# ---------------------------------------------------------------------------------------
# The fixed fixture: five active runs, one deleted, one in another experiment

FIXTURE: list[dict[str, Any]] = [
    {
        "name": "alpha",
        "start": 1000,
        "end": ("FINISHED", 2000),
        "params": {"lr": "0.1", "opt": "adam", "my key": "v 1", "a/b:c": "x"},
        "metrics": {"loss": [7.0, 0.5], "acc": 0.9},  # loss was 7.0 at step 0; latest 0.5
        "tags": {"team": "a", "note": "it's", "quote": 'say "hi"'},
    },
    {
        "name": "beta",
        "start": 2000,
        "end": ("FAILED", 3000),
        "params": {"lr": "0.10", "opt": "Adam"},
        "metrics": {"loss": 1.5, "acc": [0.3, nan]},
        "tags": {"team": "b"},
    },
    {
        "name": "gamma",
        "start": 3000,
        "end": None,
        "params": {"lr": "0.2"},
        "metrics": {"loss": inf},
        "tags": {"team": "a_b"},
    },
    {
        "name": "delta_x",
        "start": 2000,
        "end": ("KILLED", 2500),
        "params": {},
        "metrics": {"loss": -inf},
        "tags": {"x y": "50%"},
    },
    {
        "name": "it's",
        "start": 500,
        "end": ("FINISHED", 600),
        "params": {"opt": "sgd", "p.q-r": "1"},
        "metrics": {"acc": 0.1},
        "tags": {"team": "A"},
    },
]
GHOST = {"name": "ghost", "start": 2500, "end": ("FINISHED", 2600), "params": {"lr": "0.1"}, "deleted": True}
OUTSIDER = {"name": "outsider", "start": 9000, "end": None, "params": {"lr": "0.1", "opt": "adam"},
            "metrics": {"loss": 0.5, "acc": 0.9}, "tags": {"team": "a"}}  # fmt: skip
ALL_NAMES = {"alpha", "beta", "gamma", "delta_x", "it's"}


def _fake_records() -> list[RunRecord]:
    """The FIXTURE as plain records with made-up ids (for the reference on its own)."""
    out = []
    for i, spec in enumerate(FIXTURE):
        rid = f"{i:02d}fake{spec['name'].replace(chr(39), '')}"
        out.append(
            RunRecord(
                run_id=rid,
                run_name=spec["name"],
                status=spec["end"][0] if spec["end"] else "RUNNING",
                user_id="tester",
                artifact_uri=f"file:///art/{rid}/artifacts",
                start_time=spec["start"],
                end_time=spec["end"][1] if spec["end"] else None,
                metrics={k: (v[-1] if isinstance(v, list) else v) for k, v in spec["metrics"].items()},
                params=dict(spec["params"]),
                tags={**spec["tags"], "mlflow.runName": spec["name"]},
            )
        )
    return out


def _subst(text: str, records: Sequence[RunRecord]) -> str:
    """Fill {alpha}, {beta}, ... with run ids and {user} with the user id."""
    for rec in records:
        text = text.replace("{" + rec.run_name + "}", rec.run_id)
    return text.replace("{user}", records[0].user_id)


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The FIXTURE in a store file; tests open their own ``Client(path)`` on it."""
    path = str(tmp_path_factory.mktemp("search") / "fixture.duckdb")
    client = Client(path)
    exp = client.create_experiment("fixture")
    other = client.create_experiment("other")
    pairs = make_runs(client, exp, [*FIXTURE, GHOST])
    make_runs(client, other, [OUTSIDER])
    records = [rec for rec, deleted in pairs if not deleted]
    yield {"path": path, "exp": exp, "other": other, "records": records, "pairs": pairs}
    store = _STORES.pop(client.store.path, None)
    if store is not None:
        store.close()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------
# Hand-written tables (checked against the reference and against the implementation)

FILTERS: list[tuple[str, set[str]]] = [
    ("", ALL_NAMES),
    # params compare as strings
    ("params.lr = '0.1'", {"alpha"}),
    ("params.lr = '0.10'", {"beta"}),
    ('params.lr = "0.1"', {"alpha"}),
    ("params.lr != '0.1'", {"beta", "gamma"}),  # runs without lr never match !=
    ("params.lr IS NULL", {"delta_x", "it's"}),
    ("params.lr is not null", {"alpha", "beta", "gamma"}),
    ("params.opt IN ('adam', 'sgd')", {"alpha", "it's"}),
    ("params.opt NOT IN ('adam')", {"beta", "it's"}),
    ("params.opt not in ('adam','Adam','sgd')", set()),
    ("params.opt = 'adam '", set()),
    # quoting of keys
    ("params.\"my key\" = 'v 1'", {"alpha"}),
    ("params.`my key` = 'v 1'", {"alpha"}),
    ("params.p.q-r = '1'", {"it's"}),
    ("params.\"p.q-r\" = '1'", {"it's"}),
    ("params.a/b:c = 'x'", {"alpha"}),
    ("tags.mlflow.runName = 'beta'", {"beta"}),
    ("tags.`mlflow.runName` = 'beta'", {"beta"}),
    ("tags.\"x y\" LIKE '50%'", {"delta_x"}),
    ("tags.`x y` = '50%'", {"delta_x"}),
    # quotes inside values
    ("tags.note = 'it''s'", {"alpha"}),
    ('tags.note = "it\'s"', {"alpha"}),
    ("tags.quote = 'say \"hi\"'", {"alpha"}),
    ('tags.quote = "say ""hi"""', {"alpha"}),
    ("run_name = 'it''s'", {"it's"}),
    ("tags.note LIKE '%''%'", {"alpha"}),
    # metrics compare as numbers, latest value, NaN/inf
    ("metrics.loss > 1", {"beta", "gamma"}),
    ("metrics.loss > 5", {"gamma"}),  # alpha's 7.0 is not its latest value
    ("metrics.loss < 0", {"delta_x"}),
    ("metrics.loss = 0.5", {"alpha"}),
    ("metrics.loss = 0.50", {"alpha"}),
    ("metrics.loss >= -1", {"alpha", "beta", "gamma"}),
    ("metrics.loss <= 1000000", {"alpha", "beta", "delta_x"}),
    ("metrics.acc != 0.9", {"beta", "it's"}),  # NaN matches only !=
    ("metrics.acc >= 0", {"alpha", "it's"}),
    ("metrics.acc = 0.3", set()),
    ("metrics.acc IS NULL", {"gamma", "delta_x"}),
    ("metrics.acc IS NOT NULL", {"alpha", "beta", "it's"}),
    ("metrics.`loss` < 0", {"delta_x"}),
    ('metrics."loss" < 0', {"delta_x"}),
    ("metrics.absent != 1", set()),
    # LIKE / ILIKE
    ("params.opt LIKE 'a%'", {"alpha"}),
    ("params.opt ILIKE 'a%'", {"alpha", "beta"}),
    ("params.opt LIKE '_dam'", {"alpha", "beta"}),
    ("params.opt LIKE 'adam_'", set()),
    ("params.opt LIKE 'ada'", set()),
    ("params.opt like '%'", {"alpha", "beta", "it's"}),
    ("tags.team LIKE 'a_b'", {"gamma"}),
    ("tags.team LIKE 'a_'", set()),
    ("tags.team ILIKE 'A'", {"alpha", "it's"}),
    ("tags.team = 'A'", {"it's"}),
    ("tags.team NOT IN ('a', 'b')", {"gamma", "it's"}),
    ("run_name LIKE '%a'", {"alpha", "beta", "gamma"}),
    ("run_name LIKE '%\\_x'", set()),  # no escape character: backslash is literal
    ("attributes.run_name ILIKE 'ALPHA'", {"alpha"}),
    ("attributes.run_name = 'alpha'", {"alpha"}),
    # attributes
    ("attributes.status = 'FINISHED'", {"alpha", "it's"}),
    ("status = 'RUNNING'", {"gamma"}),
    ("status = 'finished'", set()),
    ("status ILIKE 'finished'", {"alpha", "it's"}),
    ("status != 'FINISHED'", {"beta", "gamma", "delta_x"}),
    ("status IN ('FAILED', 'KILLED')", {"beta", "delta_x"}),
    ("attr.status NOT IN ('FINISHED')", {"beta", "gamma", "delta_x"}),
    ("run.status = 'KILLED'", {"delta_x"}),
    ("attribute.status = 'KILLED'", {"delta_x"}),
    ("start_time > 1000", {"beta", "gamma", "delta_x"}),
    ("attributes.start_time >= 2000 AND start_time < 3000", {"beta", "delta_x"}),
    ("start_time = 500", {"it's"}),
    ("end_time < 2600", {"alpha", "delta_x", "it's"}),
    ("end_time != 0", {"alpha", "beta", "delta_x", "it's"}),  # a running run has no end_time
    ("run_id = '{alpha}'", {"alpha"}),
    ("run_id IN ('{alpha}', '{beta}')", {"alpha", "beta"}),
    ("run_id NOT IN ('{alpha}')", ALL_NAMES - {"alpha"}),
    ("run_id != '{alpha}'", ALL_NAMES - {"alpha"}),
    ("run_id LIKE '{gamma}'", {"gamma"}),
    ("user_id = '{user}'", ALL_NAMES),
    ("user_id != '{user}'", set()),
    ("artifact_uri LIKE '%{alpha}%'", {"alpha"}),
    # prefixes and keywords in any case
    ("param.lr = '0.2'", {"gamma"}),
    ("parameter.lr = '0.2'", {"gamma"}),
    ("parameters.lr = '0.2'", {"gamma"}),
    ("PARAMS.lr = '0.2'", {"gamma"}),
    ("metric.loss < 0", {"delta_x"}),
    ("tag.team = 'b'", {"beta"}),
    ("METRICS.loss > 1 AND Params.opt = 'Adam'", {"beta"}),
    ("params.lr = '0.1' and tags.team = 'a'", {"alpha"}),
    ("params.lr='0.1'AND tags.team='a'", {"alpha"}),
    # AND / OR / parentheses
    ("tags.team = 'a' OR tags.team = 'b'", {"alpha", "beta"}),
    ("(tags.team = 'a' OR tags.team = 'b') AND metrics.loss > 1", {"beta"}),
    ("metrics.loss > 1 OR tags.team = 'a' AND params.lr = '0.2'", {"beta", "gamma"}),  # AND binds tighter
    ("(metrics.loss > 1 OR tags.team = 'a') AND params.lr = '0.2'", {"gamma"}),
    ("((status = 'RUNNING'))", {"gamma"}),
    ("params.lr IS NULL or metrics.loss < 0 or status = 'RUNNING'", {"delta_x", "it's", "gamma"}),
]

_NAN_THEN_MISSING: list[Any] = (
    ["beta", "gamma", "delta_x"] if ref.NAN_BEFORE_MISSING else ["gamma", ("beta", "delta_x")]
)

# Orders: a tuple is a group tied on every key and on start_time, so ordered by run_id.
ORDERS: list[tuple[list[str] | None, list[Any]]] = [
    (None, ["gamma", ("beta", "delta_x"), "alpha", "it's"]),
    ([], ["gamma", ("beta", "delta_x"), "alpha", "it's"]),
    (["metrics.loss"], ["delta_x", "alpha", "beta", "gamma", "it's"]),
    (["metrics.loss ASC"], ["delta_x", "alpha", "beta", "gamma", "it's"]),
    (["metrics.loss DESC"], ["gamma", "beta", "alpha", "delta_x", "it's"]),
    (["metrics.`loss` desc"], ["gamma", "beta", "alpha", "delta_x", "it's"]),
    # NaN and missing come last; see ref.NAN_BEFORE_MISSING for the order among them
    (["metrics.acc DESC"], ["alpha", "it's", *_NAN_THEN_MISSING]),
    (["metrics.acc ASC"], ["it's", "alpha", *_NAN_THEN_MISSING]),
    (["params.lr"], ["alpha", "beta", "gamma", "delta_x", "it's"]),
    (["params.lr DESC"], ["gamma", "beta", "alpha", "delta_x", "it's"]),
    (["start_time ASC"], ["it's", "alpha", ("beta", "delta_x"), "gamma"]),
    (["attributes.end_time DESC"], ["beta", "delta_x", "alpha", "it's", "gamma"]),
    (["end_time"], ["it's", "alpha", "delta_x", "beta", "gamma"]),
    (["attributes.run_name"], ["alpha", "beta", "delta_x", "gamma", "it's"]),
    (["run_name DESC"], ["it's", "gamma", "delta_x", "beta", "alpha"]),
    (["status DESC", "start_time ASC"], ["gamma", "delta_x", "it's", "alpha", "beta"]),
    (["tags.team"], ["it's", "alpha", "gamma", "beta", "delta_x"]),  # by code point: 'A' < 'a' < 'a_b' < 'b'
    (["tags.team DESC"], ["beta", "gamma", "alpha", "it's", "delta_x"]),
    (["params.opt ASC", "metrics.loss DESC"], ["beta", "alpha", "it's", "gamma", "delta_x"]),
    (["params.absent DESC"], ["gamma", ("beta", "delta_x"), "alpha", "it's"]),
    (['tags."x y" DESC', "run_name"], ["delta_x", "alpha", "beta", "gamma", "it's"]),
]

ERRORS: list[tuple[str, list[str]]] = [
    ("metrics.loss < 'abc'", ["abc"]),
    ("params.lr > '1'", [">"]),
    ("params.lr = 12345", ["12345"]),
    ("metrics.loss LIKE '%'", ["LIKE"]),
    ("metrics.loss ILIKE '%'", ["ILIKE"]),
    ("metrics.loss IN (1, 2)", ["IN"]),
    ("tags.team < 'b'", ["<"]),
    ("foo.bar = 1", ["foo"]),
    ("status IS NULL", ["IS", "status"]),
    ("attributes.end_time IS NOT NULL", ["IS", "end_time"]),
    ("params.a = 'x", ["'x", "quote"]),
    ('metrics."unclosed = 1', ['"unclosed', "quote"]),
    ("params.a = 'x' AND", ["AND", "end"]),
    ("params.a = 'x' OR", ["OR", "end"]),
    ("metrics.m = 1 AND OR metrics.m = 2", ["OR"]),
    ("params.a IN ()", [")", "IN"]),
    ("params.a IN ('x',)", [")", ","]),
    ("params.a IN ('x' 'yy9')", ["yy9"]),
    ("tags.t IN ('a', 4242)", ["4242"]),
    ("attributes.nonexistent = 'x'", ["nonexistent"]),
    ("nonexistent = 'x'", ["nonexistent"]),
    ("lifecycle_stage = 'deleted'", ["lifecycle_stage"]),
    ("start_time = 'yesterday'", ["yesterday"]),
    ("status = 7777", ["7777"]),
    ("start_time LIKE '1%'", ["LIKE"]),
    ("start_time IN (1, 2)", ["IN"]),
    ("run_id < 'abc'", ["<"]),
    ("(metrics.m = 1", ["(", "end", ")"]),
    ("metrics.m = 1)", [")"]),
    ("metrics.m == 1", ["="]),
    ("params.a <> 'x'", ["<>", "<", ">"]),
    ("params.a = 'x' params.b = 'y'", ["params.b"]),
    ("NOT params.a = 'x'", ["NOT"]),
    ("params.a NOT LIKE 'x'", ["NOT", "LIKE"]),
    ("params. = 'x'", ["params."]),
    ("params.a IS NOT 'xyzzy'", ["xyzzy"]),
    ("metrics.m >", [">", "end"]),
    ("params.a LIKE 55555", ["55555"]),
    ("metrics.m = 1 31337", ["31337"]),
    ("`params.a` = 'x'", ["`params.a`", "params.a"]),
    ("params.a = 'x' ; DROP TABLE runs", [";"]),
    ("()", [")", "("]),
    ("AND", ["AND"]),
]

ORDER_ERRORS: list[tuple[list[str], list[str]]] = [
    (["metrics.m SIDEWAYS"], ["SIDEWAYS"]),
    (["foo.bar"], ["foo"]),
    (["params.a ASC DESC"], ["DESC"]),
    (["nonexistent"], ["nonexistent"]),
    (["metrics.m, params.a"], [","]),
    (["metrics.`m"], ["`m", "quote"]),
    (["metrics.loss; DROP TABLE runs"], [";"]),
]


def _expand(expected: list[Any], records: Sequence[RunRecord]) -> list[str]:
    ids = {r.run_name: r.run_id for r in records}
    out: list[str] = []
    for item in expected:
        out += sorted(ids[n] for n in item) if isinstance(item, tuple) else [ids[item]]
    return out


def _names(ids: Sequence[str], records: Sequence[RunRecord]) -> set[str]:
    by_id = {r.run_id: r.run_name for r in records}
    return {by_id.get(i, f"<unexpected {i}>") for i in ids}


def _names_message(message: str, candidates: Sequence[str]) -> bool:
    return any(c in message for c in candidates)


# -- the reference on its own ----------------------------------------------------------


@pytest.mark.parametrize(("filter_string", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_reference_filters(filter_string: str, expected: set[str]) -> None:
    records = _fake_records()
    assert _names(ref.search(records, _subst(filter_string, records)), records) == expected


@pytest.mark.parametrize(("order_by", "expected"), ORDERS, ids=[repr(o) for o, _ in ORDERS])
def test_reference_orders(order_by: list[str] | None, expected: list[Any]) -> None:
    records = _fake_records()
    assert ref.search(records, "", order_by) == _expand(expected, records)


@pytest.mark.parametrize(("filter_string", "candidates"), ERRORS, ids=[f for f, _ in ERRORS])
def test_reference_rejects(filter_string: str, candidates: list[str]) -> None:
    with pytest.raises(ref.FilterError) as err:
        ref.search(_fake_records(), filter_string)
    assert _names_message(str(err.value), candidates), str(err.value)


@pytest.mark.parametrize(("order_by", "candidates"), ORDER_ERRORS, ids=[repr(o) for o, _ in ORDER_ERRORS])
def test_reference_rejects_order_by(order_by: list[str], candidates: list[str]) -> None:
    with pytest.raises(ref.FilterError) as err:
        ref.search(_fake_records(), "", order_by)
    assert _names_message(str(err.value), candidates), str(err.value)


def test_reference_tokenizer_quoting() -> None:
    toks = ref.tokenize('params."my ""k""" = \'it\'\'s\' AND tags.`a b`!=-1.5')
    assert [(t.kind, t.value) for t in toks] == [
        ("WORD", "params."),
        ("DQ", 'my "k"'),
        ("OP", "="),
        ("STR", "it's"),
        ("WORD", "AND"),
        ("WORD", "tags."),
        ("BQ", "a b"),
        ("OP", "!="),
        ("NUM", -1.5),
        ("END", None),
    ]
    assert ref.parse_filter("tags.mlflow.runName = 'x'") == ("cmp", "tag", "mlflow.runName", "=", "x")
    assert ref.parse_filter("  ") is None


def test_reference_like() -> None:
    assert ref.like("abc", "a%") and ref.like("abc", "%") and ref.like("", "%")
    assert ref.like("abc", "a_c") and not ref.like("abc", "a_") and not ref.like("abc", "b")
    assert ref.like("a.c", "a.c") and not ref.like("abc", "a.c")  # regex characters are literal
    assert ref.like("a\nb", "a%b") and ref.like("50%", "50%") and ref.like("50x", "50%")
    assert ref.like("ABC", "a%", ignore_case=True) and not ref.like("ABC", "a%")


def test_reference_nan_and_missing() -> None:
    recs = [
        RunRecord("a", "a", "RUNNING", "u", "x", 1, None, metrics={"m": nan}),
        RunRecord("b", "b", "RUNNING", "u", "x", 1, None, metrics={"m": 1.0}),
        RunRecord("c", "c", "RUNNING", "u", "x", 1, None),
        RunRecord("d", "d", "RUNNING", "u", "x", 2, None, metrics={"m": -inf}),
    ]
    assert ref.search(recs, "metrics.m != 1") == ["d", "a"]
    assert ref.search(recs, "metrics.m = 1 OR metrics.m < 1 OR metrics.m > 1") == ["d", "b"]
    assert ref.search(recs, "metrics.m IS NULL") == ["c"]
    assert ref.search(recs, "", ["metrics.m"]) == ["d", "b", "a", "c"]
    assert ref.search(recs, "", ["metrics.m DESC"]) == ["b", "d", "a", "c"]
    assert ref.search(recs, "end_time != 0") == []


@settings(max_examples=300, deadline=None)
@given(f=ref.filter_strings(["0123abcd"], ["file:///x/artifacts"]), ob=ref.order_bys())
def test_reference_generators_are_valid(f: str, ob: list[str] | None) -> None:
    ref.parse_filter(f)
    ref.parse_order_by(ob)


# -- the implementation on the tables --------------------------------------------------


@needs_search
@pytest.mark.parametrize(("filter_string", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_search_filters(fixture_store: dict[str, Any], filter_string: str, expected: set[str]) -> None:
    records = fixture_store["records"]
    got = Client(fixture_store["path"]).search_runs([fixture_store["exp"]], _subst(filter_string, records))
    assert _names(_ids(got), records) == expected
    assert len(got) == len(expected)


@needs_search
@pytest.mark.parametrize(("order_by", "expected"), ORDERS, ids=[repr(o) for o, _ in ORDERS])
def test_search_orders(fixture_store: dict[str, Any], order_by: list[str] | None, expected: list[Any]) -> None:
    got = Client(fixture_store["path"]).search_runs([fixture_store["exp"]], order_by=order_by)
    assert _ids(got) == _expand(expected, fixture_store["records"])


@needs_search
@pytest.mark.parametrize(("filter_string", "candidates"), ERRORS, ids=[f for f, _ in ERRORS])
def test_search_rejects(fixture_store: dict[str, Any], filter_string: str, candidates: list[str]) -> None:
    with pytest.raises(tracklite.InvalidParameterValue) as err:
        Client(fixture_store["path"]).search_runs([fixture_store["exp"]], filter_string)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert _names_message(str(err.value), candidates), str(err.value)


@needs_search
@pytest.mark.parametrize(("order_by", "candidates"), ORDER_ERRORS, ids=[repr(o) for o, _ in ORDER_ERRORS])
def test_search_rejects_order_by(fixture_store: dict[str, Any], order_by: list[str], candidates: list[str]) -> None:
    with pytest.raises(tracklite.InvalidParameterValue) as err:
        Client(fixture_store["path"]).search_runs([fixture_store["exp"]], order_by=order_by)
    assert _names_message(str(err.value), candidates), str(err.value)


@needs_search
def test_search_view_types_and_experiments(fixture_store: dict[str, Any]) -> None:
    client = Client(fixture_store["path"])
    exp, other = fixture_store["exp"], fixture_store["other"]
    names = {rec.run_id: rec.run_name for rec, _ in fixture_store["pairs"]}
    lr = "params.lr = '0.1'"
    assert {names[i] for i in _ids(client.search_runs([exp], lr))} == {"alpha"}
    assert {names[i] for i in _ids(client.search_runs([exp], lr, run_view_type=ViewType.ALL))} == {"alpha", "ghost"}
    assert {names[i] for i in _ids(client.search_runs([exp], lr, run_view_type=ViewType.DELETED_ONLY))} == {"ghost"}
    both = client.search_runs([exp, other], lr)
    assert len(both) == 2 and _ids(both)[1] in names  # outsider (start 9000) first, then alpha
    assert client.search_runs([other], lr)[0].info.run_name == "outsider"
    assert isinstance(both[0], tracklite.Run) and both.token is None


# ---------------------------------------------------------------------------------------
# Property test: random runs, random valid filters and orders, compared with the reference

_run_specs = st.fixed_dictionaries(
    {
        "name": st.sampled_from(ref.RUN_NAMES),
        "start": st.sampled_from(ref.START_TIMES),
        "end": st.none()
        | st.tuples(st.sampled_from(["FINISHED", "FAILED", "KILLED"]), st.sampled_from([0, 500, 1000])),
        "metrics": st.dictionaries(
            st.sampled_from(ref.METRIC_KEYS),
            st.lists(st.sampled_from(ref.METRIC_VALUES), min_size=1, max_size=3),
            max_size=3,
        ),
        "params": st.dictionaries(st.sampled_from(ref.PARAM_KEYS), st.sampled_from(ref.STRING_VALUES), max_size=3),
        "tags": st.dictionaries(
            st.sampled_from(ref.TAG_KEYS), st.sampled_from(ref.STRING_VALUES + ref.RUN_NAMES), max_size=3
        ),
        "deleted": st.sampled_from([False, False, False, True]),
    }
).map(lambda s: {**s, "end": None if s["end"] is None else (s["end"][0], s["start"] + s["end"][1])})


@needs_search
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(specs=st.lists(_run_specs, max_size=8), data=st.data())
def test_search_matches_reference(tmp_path: Path, specs: list[dict[str, Any]], data: st.DataObject) -> None:
    path = str(tmp_path / f"{uuid.uuid4().hex}.duckdb")
    client = Client(path)
    try:
        exp = client.create_experiment("search")
        other = client.create_experiment("other")
        make_runs(client, other, [OUTSIDER])  # never returned: another experiment
        pairs = make_runs(client, exp, specs)
        view = data.draw(
            st.sampled_from([ViewType.ACTIVE_ONLY, ViewType.ACTIVE_ONLY, ViewType.ALL, ViewType.DELETED_ONLY])
        )
        pool = _visible(pairs, view)
        ids = [rec.run_id for rec, _ in pairs]
        uris = [rec.artifact_uri for rec, _ in pairs]
        note(f"runs: {[(r.run_name, r.run_id[:8], r.start_time) for r in pool]}")
        mismatches = []
        # judge all five cases and fail once at the end, so a failure that depends on the
        # (random) run ids does not change how much data the example draws
        for _ in range(5):
            f = data.draw(ref.filter_strings(ids, uris), label="filter_string")
            ob = data.draw(ref.order_bys(), label="order_by")
            expected = ref.search(pool, f, ob)
            try:
                got: Any = _ids(client.search_runs([exp], filter_string=f, run_view_type=view, order_by=ob))
            except Exception as exc:  # noqa: BLE001 - reported with the other mismatches
                got = [f"raised {exc!r}"]
            if got != expected:
                names = {r.run_id: f"{r.run_name}/{r.run_id[:8]}" for r in pool}
                mismatches.append((f, ob, [names.get(i, i) for i in got], [names.get(i, i) for i in expected]))
        assert not mismatches, "\n".join(f"{m[0]!r} order_by={m[1]!r}: got {m[2]}, expected {m[3]}" for m in mismatches)
    finally:
        _STORES.pop(client.store.path).close()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------
# SQL injection: hostile text is rejected or treated as data, and nothing is harmed

HOSTILE_FILTERS = [
    "params.x = '1'' OR 1=1 --'",
    "params.x = '1' OR 1=1 --'",
    "params.x = '1' OR '1'='1'",
    "tags.\"a; DROP TABLE runs; --\" = 'x'",
    "tags.`a; DROP TABLE runs; --` IS NULL",
    'tags."t"" OR 1=1 --" = \'x\'',
    "tags.t = '%'''",
    "tags.t LIKE '%''%'",
    "tags.t = '%'",
    "params.x = '; DELETE FROM params; --'",
    "params.x = \"1' OR '1'='1\"",
    "params.`x` = 'a' UNION SELECT * FROM runs --",
    "params.x IN ('1'' OR 1=1 --', '2')",
    "params.x NOT IN (''') OR 1=1 --')",
    "run_id = '' OR '' = ''",
    "metrics.m = 1; DROP TABLE metrics",
    "params.x = '1' /* comment */",
    "params.x LIKE '%' ESCAPE '\\'",
    "status = 'x' OR lifecycle_stage = 'deleted'",
    "metrics.m > 0) OR (1=1",
    "params.q = 'a\"b'",
    'params.q = "a""b"',
    "params.x = '\\'' OR 1=1 --'",
    "params.x = '1'';DROP TABLE runs;--'",
    "params.\"x') OR 1=1 --\" = '1'",
]
HOSTILE_ORDERS = [
    ["metrics.loss; DROP TABLE runs"],
    ["params.x DESC, (SELECT 1)"],
    ["tags.`a; DROP TABLE tags` DESC"],
    ['params."x"" DESC; DROP TABLE params; --"'],
    ["start_time DESC NULLS FIRST"],
    ["run_id) --"],
    ["(SELECT run_id FROM runs)"],
    ["metrics.m ASC LIMIT 1"],
]
_HOSTILE_RUNS = [
    {"name": "h1", "start": 100, "end": None, "params": {"x": "1' OR 1=1 --", "q": 'a"b'},
     "tags": {"t": "%'"}, "metrics": {"m": 1.0}},
    {"name": "h2", "start": 200, "end": ("FINISHED", 300), "params": {"x": "2", "q": "ab"},
     "tags": {"t": "plain"}, "metrics": {"m": 2.0}},
    {"name": "h3", "start": 300, "end": None, "params": {"x": "1';DROP TABLE runs;--"}, "tags": {"t": "%"}},
]  # fmt: skip


def _snapshot(client: Client, ids: Sequence[str]) -> dict[str, Any]:
    runs = {i: client.get_run(i) for i in ids}
    return {i: (r.data.params, r.data.tags, r.data.metrics, r.info.status) for i, r in runs.items()}


@needs_search
@pytest.mark.parametrize("order_by", [None, *HOSTILE_ORDERS], ids=repr)
def test_sql_injection(client: Client, order_by: list[str] | None) -> None:
    exp = client.create_experiment("hostile")
    other = client.create_experiment("bystander")
    records = [rec for rec, _ in make_runs(client, exp, _HOSTILE_RUNS)]
    bystander = [rec for rec, _ in make_runs(client, other, [OUTSIDER])]
    all_ids = [r.run_id for r in records + bystander]
    before = _snapshot(client, all_ids)
    for f in HOSTILE_FILTERS if order_by is None else ["", *HOSTILE_FILTERS[:4]]:
        try:
            expected: list[str] | None = ref.search(records, f, order_by)
        except ref.FilterError:
            expected = None
        try:
            got = _ids(client.search_runs([exp], f, order_by=order_by))
        except tracklite.InvalidParameterValue:
            continue  # rejected: fine either way
        # accepted: then it must have been read as data, exactly as the reference reads it
        assert expected is not None, f"accepted a filter outside the grammar: {f!r} / {order_by!r} -> {got}"
        assert got == expected, (f, order_by)
    assert _snapshot(client, all_ids) == before
    assert sorted(_ids(client.search_runs([exp]))) == sorted(r.run_id for r in records)
    assert _ids(client.search_runs([other])) == [bystander[0].run_id]
    assert {e.name for e in client.search_experiments()} >= {"hostile", "bystander"}


@needs_search
def test_hostile_values_match_exactly(client: Client) -> None:
    exp = client.create_experiment("hostile")
    recs = {r.run_name: r.run_id for r, _ in make_runs(client, exp, _HOSTILE_RUNS)}
    assert _ids(client.search_runs([exp], "params.x = '1'' OR 1=1 --'")) == [recs["h1"]]
    assert _ids(client.search_runs([exp], "params.x = '1'';DROP TABLE runs;--'")) == [recs["h3"]]
    assert _ids(client.search_runs([exp], "tags.t = '%'")) == [recs["h3"]]  # '=' is not LIKE
    assert _ids(client.search_runs([exp], "tags.t = '%'''")) == [recs["h1"]]
    assert _ids(client.search_runs([exp], "params.q = 'a\"b'")) == [recs["h1"]]


# ---------------------------------------------------------------------------------------
# Paging

_PAGED = [
    {"name": f"p{i}", "start": 1000 + (i % 4) * 10, "end": None, "metrics": {"m": float(i % 3)} if i % 5 else {}}
    for i in range(10)
]


@needs_search
@pytest.mark.parametrize("order_by", [None, ["metrics.m DESC"], ["attributes.run_name"], ["params.none"]], ids=repr)
def test_paging(client: Client, order_by: list[str] | None) -> None:
    exp = client.create_experiment("paged")
    records = [r for r, _ in make_runs(client, exp, _PAGED)]
    full = _ids(client.search_runs([exp], order_by=order_by))
    assert full == ref.search(records, "", order_by)
    pages: list[list[str]] = []
    token = None
    for _ in range(10):
        page = client.search_runs([exp], max_results=3, order_by=order_by, page_token=token)
        assert len(page) <= 3
        pages.append(_ids(page))
        token = page.token
        if not token:
            break
    assert [len(p) for p in pages] in ([3, 3, 3, 1], [3, 3, 3, 1, 0])
    assert [i for p in pages for i in p] == full
    assert len(set(full)) == 10


@needs_search
def test_paging_with_filter_and_exact_pages(client: Client) -> None:
    exp = client.create_experiment("paged")
    records = [r for r, _ in make_runs(client, exp, _PAGED)]
    expected = ref.search(records, "metrics.m >= 0", ["metrics.m"])
    assert len(expected) == 8
    seen: list[str] = []
    token = None
    while True:
        page = client.search_runs([exp], "metrics.m >= 0", max_results=4, order_by=["metrics.m"], page_token=token)
        seen += _ids(page)
        token = page.token
        if not token:
            break
        assert len(seen) <= 8
    assert seen == expected


@needs_search
def test_bad_page_token(client: Client) -> None:
    exp = client.create_experiment("tokens")
    make_runs(client, exp, _PAGED[:3])
    with pytest.raises(tracklite.InvalidParameterValue):
        client.search_runs([exp], page_token="not a token")


@needs_search
def test_max_results_limit(client: Client) -> None:
    exp = client.create_experiment("limit")
    make_runs(client, exp, _PAGED[:3])
    assert len(client.search_runs([exp], max_results=50_000)) == 3
    with pytest.raises(tracklite.InvalidParameterValue):
        client.search_runs([exp], max_results=50_001)


# ---------------------------------------------------------------------------------------
# The fluent search_runs and its output formats

_FLUENT = [
    {"name": "f1", "start": 3000, "end": ("FINISHED", 3500), "params": {"lr": "0.1"}, "metrics": {"loss": 0.5},
     "tags": {"team": "a"}},
    {"name": "f2", "start": 2000, "end": None, "params": {"lr": "0.2", "opt": "sgd"}, "metrics": {"acc": 0.9}},
    {"name": "f3", "start": 1000, "end": ("FAILED", 1200), "metrics": {"loss": 1.5, "acc": nan}},
]  # fmt: skip


@pytest.fixture
def fluent_store(client: Client) -> dict[str, Any]:
    exp = client.create_experiment("fluent")
    second = client.create_experiment("second")
    records = [r for r, _ in make_runs(client, exp, _FLUENT)]
    extra = [
        r for r, _ in make_runs(client, second, [{"name": "s1", "start": 500, "end": None, "params": {"lr": "9"}}])
    ]
    return {"client": client, "exp": exp, "second": second, "records": records, "extra": extra}


@needs_fluent_search
def test_fluent_pandas(fluent_store: dict[str, Any]) -> None:
    pd = pytest.importorskip("pandas")
    exp = fluent_store["exp"]
    df = tracklite.search_runs([exp])
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:6]) == ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    assert list(df["run_id"]) == [r.run_id for r in fluent_store["records"]]  # newest first
    rest = list(df.columns[6:])
    kinds = [c.split(".", 1)[0] for c in rest]
    assert kinds == sorted(kinds, key=["metrics", "params", "tags"].index)
    assert {"metrics.loss", "metrics.acc", "params.lr", "params.opt", "tags.team", "tags.mlflow.runName"} <= set(rest)
    assert df["metrics.loss"].dtype == "float64" and df["metrics.acc"].dtype == "float64"
    assert list(df["metrics.loss"].isna()) == [False, True, False]
    assert math.isnan(df["metrics.acc"].iloc[2]) and df["metrics.acc"].iloc[1] == 0.9
    assert pd.api.types.is_datetime64_any_dtype(df["start_time"])
    assert pd.api.types.is_datetime64_any_dtype(df["end_time"])
    assert pd.isna(df["end_time"].iloc[1])
    assert df["start_time"].iloc[0] == pd.Timestamp(3000, unit="ms", tz=df["start_time"].dt.tz)
    assert df["params.lr"].iloc[:2].tolist() == ["0.1", "0.2"]
    assert pd.isna(df["params.lr"].iloc[2])
    assert list(df["status"]) == ["FINISHED", "RUNNING", "FAILED"]
    assert list(df["experiment_id"]) == [exp] * 3
    assert list(df["tags.mlflow.runName"]) == ["f1", "f2", "f3"]


@needs_fluent_search
def test_fluent_filter_order_and_limit(fluent_store: dict[str, Any]) -> None:
    exp = fluent_store["exp"]
    ids = {r.run_name: r.run_id for r in fluent_store["records"]}
    df = tracklite.search_runs([exp], filter_string="metrics.loss > 0", order_by=["metrics.loss DESC"])
    assert list(df["run_id"]) == [ids["f3"], ids["f1"]]
    assert len(tracklite.search_runs([exp], max_results=2)) == 2
    assert len(tracklite.search_runs([exp], filter_string="params.lr = 'nope'")) == 0
    with pytest.raises(tracklite.InvalidParameterValue):
        tracklite.search_runs([exp], filter_string="params.lr > '1'")


@needs_fluent_search
def test_fluent_list_and_arrow(fluent_store: dict[str, Any]) -> None:
    exp = fluent_store["exp"]
    expected = [r.run_id for r in fluent_store["records"]]
    runs = tracklite.search_runs([exp], output_format="list")
    assert isinstance(runs, list) and all(isinstance(r, tracklite.Run) for r in runs)
    assert [r.info.run_id for r in runs] == expected
    assert runs[0].data.params == {"lr": "0.1"} and runs[0].data.metrics == {"loss": 0.5}
    pa = pytest.importorskip("pyarrow")
    table = tracklite.search_runs([exp], output_format="arrow")
    assert isinstance(table, pa.Table)
    assert table.column("run_id").to_pylist() == expected
    assert pa.types.is_floating(table.schema.field("metrics.loss").type)
    assert set(table.column_names) == set(tracklite.search_runs([exp]).columns)


@needs_fluent_search
def test_run_tables_of_a_run_listed_twice_fill_both_rows(fluent_store: dict[str, Any]) -> None:
    from tracklite.tracking.run_frame import runs_frame

    first, second = (r.run_id for r in fluent_store["records"][:2])
    store = fluent_store["client"].store
    df = runs_frame(store.run_tables([first, second, first, "0" * 32]))
    assert list(df["run_id"]) == [first, second, first]
    assert df.iloc[0].equals(df.iloc[2])
    assert df["params.lr"].tolist() == ["0.1", "0.2", "0.1"] and df["metrics.loss"].iloc[2] == 0.5


@needs_fluent_search
def test_fluent_polars(fluent_store: dict[str, Any]) -> None:
    pl = pytest.importorskip("polars")
    df = tracklite.search_runs([fluent_store["exp"]], output_format="polars")
    assert isinstance(df, pl.DataFrame)
    assert df["run_id"].to_list() == [r.run_id for r in fluent_store["records"]]


@needs_fluent_search
def test_fluent_experiment_selection(fluent_store: dict[str, Any]) -> None:
    everything = [*fluent_store["records"], *fluent_store["extra"]]
    df = tracklite.search_runs(search_all_experiments=True)
    assert list(df["run_id"]) == ref.search(everything)
    df = tracklite.search_runs(experiment_names=["second"])
    assert list(df["run_id"]) == [fluent_store["extra"][0].run_id]
    df = tracklite.search_runs(experiment_names=["second", "fluent"], filter_string="params.lr != '0.1'")
    assert list(df["run_id"]) == ref.search(everything, "params.lr != '0.1'")


# ---------------------------------------------------------------------------------------
# search_experiments: the same grammar over name, tags and times (lower priority)


def test_search_experiments_filters(client: Client) -> None:
    client.create_experiment("exp-a", tags={"team": "a"})
    client.create_experiment("exp-b", tags={"team": "b"})
    client.create_experiment("other it's", tags={"team": "A"})

    def names(**kw: Any) -> list[str]:
        return [e.name for e in client.search_experiments(**kw)]

    assert sorted(names(filter_string="name LIKE 'exp-%'")) == ["exp-a", "exp-b"]
    assert names(filter_string="tags.team = 'a'") == ["exp-a"]
    assert sorted(names(filter_string="tags.team ILIKE 'a'")) == ["exp-a", "other it's"]
    assert names(filter_string="name = 'other it''s'") == ["other it's"]
    assert names(filter_string="name LIKE 'exp-%'", order_by=["name DESC"]) == ["exp-b", "exp-a"]
    assert names(filter_string="attributes.name != 'Default' AND creation_time > 0", order_by=["name"]) == [
        "exp-a",
        "exp-b",
        "other it's",
    ]
    assert names(filter_string="tags.team = 'a' OR tags.team = 'b'", order_by=["name ASC"]) == ["exp-a", "exp-b"]
    for bad in ["name > 'a'", "tags.team = 1", "name LIKE", "foo.bar = 'x'", "creation_time = 'x'"]:
        with pytest.raises(tracklite.InvalidParameterValue):
            client.search_experiments(filter_string=bad)
