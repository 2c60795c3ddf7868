"""The sink process: migrate, serve read-only queries (embedded store), write topics to ClickHouse."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

from confluent_kafka import Consumer, Producer

from schemas.clients import producer_config
from schemas.codec import make_codec
from schemas.errors import RecordError
from schemas.metrics_port import serve_metrics
from sinks.clickhouse import connect
from sinks.config import SinkConfig
from sinks.event_stage import ChargerEventStage, SchemaServer
from sinks.lanes import Lane
from sinks.migrations import migrate
from sinks.query_endpoint import QueryServer
from sinks.query_guard import ReadOnlyQueries
from sinks.rows import TOPICS
from sinks.writer import ClickHouseWriter

log = logging.getLogger(__name__)
SINK_TOPICS = list(TOPICS)  # every topic the sink has a table mapping for
LAG_EVERY_S = 5.0  # how often the consumer-lag gauge asks the broker for the partitions' ends


def _decode_json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise RecordError("JSON value is not an object")
    return value


def run(config: SinkConfig) -> None:
    serve_metrics("sink", config.metrics_host, config.metrics_port)
    client = connect(config.clickhouse_dsn)
    applied = migrate(client)
    log.info("ClickHouse %s ready (migrations applied now: %s)", config.clickhouse_dsn, applied or "none")
    lock = threading.Lock()
    server: QueryServer | None = None
    if config.embedded:
        # A handle of its own: read-only for good, and a slow query does not hold the writer's lock.
        queries = ReadOnlyQueries(connect(config.clickhouse_dsn), embedded=True)
        server = QueryServer(queries, config.query_host, config.query_port)
        server.start()
        log.info("read-only query endpoint on http://%s:%d", config.query_host, config.query_port)
    consumer = Consumer(
        {
            "bootstrap.servers": config.bootstrap,
            "group.id": config.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "partition.assignment.strategy": "cooperative-sticky",
            # 8 MiB a partition per fetch, not librdkafka's 1 MiB: a sink catching up consumed ~130k
            # messages/s from a local broker with 1 MiB, ~210k with 8 (prefetch memory stays bounded by
            # queued.max.messages.kbytes, 64 MiB)
            "max.partition.fetch.bytes": 8 << 20,
        }
    )
    producer = Producer(producer_config(config.bootstrap))
    schemas = SchemaServer() if config.stages_events else None
    stage = ChargerEventStage(client, schemas.url) if schemas is not None else None
    log.info("charger events decoded by %s", "ClickHouse (AvroConfluent)" if stage else "Python (fastavro)")
    more_lanes = []
    for _ in range(config.writers - 1):  # a handle (a session, a stage) each: sinks.lanes
        lane_client = connect(config.clickhouse_dsn)
        lane_stage = ChargerEventStage(lane_client, schemas.url) if schemas is not None else None
        more_lanes.append(Lane(lane_client, lane_stage, threading.Lock()))
    log.info("%d writer lane(s)", config.writers)
    writer = ClickHouseWriter(
        consumer,
        producer,
        client,
        make_codec(config.registry_url),
        _decode_json,
        lock,
        config.batch_max,
        config.flush_seconds,
        stage,
        more_lanes,
    )
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    consumer.subscribe(SINK_TOPICS, on_assign=writer.on_assign, on_revoke=writer.on_revoke)
    ready = config.run_dir / "sink.ready" if config.run_dir is not None else None
    last_report = last_lag = time.monotonic()
    try:
        while not stop.is_set():
            writer.poll_once()
            if ready is not None and writer.assigned and not ready.exists():
                ready.parent.mkdir(parents=True, exist_ok=True)
                ready.write_text(str(time.time()))
            if time.monotonic() - last_lag > LAG_EVERY_S:
                writer.report_lag()
                last_lag = time.monotonic()
            if time.monotonic() - last_report > 30:
                s = writer.stats
                log.info("batches=%d rows=%d dead_letters=%d", s.batches, s.rows, s.dead_letters)
                last_report = time.monotonic()
    finally:
        if ready is not None:
            ready.unlink(missing_ok=True)
        try:
            writer.close()  # the round being written goes in, and is committed, before the group is left
        except Exception:
            log.exception(
                "the last round was not settled: its plans are committed, its next owner rebuilds it"
            )
        consumer.close()
        for lane in more_lanes:
            lane.client.close()
        producer.flush(10)
        if server is not None:
            server.stop()
            server.queries.client.close()
        client.close()
        if schemas is not None:
            schemas.stop()
        log.info("sink stopped")
