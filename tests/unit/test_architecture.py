"""The layering, as a test (issue #11): contracts at the bottom, services in the middle, the CLI on top.

- `schemas/` (wire contracts, topics, DLQ headers, errors, the stations-file model, client defaults)
  imports nothing else of ours;
- `producers/`, `streams/`, `sinks/` never import `chargestream/` (the CLI, the stack, the environment),
  (the CLI, the stack, the environment): chargestream/serve.py builds each service from a config object;
- the functional core of `streams/` imports no Kafka, Faust or ClickHouse.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = ("schemas", "producers", "streams", "sinks", "chargestream", "bench", "tests")
# Entry points that may read the environment through chargestream/: none, the services are built from
# config objects by chargestream/serve.py.
UPWARD: dict[str, set[str]] = {}
# The imperative shell of the worker: the app builder, its agents and the Faust-state adapter.
SHELL = {
    "streams/worker.py",
    "streams/station_table.py",
    "streams/agents/sessions.py",
    "streams/agents/flush.py",
    "streams/agents/sites.py",
    "streams/agents/models.py",
    "streams/agents/feedback.py",
    "streams/agents/resolutions.py",
    "streams/agents/maintenance.py",
    "streams/agents/dead_letters.py",
}
FRAMEWORKS = ("faust", "confluent_kafka", "aiokafka", "clickhouse_connect", "chdb", "mode")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): _imports(p) for p in sorted((ROOT / package).rglob("*.py"))}


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def test_schemas_import_nothing_else_of_ours() -> None:
    bad = {
        path: sorted(n for n in names if _top(n) in OURS and _top(n) != "schemas")
        for path, names in _modules("schemas").items()
    }
    assert not {p: n for p, n in bad.items() if n}


def test_services_do_not_import_the_cli_package() -> None:
    found: dict[str, set[str]] = {}
    for package in ("producers", "streams", "sinks"):
        for path, names in _modules(package).items():
            upward = {n for n in names if _top(n) == "chargestream"}
            if upward:
                found[path] = upward
    unexpected = {p: n for p, n in found.items() if n - UPWARD.get(p, set())}
    assert not unexpected, f"services importing chargestream/: {unexpected}"
    stale = {p for p in UPWARD if p not in found}
    assert not stale, f"no longer import chargestream/, remove from UPWARD: {stale}"


def test_the_streams_core_is_pure() -> None:
    impure = {
        path: sorted(n for n in names if _top(n) in FRAMEWORKS)
        for path, names in _modules("streams").items()
        if path not in SHELL
    }
    assert not {p: n for p, n in impure.items() if n}
