"""Configuration from CHARGESTREAM_* environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.network import FaultRulesConfig

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _default_state_dir() -> Path:
    # In a checkout (editable install) state lives in the repo's ignored .chargestream/;
    # an installed package falls back to the user's state directory.
    if (_PACKAGE_ROOT / "pyproject.toml").is_file():
        return _PACKAGE_ROOT / ".chargestream"
    return Path.home() / ".local" / "state" / "chargestream"


class Settings(BaseSettings):
    """Every knob of the local stack; an env var naming a cluster always wins over local services."""

    model_config = SettingsConfigDict(env_prefix="CHARGESTREAM_", env_nested_delimiter="__", extra="ignore")

    state_dir: Path = Field(default_factory=_default_state_dir, description="broker data, store, logs, pids")
    cache_dir: Path = Field(
        default_factory=_default_state_dir, description="downloads kept across state dirs (jars)"
    )
    maven_settings: Path | None = Field(
        None, description="Maven settings.xml (mirrors, proxies) for the jar fetch"
    )
    kafka_bootstrap: str | None = Field(None, description="existing cluster; when set no broker is started")
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_version: str = "4.2.0"
    kafka_heap: str = "768m"
    topic_partitions: int = 3
    clickhouse_url: str | None = Field(None, description="chdb://PATH or http(s)://host:8123")
    query_host: str = "127.0.0.1"
    query_port: int = 8123
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8180
    gateway_tls_cert: Path | None = Field(
        None,
        description="PEM certificate (chain) for wss:// on the gateway port (OCPP security profile 2); "
        "needs gateway_tls_key",
    )
    gateway_tls_key: Path | None = Field(None, description="PEM private key of gateway_tls_cert")
    gateway_ping_seconds: float = Field(
        60.0,
        description="WebSocket ping interval of the gateway; a station whose pong is later than half of it "
        "is disconnected (0 = no pings)",
    )
    gateway_station_rate: float = Field(
        20.0,
        description="OCPP messages per second one station may send, sustained (bursts of 10 s worth pass); "
        "beyond, each gets a CallError and is counted",
    )
    metrics_host: str = Field("127.0.0.1", description="where every service serves its Prometheus metrics")
    gateway_metrics_port: int = Field(9181, description="the gateway's /metrics (0 = not served)")
    worker_metrics_port: int = Field(9182, description="the worker's /metrics (0 = not served)")
    sink_metrics_port: int = Field(9183, description="the sink's /metrics (0 = not served)")
    gateway_clock_seconds: float = Field(
        60.0,
        description="the gateway writes its clock on every partition of charger.events this often, so a "
        "station's silence is found in event time while a whole fleet is dark (0 = no ticks)",
    )
    id_token_key: str = Field(
        "chargestream-dev-key", description="HMAC key that replaces raw idTags: set it in production"
    )
    schema_registry_url: str | None = None
    allowed_lateness_s: float = Field(
        120.0, description="events up to this much older than their station's newest are put in order"
    )
    station_flush_s: float = Field(
        10.0, description="a station silent this long (wall clock) has its buffered events released"
    )
    fault_rules: FaultRulesConfig = Field(
        default_factory=FaultRulesConfig,
        description="the fault rules of every site (CHARGESTREAM_FAULT_RULES__OFFLINE_GRACE_MINUTES=10 …); "
        "a site's fault_rules in the network file override these",
    )
    network_file: Path | None = Field(
        None,
        description="stations file: sites, stations (password hashes), tariffs; default: the demo network",
    )
    worker_id: str = "chargestream-sessions"
    worker_session_timeout_s: float = Field(
        10.0,
        description="a worker silent this long (killed, hung) leaves the consumer group, so its partitions "
        "move and a restarted worker can rejoin; Faust's own default is 60 s",
    )
    sink_group: str = "chargestream-sink"
    sink_batch_max: int = Field(
        20_000,
        ge=1,
        description="messages per topic-partition in one batch (one insert per table): ClickHouse wants few, "
        "large inserts, and each batch costs the sink's ClickHouse stage a fixed ~50 ms of query analysis; "
        "a partition's batch is written after sink_flush_seconds at the latest however small",
    )
    sink_flush_seconds: float = 0.5
    sink_decode: Literal["clickhouse", "python"] = Field(
        "clickhouse",
        description="who decodes the charger events' Avro: ClickHouse (AvroConfluent into a staging table, "
        "several times faster) or Python (fastavro); ClickHouse needs the embedded store and the embedded "
        "schemas, otherwise Python does it",
    )
    sink_writers: int = Field(
        2,
        ge=1,
        le=16,
        description="lanes: ClickHouse handles, a thread each, writing the batches of different partitions "
        "at once while the sink consumes (ClickHouse's work runs outside Python's GIL: up to a core each); "
        "a partition's batches always go one after the other",
    )

    @property
    def network_path(self) -> Path:
        return self.network_file or _PACKAGE_ROOT / "chargestream" / "data" / "demo_network.yaml"

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"{self.kafka_host}:{self.kafka_port}"

    @property
    def uses_local_broker(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def clickhouse_dsn(self) -> str:
        return self.clickhouse_url or f"chdb://{self.state_dir / 'clickhouse'}"

    @property
    def uses_embedded_clickhouse(self) -> bool:
        return self.clickhouse_dsn.startswith("chdb:")

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def kafka_cache_dir(self) -> Path:
        return self.cache_dir / "kafka"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def worker_data_dir(self) -> Path:
        return self.state_dir / "worker"
