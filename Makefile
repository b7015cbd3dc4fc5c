.PHONY: install test lint bench

install:
	pip install --no-build-isolation -e ".[test]"

test:
	cargo test --release
	python -m pytest

lint:
	ruff check python tests benches
	ruff format --check python tests benches
	mypy python/tracklite
	cargo fmt --check
	cargo clippy --release -- -D warnings
	python -m mypy.stubtest tracklite._core

bench:
	python benches/tracking.py
