"""Where an analyst's query goes: the stack's endpoint, the embedded store, or a ClickHouse server."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlencode

from chargestream.processes import Managed
from chargestream.settings import Settings
from schemas.errors import SetupError


class QueryError(RuntimeError):
    """ClickHouse refused the query (syntax, unknown table, read-only...)."""


def sink_process(settings: Settings) -> Managed:
    return Managed("sink", settings.run_dir, settings.logs_dir)


def run_query(
    settings: Settings, sql: str, fmt: str = "TabSeparated", params: dict[str, str] | None = None
) -> str:
    """Run one query and return its text output, whichever way the store is reachable now.
    ``params``: values of the query's ``{name:Type}`` placeholders, bound by the engine (never spliced)."""
    return run_query_bytes(settings, sql, fmt, params).decode()


def run_query_bytes(
    settings: Settings, sql: str, fmt: str = "TabSeparated", params: dict[str, str] | None = None
) -> bytes:
    """The output as the engine wrote it: any format, Parquet and Arrow included."""
    if not settings.uses_embedded_clickhouse:
        return _direct(settings, sql, fmt, params)
    if sink_process(settings).pid() is not None:
        return _via_endpoint(settings, sql, fmt, params)
    return _direct(settings, sql, fmt, params)


def _via_endpoint(settings: Settings, sql: str, fmt: str, params: dict[str, str] | None) -> bytes:
    query = {"default_format": fmt} | {f"param_{k}": v for k, v in (params or {}).items()}
    url = f"http://{settings.query_host}:{settings.query_port}/?{urlencode(query)}"
    req = urllib.request.Request(url, data=sql.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        raise QueryError(exc.read().decode(errors="replace").strip()) from exc
    except OSError as exc:
        raise SetupError(
            f"the query endpoint {url} does not answer ({exc}): see `chargestream status`"
        ) from exc


def _direct(settings: Settings, sql: str, fmt: str, params: dict[str, str] | None) -> bytes:
    from sinks.clickhouse import connect
    from sinks.migrations import migrate
    from sinks.query_guard import ReadOnlyQueries

    embedded = settings.uses_embedded_clickhouse
    if embedded:
        writer = connect(settings.clickhouse_dsn)
        try:
            migrate(writer)  # a store that was never written still has the contract tables
        finally:
            writer.close()
    # The same guard as the stack's endpoint: what an analyst types never writes.
    client = connect(settings.clickhouse_dsn)
    try:
        try:
            return ReadOnlyQueries(client, embedded=embedded).run(sql, fmt, params)
        except Exception as exc:
            raise QueryError(str(exc).strip()) from exc
    finally:
        client.close()


def scalar(settings: Settings, sql: str) -> str:
    return run_query(settings, sql, "TabSeparated").strip()
