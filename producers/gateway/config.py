"""What the gateway is built from: plain values, no environment (chargestream reads that)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from producers.gateway.limits import FRAMES_PER_SECOND
from schemas.network import NetworkConfig


@dataclass(frozen=True)
class GatewayConfig:
    bootstrap: str
    network: NetworkConfig
    id_token_key: bytes  # the HMAC key for idTags: only the gateway holds it
    host: str = "127.0.0.1"
    port: int = 8180
    registry_url: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    ping_seconds: float = 60.0
    station_rate: float = FRAMES_PER_SECOND
    clock_seconds: float = 60.0  # the gateway's clock ticks (producers/gateway/clock.py); 0 = none
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # Prometheus metrics (producers/gateway/metrics.py); 0 = not served
    network_source: str = ""  # where the network came from, for the start-up line
