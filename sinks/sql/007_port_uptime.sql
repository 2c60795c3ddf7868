-- Port uptime (NEVI, 23 CFR 680.116). port_outages: one row per span a port could not charge, written
-- by the worker's engine when it opens (version 1, ended_at NULL) and when it ends (version 2).
-- ReplacingMergeTree(version): the closed span replaces the open one, and a sink retry or a replayed
-- batch writes the same key again; ordered by port and start (every query here goes by port), no TTL
-- (uptime is reported over a trailing year, and the rows are few: a handful per port and month).
CREATE TABLE IF NOT EXISTS chargestream.port_outages
(
    outage_id String,
    station_id LowCardinality(String),
    connector_id UInt16,
    site_id LowCardinality(String),
    started_at DateTime64(3, 'UTC'),
    ended_at Nullable(DateTime64(3, 'UTC')),
    cause LowCardinality(String),
    version UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (station_id, connector_id, started_at, outage_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- The spans with their excluded part: the overlap with the site's site_outage incidents (power or
-- network outside the operator's control). An open span or incident counts until now.
CREATE OR REPLACE VIEW chargestream.port_outage_spans AS
WITH
    spans AS (
        SELECT outage_id, station_id, connector_id, site_id, cause, started_at AS s,
               coalesce(ended_at, greatest(now64(3), started_at)) AS e
        FROM chargestream.port_outages FINAL
    ),
    incidents AS (
        SELECT alert_id, any(site_id) AS site_id, min(opened_at) AS s,
               coalesce(argMax(resolved_at, version), now64(3)) AS e
        FROM chargestream.alerts FINAL
        WHERE type = 'site_outage'
        GROUP BY alert_id
    )
SELECT spans.outage_id AS outage_id, spans.station_id AS station_id, spans.connector_id AS connector_id,
       spans.site_id AS site_id, spans.cause AS cause, spans.s AS started_at, spans.e AS ended_at,
       'outage' AS part, '' AS incident_id
FROM spans
UNION ALL
SELECT spans.outage_id, spans.station_id, spans.connector_id, spans.site_id, spans.cause,
       greatest(spans.s, incidents.s), least(spans.e, incidents.e), 'excluded', incidents.alert_id
FROM spans INNER JOIN incidents ON spans.site_id = incidents.site_id
WHERE least(spans.e, incidents.e) > greatest(spans.s, incidents.s);

-- Per port and calendar month (UTC): outage and excluded minutes, the month's uptime
-- (minutes of the month - (outage - excluded)) / minutes of the month x 100, and DOMAIN.md's mu over
-- the trailing year ending with that month, (525600 - (T_outage - T_excluded)) / 525600 x 100 with the
-- twelve months' sums (NEVI's target: above 97). Every port that reported a status in a month has a row;
-- a port with no outage has 100.
CREATE OR REPLACE VIEW chargestream.port_uptime_monthly AS
WITH
    pieces AS (
        SELECT station_id, connector_id, part,
               arrayJoin(arrayMap(i -> addMonths(toStartOfMonth(started_at), i),
                   range(toUInt32(dateDiff('month', toStartOfMonth(started_at), toStartOfMonth(ended_at)) + 1)))) AS month,
               greatest(started_at, toDateTime64(month, 3, 'UTC')) AS s,
               least(ended_at, toDateTime64(addMonths(month, 1), 3, 'UTC')) AS e
        FROM chargestream.port_outage_spans
    ),
    down AS (
        SELECT month, station_id, connector_id,
               sumIf(dateDiff('millisecond', s, e), part = 'outage') / 60000 AS outage,
               sumIf(dateDiff('millisecond', s, e), part = 'excluded') / 60000 AS excluded
        FROM pieces
        WHERE e > s
        GROUP BY month, station_id, connector_id
    ),
    ports AS (
        SELECT DISTINCT toStartOfMonth(station_time) AS month, station_id, connector_id
        FROM chargestream.status_changes
        WHERE connector_id > 0
        UNION DISTINCT
        SELECT month, station_id, connector_id FROM down
    ),
    months AS (
        SELECT ports.month AS month, ports.station_id AS station_id, ports.connector_id AS connector_id,
               down.outage AS outage, down.excluded AS excluded,
               dateDiff('minute', toDateTime(ports.month, 'UTC'), toDateTime(addMonths(ports.month, 1), 'UTC')) AS minutes
        FROM ports
        LEFT JOIN down ON down.month = ports.month AND down.station_id = ports.station_id
            AND down.connector_id = ports.connector_id
    )
SELECT month, station_id, connector_id,
       round(outage, 2) AS outage_minutes,
       round(excluded, 2) AS excluded_minutes,
       round((minutes - (outage - excluded)) / minutes * 100, 3) AS uptime_pct,
       round((525600 - sum(outage - excluded) OVER trailing) / 525600 * 100, 3) AS uptime_pct_trailing_year
FROM months
WINDOW trailing AS (PARTITION BY station_id, connector_id ORDER BY toRelativeMonthNum(month)
                    RANGE BETWEEN 11 PRECEDING AND CURRENT ROW);
