"""Fault alerts as the rules raise them: stable ids, rising versions, a lifecycle that never goes
back. Pure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any, Final

from schemas.records import Alert
from streams.faults.rules import FaultRules

_ALERT_NS: Final = uuid.UUID("0c5e1f3a-9d7b-4c62-8a41-66617596c747")


def alert_id(kind: str, station_id: str, connector_id: int | None, start: int) -> str:
    """One incident, one id: its type, where, and when it started (event time)."""
    return str(uuid.uuid5(_ALERT_NS, f"{kind}|{station_id}|{connector_id}|{start}"))


@dataclass(frozen=True, slots=True)
class FaultCtx:
    station_id: str
    site_id: str | None
    rules: FaultRules
    out: list[Alert]

    def open(
        self,
        kind: str,
        connector_id: int | None,
        start: int,
        at: int,
        severity: str,
        summary: str,
        details: dict[str, Any],
        members: tuple[dict[str, Any], ...] = (),
    ) -> Alert:
        alert = Alert(
            alert_id=alert_id(kind, self.station_id, connector_id, start),
            type=kind,
            status="opened",
            opened_at=start,
            updated_at=at,
            severity=severity,
            version=1,
            station_id=self.station_id,
            connector_id=connector_id,
            site_id=self.site_id,
            members=members or ({"station_id": self.station_id, "connector_id": connector_id},),
            summary=summary,
            details=details,
        )
        self.out.append(alert)
        return alert

    def update(self, alert: Alert, at: int, **changes: Any) -> Alert:
        new = replace(alert, status="updated", updated_at=at, version=alert.version + 1, **changes)
        self.out.append(new)
        return new

    def resolve(self, alert: Alert, at: int, summary: str, **details: Any) -> None:
        at = max(at, alert.updated_at)  # an alert never goes back in time
        self.out.append(
            replace(
                alert,
                status="resolved",
                severity="info",
                updated_at=at,
                resolved_at=at,
                version=alert.version + 1,
                summary=summary,
                details={**alert.details, **details},
            )
        )


def changed(alert: Alert, status: str, at: int, **changes: Any) -> Alert:
    """The next version of an incident alert; it never goes back in time."""
    return replace(
        alert, status=status, updated_at=max(at, alert.updated_at), version=alert.version + 1, **changes
    )
