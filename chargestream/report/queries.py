"""The report's questions as SQL over the analyst views (sinks/sql/007_port_uptime.sql, 008_analytics.sql).

The engine aggregates every figure: the report fetches bins and totals, never raw sessions, so a year
of a large network renders in the memory of a day of a small one. A period is a range of the sites'
local days where a view has local time (billing, hourly_site, revenue_daily), and of UTC days where
it has not (alerts, outage spans). Filters are query parameters bound by the engine, never spliced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

Rows = list[dict[str, Any]]
# (sql, parameters) -> rows: the CLI runs it through the endpoint or the store, tests through a client.
Fetch = Callable[[str, Mapping[str, str]], Rows]


@dataclass(frozen=True)
class Period:
    """Local days [since, until) and, optionally, one site."""

    since: date
    until: date
    site: str = ""

    def params(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "site": self.site}

    @property
    def days(self) -> int:
        return (self.until - self.since).days

    @property
    def since_ms(self) -> int:
        """The first day's start, UTC, as epoch ms (for the plots' time axes)."""
        return _ms(self.since)

    @property
    def until_ms(self) -> int:
        return _ms(self.until)


def _ms(day: date) -> int:
    return int(datetime.combine(day, time(), UTC).timestamp() * 1000)


SITE = "({site:String} = '' OR site_id = {site:String})"
LOCAL_DAYS = "toDate(plugged_in_local) >= {since:Date} AND toDate(plugged_in_local) < {until:Date}"
BILLED = f"chargestream.billing WHERE {LOCAL_DAYS} AND {SITE}"

# First and last local day with a billed session or an hourly aggregate: the default period.
BOUNDS = f"""
SELECT toString(min(day)) AS first_day, toString(max(day)) AS last_day, count() AS n FROM (
    SELECT toDate(plugged_in_local) AS day FROM chargestream.billing WHERE {SITE}
    UNION ALL
    SELECT toDate(local_hour) FROM chargestream.hourly_site WHERE {SITE}
)
"""

HEADLINE = f"""
SELECT count() AS sessions, sum(energy_wh) AS energy_wh, uniqExact(station_id) AS stations,
       uniqExact(site_id) AS sites, countIf(idle_minutes > 0) AS with_idle
FROM {BILLED}
"""

SUCCESS = """
SELECT sum(attempts) AS attempts, sum(successful) AS successes
FROM chargestream.charging_success
WHERE day >= {since:Date} AND day < {until:Date} AND ({site:String} = '' OR site_id = {site:String})
"""

PEAK_HOURS = f"""
SELECT site_id AS site, toDayOfWeek(plugged_in_local) AS weekday, toHour(plugged_in_local) AS hour,
       count() AS sessions
FROM {BILLED}
GROUP BY site, weekday, hour
"""

ENERGY_PER_DAY = """
SELECT toString(toDate(local_hour)) AS day, site_id AS site, sum(energy_wh) AS wh
FROM chargestream.hourly_site
WHERE toDate(local_hour) >= {since:Date} AND toDate(local_hour) < {until:Date}
  AND ({site:String} = '' OR site_id = {site:String})
GROUP BY day, site
ORDER BY day
"""

DURATION_BIN_MIN = 15
DURATION_BINS = 48  # the last bin holds 12 h and more
DURATIONS = f"""
SELECT least(intDiv(toUInt64(greatest(0, dateDiff('millisecond', plugged_in_at,
           coalesce(unplugged_at, charging_ended_at, plugged_in_at)))), {DURATION_BIN_MIN * 60_000}),
           {DURATION_BINS}) AS bin,
       count() AS sessions
FROM {BILLED}
GROUP BY bin ORDER BY bin
"""

DURATION_QUANTILES = f"""
SELECT quantilesExact(0.5, 0.9)(dateDiff('millisecond', plugged_in_at,
           coalesce(unplugged_at, charging_ended_at, plugged_in_at)) / 60000) AS q
FROM {BILLED}
"""

# The bins of charging_speed_distribution (1 kW below 22 kW, 10 kW above), over the period's sessions
# that delivered energy.
SPEEDS = f"""
SELECT power_class, if(mean_kw < 22, floor(mean_kw), floor(mean_kw / 10) * 10) AS kw_from,
       if(mean_kw < 22, 1, 10) AS kw_width, count() AS sessions
