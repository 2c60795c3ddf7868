"""The ops part of the demo's summary: the incidents the simulator injected against the alerts the stack
raised (per type, with the event-time delay), the technicians dispatched, and the worst ports by uptime,
all read back from ClickHouse."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from chargestream.query import run_query, scalar
from chargestream.settings import Settings
from producers.simulator.score import RaisedAlert, score

SETTLE_QUERY = "SELECT count() FROM chargestream.alerts WHERE {where}"


def fleet_where(station_prefix: str, site_prefix: str) -> str:
    """The alerts of one simulated fleet: its stations', its sites', and the model clusters naming them."""
    return (
        f"(station_id LIKE '{station_prefix}%' OR site_id LIKE '{site_prefix}%' "
        f"OR members LIKE '%\"{station_prefix}%')"
    )


def alerts_settled(settings: Settings, where: str) -> int:
    return int(scalar(settings, SETTLE_QUERY.format(where=where)) or 0)


def raised(settings: Settings, where: str) -> list[RaisedAlert]:
    text = run_query(
        settings,
        "SELECT alert_id, any(type) AS t, any(station_id) AS st, any(connector_id) AS c, "
        "toUnixTimestamp64Milli(min(opened_at)) AS o, toUnixTimestamp64Milli(min(updated_at)) AS f, "
        f"argMax(members, version) AS m FROM chargestream.alerts FINAL WHERE {where} "
        "AND type NOT IN ('idle', 'maintenance_dispatch') GROUP BY alert_id",
        "JSONEachRow",
    )
    out = []
    for line in text.splitlines():
        r = json.loads(line)
        members = tuple(str(m.get("station_id")) for m in json.loads(r["m"] or "[]"))
        out.append(
            RaisedAlert(r["alert_id"], r["t"], r["st"] or None, r["c"], int(r["o"]), int(r["f"]), members)
        )
    return out


def incidents_table(incidents: list[dict[str, Any]], alerts: list[RaisedAlert]) -> Table:
    result = score(incidents, alerts)
    table = Table(title="incidents injected vs alerted (event-time delay)")
    for col in ("incident type", "injected", "members alerted", "incident alerted", "max delay"):
        table.add_column(col, justify="left" if col == "incident type" else "right")
    for kind, row in sorted(result.by_type.items()):
        wide = (
            f"{row.incident_alerted}/{row.incidents}"
            if kind in ("site_outage", "site_burst", "model_cluster")
            else "—"
        )
        delay = max(row.max_delay_min, row.incident_max_delay_min)
        table.add_row(kind, str(row.incidents), f"{row.alerted}/{row.members}", wide, f"{delay:g} min")
    others = ", ".join(f"{k} {n}" for k, n in sorted(result.other_alerts.items())) or "none"
    table.caption = f"alerts for no injected incident: {others}"
    return table


def dispatch_line(settings: Settings, station_prefix: str) -> str:
    row = scalar(
        settings,
        "SELECT count(), countIf(s = 'resolved'), sum(r) FROM "
        "(SELECT alert_id, argMax(status, version) AS s, "
        "argMax(JSONExtractUInt(details, 'report_count'), version) AS r FROM chargestream.alerts FINAL "
        f"WHERE type = 'maintenance_dispatch' AND station_id LIKE '{station_prefix}%' GROUP BY alert_id)",
    ).split("\t")
    reports = scalar(
        settings, f"SELECT count() FROM chargestream.feedback WHERE station_id LIKE '{station_prefix}%'"
    )
    n, resolved, in_dispatch = [*row, "0", "0", "0"][:3]
    return (
        f"technician dispatches: {n} raised ({resolved} resolved), "
        f"{in_dispatch} of {reports} driver reports in them"
    )


def worst_ports(settings: Settings, station_prefix: str, limit: int = 5) -> str:
    return run_query(
        settings,
        "SELECT station_id, connector_id, month, outage_minutes, excluded_minutes, uptime_pct "
        f"FROM chargestream.port_uptime_monthly WHERE station_id LIKE '{station_prefix}%' "
        f"ORDER BY uptime_pct, station_id, connector_id LIMIT {int(limit)}",
        "PrettyCompactMonoBlock",
    )
