"""`chargestream serve worker|sink|gateway`: the one place that turns the environment (Settings) into
each service's configuration and runs it. `up`, compose and the Dockerfile start services this way."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

from chargestream.settings import Settings
from producers.gateway.config import GatewayConfig
from schemas.metrics_port import serve_metrics
from schemas.network import load_network
from schemas.topics import ensure_topics, worker_topics
from sinks.config import SinkConfig
from streams.config import WorkerConfig

LOG_FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        worker_id=settings.worker_id,
        bootstrap=settings.bootstrap,
        partitions=settings.topic_partitions,
        data_dir=settings.worker_data_dir,
        run_dir=settings.run_dir,
        station_flush_s=settings.station_flush_s,
        session_timeout_s=settings.worker_session_timeout_s,
    )


def sink_config(settings: Settings) -> SinkConfig:
    return SinkConfig(
        bootstrap=settings.bootstrap,
        clickhouse_dsn=settings.clickhouse_dsn,
        group=settings.sink_group,
        registry_url=settings.schema_registry_url,
        batch_max=settings.sink_batch_max,
        flush_seconds=settings.sink_flush_seconds,
        decode=settings.sink_decode,
        writers=settings.sink_writers,
        query_host=settings.query_host,
        query_port=settings.query_port,
        run_dir=settings.run_dir,
        metrics_host=settings.metrics_host,
        metrics_port=settings.sink_metrics_port,
    )


def gateway_config(settings: Settings) -> GatewayConfig:
    return GatewayConfig(
        bootstrap=settings.bootstrap,
        network=load_network(settings.network_path),
        id_token_key=settings.id_token_key.encode(),
        host=settings.gateway_host,
        port=settings.gateway_port,
        registry_url=settings.schema_registry_url,
        tls_cert=settings.gateway_tls_cert,
        tls_key=settings.gateway_tls_key,
        ping_seconds=settings.gateway_ping_seconds,
        station_rate=settings.gateway_station_rate,
        clock_seconds=settings.gateway_clock_seconds,
        metrics_host=settings.metrics_host,
        metrics_port=settings.gateway_metrics_port,
        network_source=str(settings.network_path),
    )


def serve_worker(settings: Settings, loglevel: str = "info") -> None:
    from schemas.codec import make_codec
    from streams.policy import policy_from_network
    from streams.worker import build_worker

    config = worker_config(settings)
    policy = policy_from_network(
        load_network(settings.network_path),
        global_fault_rules=settings.fault_rules,
        allowed_lateness_ms=int(settings.allowed_lateness_s * 1000),
    )
    # Faust would create its tables' changelogs and its own topics itself, and may then not see them in
    # its metadata at once (PartitionsMismatch fails an agent; a consumer "ignores the missing topic" and
    # reads nothing from it): create them first.
    ensure_topics(config.bootstrap, config.partitions, topics=worker_topics(config.worker_id))
    worker = build_worker(config, policy, make_codec(settings.schema_registry_url))
    serve_metrics("worker", settings.metrics_host, settings.worker_metrics_port)
    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", loglevel]
    worker.app.main()


def serve_sink(settings: Settings) -> None:
    from sinks.service import run

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    run(sink_config(settings))


def serve_gateway(settings: Settings) -> None:
    from producers.gateway.service import run

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    asyncio.run(run(gateway_config(settings)))


SERVICES: dict[str, Callable[[Settings], None]] = {
    "worker": serve_worker,
    "sink": serve_sink,
    "gateway": serve_gateway,
}
