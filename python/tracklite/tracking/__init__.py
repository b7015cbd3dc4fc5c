"""The tracking API: MLflow's fluent functions (``fluent``) and ``Client`` (``client``)."""
