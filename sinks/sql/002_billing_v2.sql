-- Session records v2: VAT-inclusive total, the OCPI charging periods (CDR export) and corrections.
ALTER TABLE chargestream.billing_records ADD COLUMN IF NOT EXISTS cost_total_incl_vat Decimal(18, 4) DEFAULT 0 AFTER cost_total;
ALTER TABLE chargestream.billing_records ADD COLUMN IF NOT EXISTS charging_periods String DEFAULT '[]';
ALTER TABLE chargestream.session_updates ADD COLUMN IF NOT EXISTS record_type LowCardinality(String) DEFAULT 'update';

-- Every bill ever issued and every credit that cancelled one: a late event never overwrites a
-- bill silently. sum() over the ledger is what was billed net; billing_records FINAL is the
-- current bill per session.
CREATE TABLE IF NOT EXISTS chargestream.billing_ledger
(
    session_id String,
    version UInt64,
    record_type LowCardinality(String),
    corrects_version Nullable(UInt64),
    station_id LowCardinality(String),
    site_id LowCardinality(String),
    tariff_id String,
    energy_wh Int64,
    cost_energy Decimal(18, 4),
    cost_time Decimal(18, 4),
    cost_parking Decimal(18, 4),
    cost_flat Decimal(18, 4),
    cost_total Decimal(18, 4),
    cost_total_incl_vat Decimal(18, 4),
    currency LowCardinality(String),
    quality_flags Array(LowCardinality(String)),
    emitted_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (session_id, version)
SETTINGS non_replicated_deduplication_window = 1000;
