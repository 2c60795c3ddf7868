#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: system tools, .venv, Python deps, Kafka jars.
# A second run downloads nothing: the venv is reinstalled only when pyproject.toml changes,
# and the jars are cached under .chargestream/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }
need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${need_apt[*]} (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    say "missing ${need_apt[*]}: install Java 17+ and Maven, or set CHARGESTREAM_KAFKA_BOOTSTRAP to an existing cluster"
    [ -n "${CHARGESTREAM_KAFKA_BOOTSTRAP:-}" ] || exit 1
  fi
fi

# The report test opens `chargestream report`'s page in a real browser (CHARGESTREAM_CHROMIUM: another
# one). Nothing else needs it, so without root it is a warning here and a clear failure in that test.
if [ -z "${CHARGESTREAM_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium (apt-get), for the report's browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    say "no chromium: the report's browser test will fail; install it or set CHARGESTREAM_CHROMIUM"
  fi
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  say "Python >= 3.11 is needed (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11"
  exit 1
fi
[ -x .venv/bin/python ] || { say "creating .venv"; "$PY" -m venv .venv; }

stamp=".venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "installing Python dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-* && touch "$stamp"
fi

# Kafka broker jars from Maven Central (skipped when an external cluster is configured).
if [ -z "${CHARGESTREAM_KAFKA_BOOTSTRAP:-}" ]; then
  .venv/bin/chargestream kafka fetch
fi
