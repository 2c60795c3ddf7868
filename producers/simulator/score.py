"""The simulator's injected incidents against the alerts a pipeline raised: which incidents were alerted,
with which alert type, and how long after they began (event time). Pure; used by the demo's summary and
the fault benchmark.

Each member of an incident (a station, or one of its connectors) should get its station's own alert
of the expected type, opened within the incident; site and model incidents should get one incident
alert that lists a member. An alert counts for one member or incident only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from producers.simulator.simulation import Simulation
from schemas.events import HOUR_MS, MINUTE_MS

MEMBER_ALERT: Final[dict[str, str]] = {
    "connector_fault": "connector_fault",
    "flapping": "flapping",
    "site_outage": "station_offline",
    "site_burst": "connector_fault",
    "model_cluster": "connector_fault",
}
INCIDENT_ALERT: Final[dict[str, str]] = {
    "site_outage": "site_outage",
    "site_burst": "site_fault_burst",
    "model_cluster": "model_firmware_cluster",
}


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    """An alert as scored: its first time raised and the members its newest version lists."""

    alert_id: str
    type: str
    station_id: str | None
    connector_id: int | None
    opened_at: int
    raised_at: int
    members: tuple[str, ...] = ()  # station ids


@dataclass
class Row:
    incidents: int = 0
    members: int = 0
    alerted: int = 0
    max_delay_min: float = 0.0
    incident_alerted: int = 0
    incident_max_delay_min: float = 0.0


@dataclass
class Score:
    by_type: dict[str, Row] = field(default_factory=dict)
    other_alerts: Counter[str] = field(default_factory=Counter)  # raised for no injected incident

    def as_dict(self) -> dict[str, Any]:
        return {
            # the incident-wide fields only for types that have an incident alert of their own
            "by_incident_type": {
                k: {f: n for f, n in vars(v).items() if k in INCIDENT_ALERT or not f.startswith("incident_")}
                for k, v in self.by_type.items()
            },
            "other_alerts": dict(self.other_alerts),
        }


def reports_during(sim: Simulation) -> list[str]:
    """The ids of driver reports of an injected fault made while it lasted: each should be in a
    dispatch (one made after meets no open alert, and alone it sends nobody)."""
    spans = {i.incident_id: (i.start, i.end) for i in sim.incidents}
    return [
        f.truth.feedback_id
        for f in sim.feedback
        if f.truth.cause == "incident"
        and f.truth.incident_id in spans
        and spans[f.truth.incident_id][0] <= f.truth.submitted_at < spans[f.truth.incident_id][1]
    ]


def score(incidents: list[dict[str, Any]], alerts: list[RaisedAlert]) -> Score:
    """``incidents``: the simulator's ground-truth incident lines (`kind: incident`)."""
    used: set[str] = set()
    out = Score()
    for inc in incidents:
        row = out.by_type.setdefault(inc["type"], Row())
        row.incidents += 1
        for m in inc["members"]:
            row.members += 1
            whole_station = m["connector_id"] == 0
            kind = (
                "station_fault"
                if whole_station and inc["type"] == "site_burst"
                else MEMBER_ALERT[inc["type"]]
            )
            hits = [
                a
                for a in alerts
                if a.type == kind
                and a.station_id == m["station_id"]
                and (a.connector_id == m["connector_id"] or a.connector_id is None or whole_station)
                and m["start"] <= a.opened_at <= m["end"]
                and a.alert_id not in used
            ]
            if inc["type"] == "flapping":  # the faults before it flapped are connector_fault alerts
                used.update(
                    a.alert_id
                    for a in alerts
                    if a.type == "connector_fault"
                    and a.station_id == m["station_id"]
                    and a.connector_id == m["connector_id"]
                    and m["start"] <= a.opened_at <= m["end"]
                )
            if hits:
                first = min(hits, key=lambda a: a.opened_at)
                used.add(first.alert_id)
                row.alerted += 1
                row.max_delay_min = max(
                    row.max_delay_min, round((first.raised_at - m["start"]) / MINUTE_MS, 1)
                )
        wide = INCIDENT_ALERT.get(inc["type"])
        if wide is None:
            continue
        stations = {m["station_id"] for m in inc["members"]}
        found = [
            a
            for a in alerts
            if a.type == wide
            and a.alert_id not in used
            and inc["start"] - HOUR_MS <= a.opened_at <= inc["end"]
            and stations & set(a.members)
        ]
        if found:
            first = min(found, key=lambda a: a.opened_at)
            used.add(first.alert_id)
            row.incident_alerted += 1
            row.incident_max_delay_min = max(
                row.incident_max_delay_min, round((first.raised_at - inc["start"]) / MINUTE_MS, 1)
            )
    out.other_alerts = Counter(a.type for a in alerts if a.alert_id not in used)
    return out
