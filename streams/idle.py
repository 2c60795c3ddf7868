"""Idle occupancy: how long a car may stay plugged in after charging before ops hear of it. Pure.

Escalation at 1x and 2x a power-dependent interval, as a known back end does (DOMAIN.md):
<= 3.7 kW: 120 min, <= 7.4 kW: 60 min, < 50 kW: 30 min, >= 50 kW: 15 min. A site may override it.
The alert id is stable (session and idle start), so a replay or a restarted worker re-sends the
same alert and the sink keeps one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from schemas.events import MINUTE_MS
from schemas.records import Alert
from streams.compact import fields_reduce

_ALERT_NS: Final = uuid.UUID("a1e7c0de-1d1e-4c2a-9b6f-6368617267e5")
DEFAULT_POWER_KW: Final = 22.0  # class of an unrated connector: 30 min

# (upper bound in kW, inclusive?, minutes)
_CLASSES: Final = ((3.7, True, 120), (7.4, True, 60), (50.0, False, 30))


def escalation_interval_min(power_kw: float | None, site_override_min: float | None = None) -> float:
    if site_override_min is not None:
        return site_override_min
    kw = DEFAULT_POWER_KW if power_kw is None or power_kw <= 0 else power_kw
    for bound, inclusive, minutes in _CLASSES:
        if kw < bound or (inclusive and kw == bound):
            return float(minutes)
    return 15.0


def idle_alert_id(session_id: str, idle_since: int) -> str:
    return str(uuid.uuid5(_ALERT_NS, f"idle|{session_id}|{idle_since}"))


@dataclass(slots=True)
class IdleAlert:
    """The alert of one idle period: none yet, opened (1x), escalated (2x), resolved."""

    __reduce__ = fields_reduce

    alert_id: str
    idle_since: int
    interval_ms: int
    status: str = "pending"
    opened_at: int | None = None

    @property
    def next_due(self) -> int | None:
        if self.status == "pending":
            return self.idle_since + self.interval_ms
        if self.status == "opened":
            return self.idle_since + 2 * self.interval_ms
        return None


def advance_alert(alert: IdleAlert, now: int) -> list[tuple[str, int]]:
    """The transitions due at event time ``now``: (new status, the time it happened)."""
    out: list[tuple[str, int]] = []
    due = alert.next_due
    while due is not None and due <= now:
        alert.status = "opened" if alert.status == "pending" else "escalated"
        if alert.status == "opened":
            alert.opened_at = due
        out.append((alert.status, due))
        due = alert.next_due
    return out


def alert_record(
    alert: IdleAlert,
    status: str,
    at: int,
    *,
    station_id: str,
    connector_id: int,
    site_id: str | None,
    session_id: str,
) -> Alert:
    """The alert published on alerts.idle (and stored in the alerts table); the connector's ledger
    gives it its version."""
    severity = {"opened": "warning", "escalated": "critical", "resolved": "info"}[status]
    idle_minutes = round((at - alert.idle_since) / MINUTE_MS, 2)
    where = f"{station_id} connector {connector_id}"
    summary = (
        f"{where}: charging ended, car still plugged in for {idle_minutes:g} min"
        if status != "resolved"
        else f"{where}: idle car unplugged after {idle_minutes:g} min"
    )
    return Alert(
        alert_id=alert.alert_id,
        type="idle",
        severity=severity,
        status=status,
        station_id=station_id,
        site_id=site_id,
        connector_id=connector_id,
        session_id=session_id,
        opened_at=alert.opened_at if alert.opened_at is not None else at,
        updated_at=at,
        resolved_at=at if status == "resolved" else None,
        members=({"station_id": station_id, "connector_id": connector_id},),
        summary=summary,
        details={
            "idle_since": alert.idle_since,
            "idle_minutes": idle_minutes,
            "threshold_minutes": alert.interval_ms / MINUTE_MS,
        },
    )
