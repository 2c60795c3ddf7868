"""Idempotent DDL migrations, applied in file-name order and recorded in schema_migrations."""

from __future__ import annotations

from importlib import resources

from clickhouse_connect.driver.client import Client


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
    applied = []
    for f in files:
        if f.name in done:
            continue
        for stmt in _statements(f.read_text()):
            client.command(stmt)  # every statement is IF NOT EXISTS: safe to re-run after a crash
        client.insert("chargestream.schema_migrations", [[f.name]], column_names=["name"])
        applied.append(f.name)
    return applied
