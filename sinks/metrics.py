"""The sink's Prometheus metrics (README "Metrics"). Rates come from the counters: rows/s of a table is
`rate(chargestream_sink_rows_total{table="meter_values"}[1m])`."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

ROWS: Final = Counter("chargestream_sink_rows", "Rows written to ClickHouse, by table", ["table"])
BATCHES: Final = Counter(
    "chargestream_sink_batches", "Batches written (every table of a batch in, offset committed)"
)
BATCH_SECONDS: Final = Histogram(
    "chargestream_sink_batch_seconds",
    "Time from a batch's plan commit to its offset commit: rows made, every table inserted",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DEAD_LETTERS: Final = Counter(
    "chargestream_sink_dead_letters", "Records sent to a DLQ with their reason", ["topic"]
)
INSERT_FAILURES: Final = Counter("chargestream_sink_insert_failures", "Inserts ClickHouse refused (retried)")
FAILING: Final = Gauge("chargestream_sink_clickhouse_failing", "1 while ClickHouse refuses inserts, else 0")
LAG: Final = Gauge(
    "chargestream_sink_consumer_lag",
    "Records on the topic not yet written, per partition",
    ["topic", "partition"],
)
