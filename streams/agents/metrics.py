"""The worker's Prometheus metrics (README "Metrics"), served on its own loopback port."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from schemas.records import Alert

EVENTS: Final = Counter("chargestream_worker_events", "Charger events the sessions agent took in")
BATCH_SECONDS: Final = Histogram(
    "chargestream_worker_batch_seconds",
    "Time the sessions agent spends on one batch: decode, engine, sends, state",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SESSION_RECORDS: Final = Counter(
    "chargestream_worker_session_records",
    "Records sent to `sessions`, by kind (update, bill, credit)",
    ["kind"],
)
ALERTS: Final = Counter(
    "chargestream_worker_alerts", "Alert records sent, by type and status", ["type", "status"]
)
DEAD_LETTERS: Final = Counter(
    "chargestream_worker_dead_letters", "Records sent to a DLQ, by stage", ["stage"]
)
LAG: Final = Gauge(
    "chargestream_worker_consumer_lag",
    "charger.events records after the last one the sessions agent took, per partition",
    ["partition"],
)


def count_alert(alert: Alert) -> None:
    ALERTS.labels(alert.type, alert.status).inc()
