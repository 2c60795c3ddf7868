"""Alerts for ops in a terminal: the open ones from ClickHouse (`alerts list`), the live ones from Kafka
(`alerts tail`), both filterable, as lines a person reads or JSON a script reads."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.markup import escape

from chargestream.query import run_query
from chargestream.settings import Settings
from chargestream.terminal import terminal_safe
from schemas.topics import ALERT_TOPICS

# The newest state of every alert that is not resolved (every state change is a row of `alerts`).
OPEN_ALERTS_SQL = """
SELECT alert_id, argMax(type, version) AS last_type, argMax(status, version) AS last_status,
       argMax(severity, version) AS last_severity, argMax(station_id, version) AS last_station_id,
       argMax(connector_id, version) AS last_connector_id, argMax(site_id, version) AS last_site_id,
       toUnixTimestamp64Milli(min(opened_at)) AS last_opened_at,
       toUnixTimestamp64Milli(max(updated_at)) AS last_updated_at, max(version) AS last_version,
       argMax(parent_id, version) AS last_parent_id, argMax(summary, version) AS last_summary
FROM chargestream.alerts FINAL
GROUP BY alert_id
HAVING last_status != 'resolved'
ORDER BY last_opened_at
"""
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to show: each given criterion must hold (None: any)."""

    types: frozenset[str] = frozenset()
    site: str | None = None
    severities: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    folded: bool = True  # False: hide member alerts folded into an incident (parent_id set)

    def matches(self, alert: dict[str, Any]) -> bool:
        return (
            (not self.types or alert.get("type") in self.types)
            and (self.site is None or alert.get("site_id") == self.site)
            and (not self.severities or alert.get("severity") in self.severities)
            and (not self.statuses or alert.get("status") in self.statuses)
            and (self.folded or not alert.get("parent_id"))
        )


def open_alerts(settings: Settings, only: AlertFilter) -> list[dict[str, Any]]:
    text = run_query(settings, OPEN_ALERTS_SQL, "JSONEachRow")
    # (aliases must not shadow the columns they aggregate: ClickHouse would resolve them to the alias)
    rows = [
        {k.removeprefix("last_"): v for k, v in json.loads(row).items()}
        for row in text.splitlines()
        if row.strip()
    ]
    for r in rows:  # 64-bit integers come quoted in JSON; the alert contract's times are numbers
        r["opened_at"], r["updated_at"] = int(r["opened_at"]), int(r["updated_at"])
    return [r for r in rows if only.matches(r)]


def line(alert: dict[str, Any]) -> str:
    """One alert as one line with rich markup: when, how bad, what, where, what to do. What a station
    sent (ids, codes, info in the summary) is escaped: it can hold neither markup nor control codes."""

    def safe(value: object) -> str:
        return escape(terminal_safe(str(value)))

    at = datetime.fromtimestamp(int(alert.get("updated_at") or 0) / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    severity = str(alert.get("severity") or "")
    style = SEVERITY_STYLE.get(severity, "")
    where = str(alert.get("station_id") or alert.get("site_id") or "-")
    if alert.get("connector_id") not in (None, 0):
        where = f"{where}/{alert['connector_id']}"
    folded = f" [dim](in {safe(str(alert['parent_id'])[:8])})[/]" if alert.get("parent_id") else ""
    return (
        f"{at} [{style}]{safe(severity):<8}[/] {safe(alert.get('status', '')):<9} "
        f"{safe(alert.get('type', '')):<22} {safe(where):<20} {safe(alert.get('summary', ''))}{folded} "
        f"[dim]{safe(str(alert.get('alert_id', ''))[:8])} v{safe(alert.get('version', ''))}[/]"
    )


def tail(
    settings: Settings,
    only: AlertFilter,
    *,
    from_beginning: bool = False,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[dict[str, Any]]:
    """Every alert state change on the alert topics from now (or from the beginning), as it comes."""
    from confluent_kafka import Consumer

    group = f"chargestream-alerts-tail-{time.time_ns()}"  # its own group: a tail never steals from another
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(list(ALERT_TOPICS))
    try:
        while not stop():
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            try:
                alert = json.loads(msg.value() or b"")
            except ValueError:
                continue  # not ours to judge here: the sink dead-letters it with the reason
            if isinstance(alert, dict) and only.matches(alert):
                yield alert
    finally:
        consumer.close()
