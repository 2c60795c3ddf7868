# The two commands of the README; each sets itself up (idempotently) first.
.PHONY: setup demo test lint typecheck bench

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
