# The two commands of the README; each sets itself up (idempotently) first.
.PHONY: setup demo test lint typecheck bench soak-pipeline

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/chargestream demo

test: setup
	bash scripts/test.sh

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

typecheck: setup
	.venv/bin/mypy

bench: setup
	.venv/bin/python -m bench.engine_bench
	.venv/bin/python -m bench.gateway_bench
	.venv/bin/python -m bench.sink_bench
	.venv/bin/python -m bench.sink_pipeline_bench
	.venv/bin/python -m bench.fault_bench

# Many simulated fleets at once through the real broker, worker and sink (CHARGESTREAM_SOAK_SEEDS, default 30).
soak-pipeline: setup
	.venv/bin/pytest -m soak -s --timeout=3600 tests/integration/test_pipeline_soak.py
