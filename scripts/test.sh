#!/usr/bin/env bash
# The test command: lint, types, then the whole suite against real Kafka and the ClickHouse engine.
# With no arguments: the unit tests (pure, CPU-bound) on every core with pytest-xdist, then the tests
# on the real parts one at a time (they share one broker, and a 2-core machine has no room for two
# stacks). With arguments: pytest with those arguments, as given.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
.venv/bin/ruff check . || exit 1
.venv/bin/mypy || exit 1
if [ $# -gt 0 ]; then
  .venv/bin/pytest "$@"
  rc=$?
else
  .venv/bin/pytest -n auto tests/unit
  rc=$?
  echo "[test] unit tests done after $(( $(date +%s) - start )) s"
  .venv/bin/pytest tests/integration tests/e2e tests/reliability
  rc2=$?
  [ $rc -ne 0 ] || rc=$rc2
fi
echo "[test] wall time $(( $(date +%s) - start )) s"
# pytest exit 5 means no test ran: that must fail, never pass silently.
exit $rc
