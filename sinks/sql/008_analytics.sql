-- Analytics (README "Analysts' tables and views"): hourly aggregates per port written by materialized
-- views, and the analyst views of ARCHITECTURE.md §4.
--
-- Exact under the pipeline's own behaviour. The worker is at-least-once: after a crash it may send a
-- record again, at another offset, in another sink batch; a SummingMergeTree would add it twice. So each
-- aggregate row is one *source record's share of one hour*, keyed by that record (session version, alert,
-- status change, report): a repeat writes the same key and ReplacingMergeTree keeps one; the views sum
-- FINAL. A correction is a credit (the old bill negated, its own version) and a new bill: their rows add up
-- to the new bill alone, never overwrite anything.

-- The ledger keeps what the hourly split needs (a credit is the cancelled bill with money and energy
-- negated: the same times, so its rows cancel the bill's hour by hour).
ALTER TABLE chargestream.billing_ledger
    ADD COLUMN IF NOT EXISTS connector_id UInt16 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS plugged_in_at DateTime64(3, 'UTC') DEFAULT 0,
    ADD COLUMN IF NOT EXISTS charging_started_at Nullable(DateTime64(3, 'UTC')),
    ADD COLUMN IF NOT EXISTS charging_ended_at Nullable(DateTime64(3, 'UTC')),
    ADD COLUMN IF NOT EXISTS unplugged_at Nullable(DateTime64(3, 'UTC')),
    ADD COLUMN IF NOT EXISTS charging_minutes Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS idle_minutes Float64 DEFAULT 0;

-- The instants each time zone's UTC offset changes (sinks/time_zones.py; written by the sink for the
-- zone of every StationBoot). ClickHouse takes a zone only as a constant; views read a site's local time
-- with an ASOF JOIN on this. ReplacingMergeTree: every boot writes its zone's rows again, kept once.
CREATE TABLE IF NOT EXISTS chargestream.tz_offsets
(
    time_zone LowCardinality(String),
    from_utc DateTime64(3, 'UTC'),
    offset_s Int32
)
ENGINE = ReplacingMergeTree
ORDER BY (time_zone, from_utc)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per source record and UTC hour of one port (connector 0: the station as a whole). Ordered by
-- port and hour (every view goes by port and time), partitioned by month (FINAL and TTLs work per part),
-- no TTL: analysts compare years, and the rows are few (a session spans a handful of hours).
CREATE TABLE IF NOT EXISTS chargestream.port_hourly
(
    station_id LowCardinality(String),
    connector_id UInt16,
    site_id LowCardinality(String),
    hour DateTime('UTC'),
    source LowCardinality(String),
    source_id String,
    version UInt64,
    sessions Int32,
    energy_wh Int64,
    occupied_minutes Float64,
    charging_minutes Float64,
    idle_minutes Float64,
    faults Int32,
    warnings Int32,
    reports Int32,
    failure_reports Int32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (station_id, connector_id, hour, source, source_id, version)
SETTINGS non_replicated_deduplication_window = 1000;

-- Sessions: every bill and credit, split across the hours it spans. Occupied: plug-in to unplug.
-- Charging and energy: over the charging span, energy by cumulative integer shares (the hours' Wh add
-- up to the bill's exactly); idle: from the end of charging to the unplug, scaled to the bill's figures.
CREATE MATERIALIZED VIEW IF NOT EXISTS chargestream.port_hourly_sessions TO chargestream.port_hourly AS
SELECT
    station_id, connector_id, site_id,
    toDateTime(intDiv(h, 1000), 'UTC') AS hour,
    'session' AS source, session_id AS source_id, version,
    if(i = 0, sign, 0) AS sessions,
    if(span > 0, intDiv(energy_wh * greatest(0, least(ce, h + 3600000) - cs), span)
                 - intDiv(energy_wh * greatest(0, least(ce, h) - cs), span),
       if(i = 0, energy_wh, 0)) AS energy_wh,
    sign * greatest(0, least(u, h + 3600000) - greatest(p, h)) / 60000 AS occupied_minutes,
    sign * if(span > 0, charging_minutes * greatest(0, least(ce, h + 3600000) - greatest(cs, h)) / span,
              if(i = 0, charging_minutes, 0)) AS charging_minutes,
    sign * if(u > ce, idle_minutes * greatest(0, least(u, h + 3600000) - greatest(ce, h)) / (u - ce),
              if(i = 0, idle_minutes, 0)) AS idle_minutes
FROM
(
    SELECT *, intDiv(p, 3600000) * 3600000 + i * 3600000 AS h
    FROM
    (
        SELECT
            session_id, version, station_id, connector_id, site_id, energy_wh, charging_minutes, idle_minutes,
            if(record_type = 'credit', -1, 1) AS sign,
            toUnixTimestamp64Milli(plugged_in_at) AS p,
            greatest(p, toUnixTimestamp64Milli(coalesce(unplugged_at, charging_ended_at, plugged_in_at))) AS u,
            least(u, greatest(p, toUnixTimestamp64Milli(coalesce(charging_started_at, plugged_in_at)))) AS cs,
            least(u, greatest(cs, toUnixTimestamp64Milli(coalesce(charging_ended_at, charging_started_at, plugged_in_at)))) AS ce,
            ce - cs AS span,
            arrayJoin(range(toUInt32(intDiv(u, 3600000) - intDiv(p, 3600000) + 1))) AS i
        FROM chargestream.billing_ledger
        WHERE record_type IN ('bill', 'credit')
    )
);

-- Faults: the opening of each connector or station fault alert (version 1), in its hour. (No column here
-- is aliased `version`: ClickHouse reads SELECT aliases in WHERE, and the filter would read the alias.)
CREATE MATERIALIZED VIEW IF NOT EXISTS chargestream.port_hourly_faults TO chargestream.port_hourly AS
SELECT station_id, coalesce(connector_id, 0) AS connector_id, site_id, toStartOfHour(opened_at) AS hour,
       'fault' AS source, alert_id AS source_id, 1 AS faults
FROM chargestream.alerts
WHERE type IN ('connector_fault', 'station_fault') AND version = 1;

-- Warnings: an error code with a status that is not Faulted (not an outage, DOMAIN.md "Faults").
CREATE MATERIALIZED VIEW IF NOT EXISTS chargestream.port_hourly_warnings TO chargestream.port_hourly AS
SELECT station_id, connector_id, '' AS site_id, toStartOfHour(station_time) AS hour,
       'warning' AS source, event_id AS source_id, 1 AS warnings
FROM chargestream.status_changes
WHERE status != 'Faulted' AND error_code NOT IN ('', 'NoError');

-- Driver reports (failure reports: the categories that can dispatch a technician).
CREATE MATERIALIZED VIEW IF NOT EXISTS chargestream.port_hourly_reports TO chargestream.port_hourly AS
SELECT station_id, coalesce(connector_id, 0) AS connector_id, '' AS site_id, toStartOfHour(submitted_at) AS hour,
       'report' AS source, feedback_id AS source_id, 1 AS reports,
       toInt32(category IN ('cannot-start', 'broken-cable', 'slow', 'payment')) AS failure_reports
FROM chargestream.feedback;

-- Each station's site, time zone, make and rated power: from its latest boot (the stations file rides on
-- it), the site from its bills where it never booted.
CREATE OR REPLACE VIEW chargestream.station_info AS
SELECT
    station_id,
    argMaxIf(site_id, at, site_id != '') AS site_id,
    coalesce(nullIf(argMaxIf(time_zone, at, time_zone != ''), ''), 'UTC') AS time_zone,
    argMax(vendor, at) AS vendor,
    argMax(model, at) AS model,
    argMax(firmware, at) AS firmware,
    argMax(max_power_kw, at) AS max_power_kw
FROM
(
    SELECT station_id, JSONExtractString(details, 'site_id') AS site_id,
           JSONExtractString(details, 'time_zone') AS time_zone, JSONExtractString(details, 'vendor') AS vendor,
           JSONExtractString(details, 'model') AS model, JSONExtractString(details, 'firmware_version') AS firmware,
           JSONExtractFloat(details, 'max_power_kw') AS max_power_kw, toUnixTimestamp64Milli(station_time) AS at
    FROM chargestream.station_events FINAL
    WHERE kind = 'StationBoot'
    UNION ALL
    SELECT station_id, any(site_id), '', '', '', '', 0, -1
    FROM chargestream.billing_records FINAL
    GROUP BY station_id
)
GROUP BY station_id;

-- The hourly aggregates, de-duplicated, with each port's site and the hour in the site's time zone
-- (local_hour: the local time at which the UTC hour starts).
CREATE OR REPLACE VIEW chargestream.hourly_connector AS
SELECT
    h.station_id AS station_id, h.connector_id AS connector_id,
    if(h.site_id != '', h.site_id, si.site_id) AS site_id, si.time_zone AS time_zone,
    h.hour AS hour, toDateTime(toUnixTimestamp(h.hour) + o.offset_s, 'UTC') AS local_hour,
    sessions, energy_wh, occupied_minutes, charging_minutes, idle_minutes, faults, warnings, reports, failure_reports
FROM
(
    SELECT station_id, connector_id, hour, any(site_id) AS site_id,
           sum(sessions) AS sessions, sum(energy_wh) AS energy_wh,
           -- a credit's minutes cancel its bill's in floating point: round off the last bits
           round(sum(occupied_minutes), 6) AS occupied_minutes, round(sum(charging_minutes), 6) AS charging_minutes,
           round(sum(idle_minutes), 6) AS idle_minutes, sum(faults) AS faults,
           sum(warnings) AS warnings, sum(reports) AS reports, sum(failure_reports) AS failure_reports
    FROM chargestream.port_hourly FINAL
    GROUP BY station_id, connector_id, hour
) AS h
LEFT JOIN chargestream.station_info AS si ON si.station_id = h.station_id
ASOF LEFT JOIN chargestream.tz_offsets AS o ON o.time_zone = si.time_zone AND toDateTime64(h.hour, 3, 'UTC') >= o.from_utc;

CREATE OR REPLACE VIEW chargestream.hourly_station AS
SELECT station_id, any(site_id) AS site_id, any(time_zone) AS time_zone, hour, any(local_hour) AS local_hour,
       sum(sessions) AS sessions, sum(energy_wh) AS energy_wh, sum(occupied_minutes) AS occupied_minutes,
       sum(charging_minutes) AS charging_minutes, sum(idle_minutes) AS idle_minutes, sum(faults) AS faults,
       sum(warnings) AS warnings, sum(reports) AS reports, sum(failure_reports) AS failure_reports,
       uniqExactIf(connector_id, connector_id > 0) AS connectors_seen
FROM chargestream.hourly_connector
GROUP BY station_id, hour;

CREATE OR REPLACE VIEW chargestream.hourly_site AS
SELECT site_id, any(time_zone) AS time_zone, hour, any(local_hour) AS local_hour,
       sum(sessions) AS sessions, sum(energy_wh) AS energy_wh, sum(occupied_minutes) AS occupied_minutes,
       sum(charging_minutes) AS charging_minutes, sum(idle_minutes) AS idle_minutes, sum(faults) AS faults,
       sum(warnings) AS warnings, sum(reports) AS reports, sum(failure_reports) AS failure_reports
FROM chargestream.hourly_connector
GROUP BY site_id, hour;

-- The current bills, one row per session: what billing_records FINAL gives (a credited session without
-- a new bill is gone), with each bill's local plug-in time.
CREATE OR REPLACE VIEW chargestream.billing AS
SELECT b.*, z.zone AS time_zone,
       fromUnixTimestamp64Milli(toUnixTimestamp64Milli(b.plugged_in_at) + o.offset_s * 1000, 'UTC') AS plugged_in_local
FROM (SELECT * EXCEPT (is_deleted) FROM chargestream.billing_records FINAL) AS b
LEFT JOIN (SELECT station_id AS zone_station, time_zone AS zone FROM chargestream.station_info) AS z
    ON z.zone_station = b.station_id
ASOF LEFT JOIN chargestream.tz_offsets AS o ON o.time_zone = z.zone AND b.plugged_in_at >= o.from_utc;

-- Per port and local day: occupied, charging and idle minutes (from the hourly aggregates), and the
-- minutes it could not charge by cause (port_outage_spans, the excluded part included: this is what
-- drivers met, port_uptime_monthly is what NEVI counts). available = the rest of the day.
CREATE OR REPLACE VIEW chargestream.port_daily AS
WITH
    use AS (
        SELECT station_id, connector_id, any(site_id) AS site_id, toDate(local_hour) AS day,
               sum(sessions) AS sessions, sum(occupied_minutes) AS occupied_minutes,
               sum(charging_minutes) AS charging_minutes, sum(idle_minutes) AS idle_minutes
        FROM chargestream.hourly_connector
        WHERE connector_id > 0
        GROUP BY station_id, connector_id, day
    ),
    pieces AS (
        SELECT station_id, connector_id, site_id, cause, h,
               greatest(0, least(e, h + 3600000) - greatest(s, h)) / 60000 AS minutes
        FROM
        (
            SELECT station_id, connector_id, site_id, cause,
                   toUnixTimestamp64Milli(started_at) AS s, toUnixTimestamp64Milli(ended_at) AS e,
                   arrayJoin(range(intDiv(s, 3600000) * 3600000, intDiv(e - 1, 3600000) * 3600000 + 1, 3600000)) AS h
            FROM chargestream.port_outage_spans
            WHERE part = 'outage' AND ended_at > started_at
        )
    ),
    down AS (
        SELECT p.station_id AS station_id, p.connector_id AS connector_id, any(p.site_id) AS site_id,
               toDate(toDateTime(intDiv(p.h, 1000) + o.offset_s, 'UTC')) AS day,
               sumIf(p.minutes, p.cause LIKE '%Faulted') AS faulted_minutes,
               sumIf(p.minutes, p.cause = 'offline') AS offline_minutes,
               sumIf(p.minutes, p.cause NOT LIKE '%Faulted' AND p.cause != 'offline') AS unavailable_minutes
        FROM pieces AS p
        LEFT JOIN chargestream.station_info AS si ON si.station_id = p.station_id
        ASOF LEFT JOIN chargestream.tz_offsets AS o
            ON o.time_zone = si.time_zone AND fromUnixTimestamp64Milli(p.h, 'UTC') >= o.from_utc
        GROUP BY station_id, connector_id, day
    )
SELECT
    if(use.station_id != '', use.station_id, down.station_id) AS station_id,
    if(use.station_id != '', use.connector_id, down.connector_id) AS connector_id,
    if(use.site_id != '', use.site_id, down.site_id) AS site_id,
    if(use.station_id != '', use.day, down.day) AS day,
    use.sessions AS sessions,
    round(use.occupied_minutes, 6) AS occupied_minutes,
    round(use.charging_minutes, 6) AS charging_minutes,
    round(use.idle_minutes, 6) AS idle_minutes,
    round(down.faulted_minutes, 6) AS faulted_minutes,
    round(down.offline_minutes, 6) AS offline_minutes,
    round(down.unavailable_minutes, 6) AS unavailable_minutes,
    round(greatest(0, 1440 - use.occupied_minutes - down.faulted_minutes - down.offline_minutes
                       - down.unavailable_minutes), 6) AS available_minutes
FROM use
FULL OUTER JOIN down ON use.station_id = down.station_id AND use.connector_id = down.connector_id AND use.day = down.day
SETTINGS join_use_nulls = 0;

-- Analyst views (ARCHITECTURE.md §4). Local time is the site's: weekday 1 = Monday.

-- Sessions plugged in per local weekday and hour (from the bills), energy delivered and the mean number
-- of occupied connectors in that slot (occupied hours / the number of such slots the station was seen in).
CREATE OR REPLACE VIEW chargestream.peak_hours AS
WITH
    slots AS (
        SELECT site_id, station_id, weekday, hour, sum(sessions) AS sessions, sum(energy_wh) AS energy_wh,
               sum(occupied_minutes) AS occupied_minutes
        FROM
        (
            SELECT site_id, station_id, toDayOfWeek(plugged_in_local) AS weekday, toHour(plugged_in_local) AS hour,
                   1 AS sessions, toInt64(0) AS energy_wh, 0. AS occupied_minutes
            FROM chargestream.billing
            UNION ALL
            SELECT site_id, station_id, toDayOfWeek(local_hour), toHour(local_hour), 0, energy_wh, occupied_minutes
            FROM chargestream.hourly_station
        )
        GROUP BY site_id, station_id, weekday, hour
    ),
    seen AS (
        SELECT station_id, min(toDate(local_hour)) AS first_day, max(toDate(local_hour)) AS last_day
        FROM chargestream.hourly_station
        GROUP BY station_id
    )
SELECT slots.site_id AS site_id, slots.station_id AS station_id, slots.weekday AS weekday, slots.hour AS hour,
       slots.sessions AS sessions, slots.energy_wh AS energy_wh,
       round(slots.occupied_minutes / 60 / greatest(1, length(arrayFilter(d -> toDayOfWeek(d) = slots.weekday,
           arrayMap(i -> seen.first_day + i, range(toUInt32(dateDiff('day', seen.first_day, seen.last_day) + 1)))))),
           4) AS mean_occupied_connectors
FROM slots
LEFT JOIN seen ON seen.station_id = slots.station_id;

-- Per connector and local day: occupied, charging and idle minutes and their share of the day.
CREATE OR REPLACE VIEW chargestream.utilization_daily AS
SELECT day, site_id, station_id, connector_id, occupied_minutes, charging_minutes, idle_minutes,
       round(occupied_minutes / 1440, 6) AS occupied_share, round(charging_minutes / 1440, 6) AS charging_share,
       round(idle_minutes / 1440, 6) AS idle_share
FROM chargestream.port_daily
WHERE sessions IS NOT NULL AND occupied_minutes > 0;

-- Per session: mean kW over the charging minutes and the peak, by the station's rated power class (the
-- session's own peak where the station never said its rating).
CREATE OR REPLACE VIEW chargestream.charging_speed AS
SELECT b.session_id AS session_id, b.station_id AS station_id, b.site_id AS site_id, b.connector_id AS connector_id,
       b.plugged_in_at AS plugged_in_at, b.energy_wh AS energy_wh, b.charging_minutes AS charging_minutes,
       if(si.max_power_kw > 0, si.max_power_kw, b.max_power_kw) AS rated_kw,
       multiIf(rated_kw <= 7.4, 'up to 7.4 kW', rated_kw <= 22, '7.4-22 kW', rated_kw <= 50, '22-50 kW',
               rated_kw <= 150, '50-150 kW', 'over 150 kW') AS power_class,
       round(if(b.charging_minutes > 0, b.energy_wh / 1000 / (b.charging_minutes / 60), 0), 3) AS mean_kw,
       b.max_power_kw AS peak_kw
FROM chargestream.billing AS b
LEFT JOIN chargestream.station_info AS si ON si.station_id = b.station_id
WHERE b.energy_wh > 0;

-- The distribution: sessions per power class and mean-kW band (1 kW bands up to 22 kW, 10 kW above).
CREATE OR REPLACE VIEW chargestream.charging_speed_distribution AS
SELECT power_class, if(mean_kw < 22, floor(mean_kw), floor(mean_kw / 10) * 10) AS kw_from, count() AS sessions,
       round(count() / sum(count()) OVER (PARTITION BY power_class), 6) AS share
FROM chargestream.charging_speed
GROUP BY power_class, kw_from;

-- Who leaves cars parked after charging: per hashed driver token (never the raw idTag).
CREATE OR REPLACE VIEW chargestream.idle_offenders AS
SELECT id_token_hash, count() AS sessions, round(sum(idle_minutes), 6) AS idle_minutes_total,
       round(avg(idle_minutes), 6) AS idle_minutes_mean, round(quantileExact(0.9)(idle_minutes), 6) AS idle_minutes_p90,
       sum(cost_parking) AS idle_fees, any(currency) AS currency
FROM chargestream.billing
WHERE id_token_hash != ''
GROUP BY id_token_hash;

-- Where faults cluster: per station with its site, make and firmware.
CREATE OR REPLACE VIEW chargestream.fault_hotspots AS
WITH
    hours AS (
        SELECT station_id, sum(faults) AS faults, sum(warnings) AS warnings, sum(failure_reports) AS reports
        FROM chargestream.hourly_connector GROUP BY station_id
    ),
    down AS (
        SELECT station_id, sum(dateDiff('millisecond', started_at, ended_at)) / 60000 AS downtime_minutes
        FROM chargestream.port_outage_spans WHERE part = 'outage' GROUP BY station_id
    ),
    failed AS (
        SELECT station_id, countIf(energy_wh = 0) AS failed_sessions, count() AS sessions
        FROM chargestream.billing GROUP BY station_id
    )
SELECT si.site_id AS site_id, si.station_id AS station_id, si.vendor AS vendor, si.model AS model,
       si.firmware AS firmware, hours.faults AS faults, hours.warnings AS warnings,
       round(down.downtime_minutes, 6) AS downtime_minutes, failed.failed_sessions AS failed_sessions,
       failed.sessions AS sessions, hours.reports AS reports
FROM chargestream.station_info AS si
LEFT JOIN hours ON hours.station_id = si.station_id
LEFT JOIN down ON down.station_id = si.station_id
LEFT JOIN failed ON failed.station_id = si.station_id;

-- What was billed per site, tariff and local day of the plug-in, by component, excluding and including VAT.
CREATE OR REPLACE VIEW chargestream.revenue_daily AS
SELECT toDate(plugged_in_local) AS day, site_id, tariff_id, currency, count() AS sessions, sum(energy_wh) AS energy_wh,
       sum(cost_energy) AS cost_energy, sum(cost_time) AS cost_time, sum(cost_parking) AS cost_parking,
       sum(cost_flat) AS cost_flat, sum(cost_total) AS cost_total, sum(cost_total_incl_vat) AS cost_total_incl_vat
FROM chargestream.billing
GROUP BY day, site_id, tariff_id, currency;

CREATE OR REPLACE VIEW chargestream.feedback_summary AS
SELECT station_id, category, count() AS reports, round(avgOrNull(rating), 3) AS mean_rating,
       countIf(comment != '') AS with_comment, min(submitted_at) AS first_at, max(submitted_at) AS last_at
FROM chargestream.feedback FINAL
GROUP BY station_id, category;

-- Charging Success Rate (the German P3 / NOW definition): of the sessions started (plug-ins), those that
-- delivered energy and ended normally — by the driver, the car, the back end or a limit reached, not by a
-- fault, a reset or a power loss. Per port and local day of the plug-in.
CREATE OR REPLACE VIEW chargestream.charging_success AS
SELECT toDate(plugged_in_local) AS day, site_id, station_id, connector_id, count() AS attempts,
       countIf(energy_wh > 0 AND stop_reason NOT IN ('EmergencyStop', 'HardReset', 'SoftReset', 'ImmediateReset',
           'Reboot', 'PowerLoss', 'PowerQuality', 'GroundFault', 'OvercurrentFault', 'Other', 'UnlockCommand'))
           AS successful,
       round(successful / attempts, 6) AS success_rate
FROM chargestream.billing
GROUP BY day, site_id, station_id, connector_id;
