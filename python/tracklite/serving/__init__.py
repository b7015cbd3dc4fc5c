"""Model serving and batch inference.

``tracklite models serve`` runs :func:`serve`: MLflow's scoring protocol
(``POST /invocations`` with JSON, CSV or Parquet; ``/ping``, ``/health``, ``/version``)
over any pyfunc model, optionally following a registry alias as it moves.
``tracklite models predict`` runs :func:`predict_file`: a model over a CSV, JSON lines or
Parquet file in bounded-memory chunks. ``scoring`` holds the protocol itself, shared by both.
"""

from __future__ import annotations

from typing import Any


def serve(model_uri: str, **kwargs: Any) -> None:
    """Serve ``model_uri`` until interrupted; see :func:`tracklite.serving.app.serve`."""
    from tracklite.serving.app import serve as run

    run(model_uri, **kwargs)


def predict_file(model: Any, input_path: str, output_path: str, **kwargs: Any) -> int:
    """Predict a file into another; see :func:`tracklite.serving.batch.predict_file`."""
    from tracklite.serving.batch import predict_file as run

    return run(model, input_path, output_path, **kwargs)


__all__ = ["predict_file", "serve"]
