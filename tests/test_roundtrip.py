"""Property tests: whatever is logged reads back identically, before and after reopening."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import tracklite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracklite import Client
from tracklite.store import _STORES

# MLflow's key alphabet: unicode word characters plus '-', '.', ' ', ':' and '/'
_key_chars = st.characters(categories=("L", "N"), include_characters="_-. :")
_segment = st.text(_key_chars, min_size=1, max_size=20).filter(
    lambda s: s not in (".", "..") and not s.startswith("..")
)
keys = st.lists(_segment, min_size=1, max_size=3).map("/".join).filter(lambda k: len(k) <= 250)
values = st.text(max_size=300)
floats = st.floats(allow_nan=True, allow_infinity=True)
steps = st.integers(min_value=-(2**63), max_value=2**63 - 1)
timestamps = st.integers(min_value=0, max_value=2**62)
points = st.lists(st.tuples(floats, steps, timestamps), min_size=1, max_size=40)


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _order(point: tuple[float, int, int]) -> tuple[int, int, float]:
    # History comes back ordered by (step, timestamp, value), NaN last.
    value, step, ts = point
    return (step, ts, math.inf if math.isnan(value) else value)


def _check(client: Client, run_id: str, params: dict, tags: dict, metrics: dict) -> None:
    run = client.get_run(run_id)
    assert run.data.params == {k: str(v) for k, v in params.items()}
    for k, v in tags.items():
        assert run.data.tags[k] == v
    for key, pts in metrics.items():
        hist = client.get_metric_history(run_id, key)
        expected = sorted(pts, key=_order)
        assert [(m.step, m.timestamp) for m in hist] == [(s, t) for _, s, t in expected]
        assert all(_same_float(m.value, v) for m, (v, _, _) in zip(hist, expected, strict=True))
        latest = max(pts, key=_order)
        assert _same_float(run.data.metrics[key], latest[0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(keys, values, max_size=5),
    tags=st.dictionaries(keys.filter(lambda k: not k.startswith("mlflow.")), values, max_size=5),
    metrics=st.dictionaries(keys, points, max_size=4),
)
def test_round_trip(tmp_path: Path, params: dict, tags: dict, metrics: dict) -> None:
    path = str(tmp_path / f"{uuid.uuid4().hex}.duckdb")
    tracklite.set_tracking_uri(path)
    try:
        with tracklite.start_run() as run:
            tracklite.log_params(params)
            tracklite.set_tags(tags)
            for key, pts in metrics.items():
                for value, step, ts in pts:
                    tracklite.log_metric(key, value, step=step, timestamp=ts)
        rid = run.info.run_id
        client = Client(path)
        _check(client, rid, params, tags, metrics)
        # through the Client's batch path into a second run
        rid2 = client.create_run("0").info.run_id
        client.log_batch(
            rid2,
            metrics=[tracklite.Metric(k, v, t, s) for k, pts in metrics.items() for v, s, t in pts][:1000],
            params=[tracklite.Param(k, v) for k, v in params.items()],
            tags=[tracklite.RunTag(k, v) for k, v in tags.items()],
        )
        if sum(len(p) for p in metrics.values()) <= 1000:
            _check(client, rid2, params, tags, metrics)
        # and after closing and reopening the file
        _STORES.pop(client.store.path).close()  # type: ignore[attr-defined]
        reopened = Client(path)
        _check(reopened, rid, params, tags, metrics)
        _STORES.pop(reopened.store.path).close()  # type: ignore[attr-defined]
    finally:
        tracklite.set_tracking_uri(None)  # type: ignore[arg-type]
