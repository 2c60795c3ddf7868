#!/usr/bin/env bash
# The test command: lint, types, then the whole suite against real Kafka and the ClickHouse engine.
# With no arguments: the tests that need no broker (the pure core, the ClickHouse engine's own tests)
# on every core with pytest-xdist, then those marked `kafka` (tests/conftest.py) one at a time: they
# share one broker, and a 2-core machine has no room for two stacks. With arguments: pytest with those arguments, as given.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
.venv/bin/ruff check . || exit 1
.venv/bin/mypy || exit 1
if [ $# -gt 0 ]; then
  .venv/bin/pytest "$@"
  rc=$?
else
  if [ -n "${CHARGESTREAM_CLICKHOUSE_URL:-}" ]; then
    # one ClickHouse server for every test: its tables are shared, so only the pure core in parallel
    .venv/bin/pytest -n auto tests/unit
    rc=$?
    serial=(tests/integration tests/e2e tests/reliability -m "not soak")
  else
    # everything that needs no broker (the pure core, the ClickHouse engine's own tests) on every core
    .venv/bin/pytest -n auto tests -m "not kafka and not soak"
    rc=$?
    serial=(tests/integration tests/e2e tests/reliability -m "kafka and not soak")
  fi
  echo "[test] parallel part done after $(( $(date +%s) - start )) s"
  .venv/bin/pytest "${serial[@]}"
  rc2=$?
  [ $rc -ne 0 ] || rc=$rc2
fi
echo "[test] wall time $(( $(date +%s) - start )) s"
# pytest exit 5 means no test ran: that must fail, never pass silently.
exit $rc
