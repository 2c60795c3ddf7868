"""Port outages for uptime (NEVI, 23 CFR 680.116): the spans each port could not charge. Pure.

A port is down while its connector is Faulted or Unavailable, while connector 0 (the whole station)
is, or while the station is offline (its station_offline alert: from the loss, which the alert dates
back to, until the reconnect). Each span is sent when it opens and when it ends, as versions 1 and 2 of
one id (uuid5 of station, connector and start), so a replay or a restart sends the same records. The
view `port_uptime_monthly` sums them per port and month, less the time they overlap a site_outage
incident (power or network outside the operator's control: NEVI's excluded time).

Fed in the engine's order: the statuses as the reorder buffer releases them (one older than the
connector's newest changes nothing, as in the fault rules), the station's own offline alerts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Final

from schemas.records import Alert, PortOutage
from streams.compact import fields_reduce
from streams.maintenance.state import PortStatus

DOWN_STATUSES: Final = frozenset({"Faulted", "Unavailable"})
_NS: Final = uuid.UUID("6f0a3c2e-5b1d-4e8f-9a70-757074696d65")


def outage_id(station_id: str, connector_id: int, start: int) -> str:
    return str(uuid.uuid5(_NS, f"{station_id}|{connector_id}|{start}"))


@dataclass(slots=True)
class PortUptime:
    __reduce__ = fields_reduce

    statuses: dict[int, tuple[int, str]] = field(
        default_factory=dict
    )  # connector -> (at, status); 0 = station
    offline_alert: str | None = None  # the open station_offline alert
    offline_since: int = 0
    open: dict[int, PortOutage] = field(default_factory=dict)  # connector -> its open outage


def track(
    up: PortUptime,
    station_id: str,
    site_id: str | None,
    statuses: list[PortStatus],
    alerts: list[Alert],
    out: list[PortOutage],
) -> None:
    """What one step of the engine released, in event-time order."""
    steps: list[tuple[int, int, PortStatus | Alert]] = [(s.at, 1, s) for s in statuses]
    for a in alerts:
        if a.type == "station_offline" and a.station_id == station_id:
            steps.append(((a.resolved_at or a.updated_at) if a.status == "resolved" else a.opened_at, 0, a))
    for at, _, item in sorted(steps, key=lambda s: (s[0], s[1])):
        if isinstance(item, PortStatus):
            last = up.statuses.get(item.connector_id)
            if last is not None and item.at < last[0]:
                continue  # a queue delivered late: a newer status already said what the port is
            up.statuses[item.connector_id] = (item.at, item.status)
        elif item.status == "resolved":
            if up.offline_alert != item.alert_id:
                continue
            up.offline_alert = None
        elif up.offline_alert is None:
            up.offline_alert, up.offline_since = item.alert_id, item.opened_at
        _settle(up, station_id, site_id, at, out)


def _settle(up: PortUptime, station_id: str, site_id: str | None, at: int, out: list[PortOutage]) -> None:
    station = up.statuses.get(0)
    for connector_id in sorted(c for c in up.statuses if c > 0):
        cause = ""
        if up.offline_alert is not None:
            cause = "offline"
        elif station is not None and station[1] in DOWN_STATUSES:
            cause = f"station {station[1]}"
        elif up.statuses[connector_id][1] in DOWN_STATUSES:
            cause = up.statuses[connector_id][1]
        opened = up.open.get(connector_id)
        if cause and opened is None:
            start = up.offline_since if cause == "offline" else at
            start = max(start, up.statuses[connector_id][0] if cause == "offline" else start)
            up.open[connector_id] = o = PortOutage(
                outage_id(station_id, connector_id, start),
                station_id,
                connector_id,
                start,
                1,
                None,
                site_id,
                cause,
            )
            out.append(o)
        elif not cause and opened is not None:
            del up.open[connector_id]
            out.append(replace(opened, version=2, ended_at=max(at, opened.started_at)))
