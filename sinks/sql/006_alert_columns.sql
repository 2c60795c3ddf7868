-- The alert contract's own fields as columns (until now version rode in details, the rest was not kept).
-- The version joins the sorting key: two states of one alert may share a time and a status (a resolved
-- alert re-sent once with the incident it was folded into), and every state change is a row; a sink
-- retry still writes the same key and is replaced.
ALTER TABLE chargestream.alerts
    ADD COLUMN IF NOT EXISTS version UInt32,
    ADD COLUMN IF NOT EXISTS connector_id Nullable(UInt16),
    ADD COLUMN IF NOT EXISTS resolved_at Nullable(DateTime64(3, 'UTC')),
    ADD COLUMN IF NOT EXISTS members String DEFAULT '[]',
    ADD COLUMN IF NOT EXISTS parent_id Nullable(String),
    ADD COLUMN IF NOT EXISTS summary String DEFAULT '',
    MODIFY ORDER BY (alert_id, updated_at, status, version);
