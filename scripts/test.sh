#!/usr/bin/env bash
# The test command: lint, types, then the whole suite against real Kafka and the ClickHouse engine.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
.venv/bin/ruff check . || exit 1
.venv/bin/mypy || exit 1
.venv/bin/pytest "$@"
rc=$?
echo "[test] wall time $(( $(date +%s) - start )) s"
# pytest exit 5 means no test ran: that must fail, never pass silently.
exit $rc
