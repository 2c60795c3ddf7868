"""What the sink is built from: plain values, no environment (chargestream reads that)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class SinkConfig:
    bootstrap: str
    clickhouse_dsn: str  # chdb://PATH (embedded) or http(s)://user:pass@host:8123
    group: str = "chargestream-sink"
    registry_url: str | None = None
    batch_max: int = 20_000  # messages per topic-partition batch
    flush_seconds: float = 0.5
    decode: Literal["clickhouse", "python"] = "clickhouse"  # who decodes the charger events (event_stage)
    writers: int = 2  # ClickHouse handles writing batches of different partitions at once (sinks.lanes)
    query_host: str = "127.0.0.1"  # the read-only endpoint, served for an embedded store only
    query_port: int = 8123
    run_dir: Path | None = None  # the readiness file for the stack runner
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # Prometheus metrics (sinks/metrics.py); 0 = not served

    @property
    def embedded(self) -> bool:
        return self.clickhouse_dsn.startswith("chdb:")

    @property
    def stages_events(self) -> bool:
        """ClickHouse decodes the charger events: asked for, and it can fetch their schemas (the embedded
        manifest, served on loopback to the embedded engine; a server would need a registry it can reach)."""
        return self.decode == "clickhouse" and self.embedded and self.registry_url is None
