"""Fuzz the REST API from its own OpenAPI description (schemathesis): no request gets a 5xx.

The schema is the one the server serves at ``/api/2.0/tracklite/openapi.json`` (built from
``endpoints.ENDPOINTS``); every operation gets a bounded, derandomized batch of generated
requests against a real ``tracklite server`` subprocess, and every answer must be below 500
and, when it is an error, MLflow's JSON error body.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from server_fixtures import ServerProcess, start_server
from tracklite.server.app import _load_api_modules
from tracklite.server.openapi import openapi_document

_load_api_modules()
DOCUMENT = openapi_document()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = sorted(op.ok().label for op in SCHEMA.get_all_operations())
#: Ids of real resources on the live server, swapped into half the generated cases so that
#: handlers get past "not found" and see generated values in every other field.
REAL: dict[str, Any] = {}


def with_real_ids(case: Any) -> None:
    """Put :data:`REAL`'s ids into the fields of ``case`` that name a resource."""
    for container in (case.body, case.query, case.path_parameters):
        if not isinstance(container, dict):
            continue
        for key in list(container):
            if key == "artifact_path":
                container[key] = f"{REAL[key]}/{container[key]}"
            elif key in REAL:
                container[key] = REAL[key]


#: Generated cases per operation: enough to hit every field with wrong and odd values while the
#: whole module stays well under a minute and a half (``TRACKLITE_FUZZ_EXAMPLES`` digs deeper).
MAX_EXAMPLES = int(os.environ.get("TRACKLITE_FUZZ_EXAMPLES", "10"))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module, with an experiment, a run with metrics and a registered model."""
    folder = tmp_path_factory.mktemp("fuzz")
    server = start_server(folder / "s.duckdb")
    api = server.url + "/api/2.0/mlflow/"
    exp = requests.post(api + "experiments/create", json={"name": "fuzzed"}, timeout=30).json()["experiment_id"]
    run = requests.post(api + "runs/create", json={"experiment_id": exp}, timeout=30).json()["run"]["info"]["run_id"]
    metrics = [{"key": "loss", "value": 1.0 / (i + 1), "timestamp": 1, "step": i} for i in range(5)]
    requests.post(api + "runs/log-batch", json={"run_id": run, "metrics": metrics}, timeout=30).raise_for_status()
    requests.post(api + "registered-models/create", json={"name": "fuzzed"}, timeout=30).raise_for_status()
    model = requests.post(api + "logged-models", json={"experiment_id": exp, "source_run_id": run}, timeout=30)
    REAL.update(
        run_id=run,
        run_uuid=run,
        source_run_id=run,
        run_ids=[run],
        experiment_id=exp,
        experiment_ids=[exp],
        name="fuzzed",
        model_id=model.json()["model"]["info"]["model_id"],
        artifact_path=f"{exp}/{run}/artifacts",
    )
    try:
        yield server
    finally:
        server.stop()


def test_docs_list_every_endpoint() -> None:
    """docs/server.md lists each declared endpoint, and nothing that is not one."""
    from tracklite.server.endpoints import ENDPOINTS
    from tracklite.server.openapi import full_path

    docs = (Path(__file__).resolve().parent.parent / "docs" / "server.md").read_text()
    declared = {f"{method} {full_path(ep)}" for ep in ENDPOINTS for method in ep.methods}
    listed = set(re.findall(r"^\| `((?:GET|POST|PUT|PATCH|DELETE) /[^`]*)` \|", docs, flags=re.M))
    assert not declared - listed, f"add these endpoints to the table in docs/server.md: {sorted(declared - listed)}"
    assert not listed - declared, f"docs/server.md lists endpoints that do not exist: {sorted(listed - declared)}"


def test_served_schema_is_the_declared_one(live: ServerProcess) -> None:
    served = requests.get(live.url + "/api/2.0/tracklite/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(DOCUMENT))
    assert served.json()["openapi"].startswith("3.0")
    assert not any(p.startswith("/ajax-api") for p in served.json()["paths"])
    assert len(OPERATIONS) >= 50


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("label", OPERATIONS)
def test_no_server_error(live: ServerProcess, label: str, mode: GenerationMode) -> None:
    operation = SCHEMA.find_operation_by_label(label)
    assert operation is not None
    session = requests.Session()
    seen: list[str] = []
    log_start = len(live.log_text())

    @given(case=operation.as_strategy(generation_mode=mode), real_ids=st.booleans())
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any, real_ids: bool) -> None:
        if real_ids:
            with_real_ids(case)
        response = case.call(base_url=live.url, session=session, timeout=30)
        seen.append(f"{response.status_code}")
        case.validate_response(response, checks=[not_a_server_error])
        ctype = response.headers.get("content-type") or [""]
        if response.status_code >= 400 and str(ctype[0]).startswith("application/json"):
            body = response.json()
            assert isinstance(body, dict) and isinstance(body.get("error_code"), str), (
                f"{label}: error without MLflow's error body: {response.text[:300]}"
            )

    try:
        check()
    except Unsatisfiable:
        # Nothing in this operation can be made invalid (no parameters or body to break).
        assert mode == GenerationMode.NEGATIVE, f"no valid case can be generated for {label}"
    else:
        assert seen, f"no case generated for {label}"
    assert requests.get(live.url + "/health", timeout=30).text == "OK"
    logged = live.log_text()[log_start:]
    assert "Traceback" not in logged, f"the server logged tracebacks while fuzzing {label}:\n{logged[-4000:]}"


def test_server_survives(live: ServerProcess) -> None:
    assert requests.get(live.url + "/health", timeout=30).text == "OK"
    # The fuzzing may have renamed or deleted it, but it is still there and readable.
    found = requests.get(
        live.url + "/api/2.0/mlflow/experiments/get", params={"experiment_id": REAL["experiment_id"]}, timeout=30
    )
    assert found.status_code == 200, found.text
    assert found.json()["experiment"]["experiment_id"] == REAL["experiment_id"]
    history = requests.get(
        live.url + "/api/2.0/mlflow/metrics/get-history",
        params={"run_id": REAL["run_id"], "metric_key": "loss"},
        timeout=30,
    )
    assert history.status_code == 200, history.text
