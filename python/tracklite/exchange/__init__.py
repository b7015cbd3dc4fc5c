"""Moving a store's contents out and in: MLflow ``mlruns`` trees, MLflow tracking backends,
and Parquet datasets. Each format has its own module; ``output`` and ``progress`` are shared."""
