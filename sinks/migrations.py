"""Idempotent DDL migrations, applied in name order and recorded in schema_migrations.

Most are SQL files of IF NOT EXISTS statements. A change ClickHouse cannot ALTER (a table's engine)
is a Python step that checks what it finds first, so a run interrupted half-way completes on the
next start instead of undoing itself.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from clickhouse_connect.driver.client import Client


def _billing_records_delete_rows(client: Client) -> None:
    """billing_records becomes ReplacingMergeTree(version, is_deleted): a credit that cancels a
    session's bill writes a deleted row of a higher version, and `FINAL` drops the session (a new
    bill of a still higher version brings it back). The engine's own mechanism, no filter needed."""
    engine = str(
        client.command(
            "SELECT engine_full FROM system.tables "
            "WHERE database = 'chargestream' AND name = 'billing_records'"
        )
    )
    if "is_deleted" in engine:
        return
    client.command("DROP TABLE IF EXISTS chargestream.billing_records_next")
    client.command(
        "ALTER TABLE chargestream.billing_records ADD COLUMN IF NOT EXISTS is_deleted UInt8 DEFAULT 0"
    )
    client.command(
        "CREATE TABLE chargestream.billing_records_next AS chargestream.billing_records "
        "ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY session_id "
        "SETTINGS non_replicated_deduplication_window = 1000"
    )
    client.command("INSERT INTO chargestream.billing_records_next SELECT * FROM chargestream.billing_records")
    client.command("EXCHANGE TABLES chargestream.billing_records AND chargestream.billing_records_next")
    client.command("DROP TABLE chargestream.billing_records_next")


_PYTHON_STEPS: dict[str, Callable[[Client], None]] = {
    "004_billing_records_delete_rows": _billing_records_delete_rows,
}


def _statements(sql: str) -> list[str]:
    body = "\n".join(ln for ln in sql.splitlines() if not ln.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def migrate(client: Client) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now."""
    files = sorted(
        (f for f in resources.files("sinks").joinpath("sql").iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    client.command("CREATE DATABASE IF NOT EXISTS chargestream")
    client.command(
        "CREATE TABLE IF NOT EXISTS chargestream.schema_migrations (name String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY name"
    )
    done = {r[0] for r in client.query("SELECT name FROM chargestream.schema_migrations").result_rows}
    steps: list[tuple[str, Callable[[Client], None]]] = [(f.name, _sql_step(f.read_text())) for f in files]
    steps += list(_PYTHON_STEPS.items())
    applied = []
    for name, step in sorted(steps, key=lambda s: s[0]):
        if name in done:
            continue
        step(client)
        client.insert("chargestream.schema_migrations", [[name]], column_names=["name"])
        applied.append(name)
    return applied


def _sql_step(sql: str) -> Callable[[Client], None]:
    def run(client: Client) -> None:
        for stmt in _statements(sql):
            client.command(stmt)  # every statement is IF NOT EXISTS: safe to re-run after a crash

    return run
