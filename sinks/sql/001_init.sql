-- Contract tables (ARCHITECTURE.md §4). Every MergeTree table keeps a deduplication window so
-- that a sink batch re-inserted after a crash (same insert_deduplication_token) is dropped.
CREATE DATABASE IF NOT EXISTS chargestream;

CREATE TABLE IF NOT EXISTS chargestream.billing_records
(
    session_id String,
    station_id LowCardinality(String),
    connector_id UInt16,
    site_id LowCardinality(String),
    id_token_hash String,
    tariff_id String,
    transaction_id String,
    plugged_in_at DateTime64(3, 'UTC'),
    charging_started_at Nullable(DateTime64(3, 'UTC')),
    charging_ended_at Nullable(DateTime64(3, 'UTC')),
    unplugged_at Nullable(DateTime64(3, 'UTC')),
    energy_wh UInt64,
    energy_kwh Float64 MATERIALIZED energy_wh / 1000,
    charging_minutes Float64,
    idle_minutes Float64,
    max_power_kw Float64,
    cost_energy Decimal(18, 4),
    cost_time Decimal(18, 4),
    cost_parking Decimal(18, 4),
    cost_flat Decimal(18, 4),
    cost_total Decimal(18, 4),
    currency LowCardinality(String),
    stop_reason LowCardinality(String),
    quality_flags Array(LowCardinality(String)),
    version UInt64,
    emitted_at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY session_id
SETTINGS non_replicated_deduplication_window = 1000;

-- Every lifecycle record of every session (the billing record is the final one).
CREATE TABLE IF NOT EXISTS chargestream.session_updates
(
    session_id String,
    version UInt64,
    state LowCardinality(String),
    is_final Bool,
    station_id LowCardinality(String),
    connector_id UInt16,
    energy_wh UInt64,
    emitted_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (session_id, version)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS chargestream.meter_values
(
    station_id LowCardinality(String),
    connector_id UInt16,
    transaction_id String,
    sampled_at DateTime64(3, 'UTC'),
    measurand LowCardinality(String),
    phase LowCardinality(String),
    location LowCardinality(String),
    context LowCardinality(String),
    unit LowCardinality(String),
    value Float64,
    raw_value String,
    event_id String,
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(sampled_at)
ORDER BY (station_id, connector_id, sampled_at, measurand, phase, context, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS chargestream.status_changes
(
    station_id LowCardinality(String),
    connector_id UInt16,
    station_time DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    status LowCardinality(String),
    error_code LowCardinality(String),
    vendor_error_code String,
    info String,
    event_id String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(station_time)
ORDER BY (station_id, connector_id, station_time, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Transactions, boots, heartbeats, connection changes, fault notices: kind + JSON details.
CREATE TABLE IF NOT EXISTS chargestream.station_events
(
    station_id LowCardinality(String),
    connector_id UInt16,
    station_time DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    source LowCardinality(String),
    details String,
    event_id String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(station_time)
ORDER BY (station_id, kind, station_time, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS chargestream.feedback
(
    feedback_id String,
    station_id LowCardinality(String),
    connector_id Nullable(UInt16),
    rating Nullable(UInt8),
    category LowCardinality(String),
    comment String,
    user_ref_hash String,
    submitted_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (station_id, submitted_at, feedback_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS chargestream.alerts
(
    alert_id String,
    type LowCardinality(String),
    severity LowCardinality(String),
    status LowCardinality(String),
    station_id LowCardinality(String),
    site_id LowCardinality(String),
    opened_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    details String
)
ENGINE = ReplacingMergeTree
ORDER BY (alert_id, updated_at, status)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS chargestream.schema_migrations
(
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY name;
