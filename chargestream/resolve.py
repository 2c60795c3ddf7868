"""`chargestream alerts resolve`: ops close a technician dispatch by hand. The resolution goes to
`ops.resolutions`; the worker's maintenance stage, the dispatch's only writer, publishes the resolved
version on `alerts.maintenance` (so versions keep one sequence), and the sink stores it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from chargestream.query import run_query
from chargestream.settings import Settings
from schemas.clients import producer_config
from schemas.records import Resolution
from schemas.topics import OPS_RESOLUTIONS

BY_HAND = frozenset({"maintenance_dispatch"})
"""The alerts ops resolve by hand; the rules resolve every other alert when the station says it is well."""


class ResolveError(Exception):
    """What stops a resolution, said so that the user knows what to do."""


def current(settings: Settings, alert_id: str) -> dict[str, Any] | None:
    """The newest state of one alert in the ClickHouse `alerts` table."""
    sql = (
        "SELECT alert_id, argMax(type, version) AS t, argMax(status, version) AS s, "
        "argMax(station_id, version) AS st, max(version) AS v, argMax(summary, version) AS summary "
        f"FROM chargestream.alerts FINAL WHERE alert_id = '{alert_id}' GROUP BY alert_id"
    )
    text = run_query(settings, sql, "JSONEachRow").strip()
    if not text:
        return None
    row: dict[str, Any] = json.loads(text.splitlines()[0])
    return {
        "alert_id": row["alert_id"],
        "type": row["t"],
        "status": row["s"],
        "station_id": row["st"],
        "version": int(row["v"]),
        "summary": row["summary"],
    }


def resolve(
    settings: Settings,
    alert_id: str,
    note: str,
    by: str,
    *,
    wait_s: float = 30.0,
    now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> dict[str, Any] | None:
    """Publish the resolution; with ``wait_s`` > 0, wait until the resolved version is in ClickHouse and
    return it (None: not there yet — the worker or the sink may be down; it is applied when they run)."""
    try:
        aid = str(uuid.UUID(alert_id))  # the id goes into SQL: only a canonical UUID does
    except ValueError as exc:
        raise ResolveError(f"{alert_id!r} is not an alert id (a UUID, as `alerts list` shows)") from exc
    alert = current(settings, aid)
    if alert is None:
        raise ResolveError(
            f"no alert {aid} in the ClickHouse alerts table; `chargestream alerts list --type "
            "maintenance_dispatch` shows the open dispatches (is the sink running?)"
        )
    if alert["type"] not in BY_HAND:
        raise ResolveError(
            f"{aid} is a {alert['type']} alert: the rules resolve it when the station reports it is "
            "well again; only maintenance_dispatch alerts are resolved by hand"
        )
    if alert["status"] == "resolved":
        raise ResolveError(f"{aid} is resolved already: {alert['summary']}")
    res = Resolution(aid, alert["station_id"], now_ms(), note=note, by=by)
    _publish(settings.bootstrap, res)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        after = current(settings, aid)
        if after is not None and after["status"] == "resolved":
            return after
        time.sleep(0.5)
    return None


def _publish(bootstrap: str, res: Resolution) -> None:
    from confluent_kafka import KafkaException, Producer

    failed: list[str] = []
    producer = Producer(producer_config(bootstrap))

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    body = json.dumps(res.to_dict(), sort_keys=True).encode()
    try:
        producer.produce(OPS_RESOLUTIONS, key=res.station_id.encode(), value=body, on_delivery=delivered)
    except KafkaException as exc:
        raise ResolveError(f"could not publish to {OPS_RESOLUTIONS}: {exc}") from exc
    left = producer.flush(15)
    if left or failed:
        raise ResolveError(
            f"Kafka at {bootstrap} did not take the resolution ({'; '.join(failed) or 'timed out'}); "
            "is the stack up (`chargestream up`)?"
        )