FROM chargestream.charging_speed
WHERE session_id IN (SELECT session_id FROM {BILLED}) AND energy_wh > 0 AND charging_minutes > 0
GROUP BY power_class, kw_from, kw_width
ORDER BY power_class, kw_from
"""

IDLE_BIN_MIN = 10
IDLE_BINS = 36  # the last bin holds 6 h and more
IDLE = f"""
SELECT least(intDiv(toUInt64(idle_minutes), {IDLE_BIN_MIN}), {IDLE_BINS}) AS bin, count() AS sessions
FROM {BILLED} AND idle_minutes > 0
GROUP BY bin ORDER BY bin
"""

OFFENDERS = f"""
SELECT id_token_hash AS who, count() AS sessions, sum(idle_minutes) AS idle_total,
       avg(idle_minutes) AS idle_mean, quantileExact(0.9)(idle_minutes) AS idle_p90,
       toString(sum(cost_parking)) AS fees, any(currency) AS money
FROM {BILLED} AND id_token_hash != ''
GROUP BY who
HAVING idle_total > 0
ORDER BY idle_total DESC, who
LIMIT 10
"""

# Every port seen in the period (a status or an outage), with its outage and excluded minutes clipped to
# it: uptime = (T - (outage - excluded)) / T, DOMAIN.md's formula over the report's period (the NEVI
# monthly figure is port_uptime_monthly).
UPTIME = """
WITH toDateTime64({since:Date}, 3, 'UTC') AS a, toDateTime64({until:Date}, 3, 'UTC') AS b
SELECT ports.station_id AS station, ports.connector_id AS connector,
       down.outage_min AS outage_min, down.excluded_min AS excluded_min
FROM (
    SELECT DISTINCT station_id, connector_id FROM chargestream.status_changes
    WHERE connector_id > 0 AND station_time >= a AND station_time < b
    UNION DISTINCT
    SELECT DISTINCT station_id, connector_id FROM chargestream.port_outage_spans
    WHERE connector_id > 0 AND ended_at > a AND started_at < b
) AS ports
LEFT JOIN (
    SELECT station_id, connector_id,
           sumIf(ms, part = 'outage') / 60000 AS outage_min,
           sumIf(ms, part = 'excluded') / 60000 AS excluded_min
    FROM (
        SELECT station_id, connector_id, part,
               dateDiff('millisecond', greatest(started_at, a), least(ended_at, b)) AS ms
        FROM chargestream.port_outage_spans
        WHERE ended_at > a AND started_at < b
    )
    GROUP BY station_id, connector_id
) AS down ON down.station_id = ports.station_id AND down.connector_id = ports.connector_id
WHERE {site:String} = ''
   OR ports.station_id IN (SELECT station_id FROM chargestream.station_info WHERE site_id = {site:String})
"""

# The newest state of every alert but idle ones and dispatches, open at some point in the period.
FAULT_ALERTS = """
SELECT alert_id AS id, argMax(type, version) AS kind, argMax(severity, version) AS level,
       argMax(status, version) AS state, argMax(station_id, version) AS station,
       argMax(site_id, version) AS site, toUnixTimestamp64Milli(min(opened_at)) AS opened_ms,
       toUnixTimestamp64Milli(argMax(resolved_at, version)) AS resolved_ms,
       argMax(parent_id, version) AS parent
FROM chargestream.alerts FINAL
GROUP BY alert_id
HAVING kind NOT IN ('idle', 'maintenance_dispatch')
   AND opened_ms < toUnixTimestamp(toDateTime({until:Date}, 'UTC')) * 1000
   AND (resolved_ms IS NULL OR resolved_ms >= toUnixTimestamp(toDateTime({since:Date}, 'UTC')) * 1000)
   AND ({site:String} = '' OR site = {site:String})
ORDER BY opened_ms, id
"""

DISPATCHES = """
SELECT count() AS raised, countIf(state = 'resolved') AS resolved FROM (
    SELECT alert_id, argMax(status, version) AS state, argMax(site_id, version) AS site,
           min(opened_at) AS opened
    FROM chargestream.alerts FINAL
    WHERE type = 'maintenance_dispatch'
    GROUP BY alert_id
)
WHERE toDate(opened) >= {since:Date} AND toDate(opened) < {until:Date}
  AND ({site:String} = '' OR site = {site:String})
"""

REVENUE = """
SELECT site_id AS site, currency AS money, sum(sessions) AS n, sum(energy_wh) AS wh,
       toString(sum(cost_energy)) AS energy, toString(sum(cost_time)) AS time,
       toString(sum(cost_parking)) AS parking, toString(sum(cost_flat)) AS flat,
       toString(sum(cost_total)) AS total, toString(sum(cost_total_incl_vat)) AS total_incl_vat
FROM chargestream.revenue_daily
WHERE day >= {since:Date} AND day < {until:Date} AND ({site:String} = '' OR site_id = {site:String})
GROUP BY site, money
ORDER BY money, site
"""


def number(value: Any) -> float:
    """A JSON value of the engine as a float (64-bit integers and decimals arrive as strings)."""
    return 0.0 if value is None else float(value)
