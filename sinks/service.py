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

from chargestream.settings import Settings
from schemas.clients import producer_config
from schemas.codec import make_codec
from schemas.topics import ALERT_TOPICS, CHARGER_EVENTS, DRIVER_FEEDBACK, SESSIONS
from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.query_endpoint import QueryServer
from sinks.query_guard import ReadOnlyQueries
from sinks.writer import ClickHouseWriter

log = logging.getLogger("chargestream.sink")
SINK_TOPICS = [CHARGER_EVENTS, SESSIONS, DRIVER_FEEDBACK, *ALERT_TOPICS]


def _decode_json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError("JSON value is not an object")
    return value


def run(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    client = connect(settings.clickhouse_dsn)
    applied = migrate(client)
    log.info("ClickHouse %s ready (migrations applied now: %s)", settings.clickhouse_dsn, applied or "none")
    lock = threading.Lock()
    server: QueryServer | None = None
    if settings.uses_embedded_clickhouse:
        # A handle of its own: read-only for good, and a slow query does not hold the writer's lock.
        queries = ReadOnlyQueries(connect(settings.clickhouse_dsn), embedded=True)
        server = QueryServer(queries, settings.query_host, settings.query_port)
        server.start()
        log.info("read-only query endpoint on http://%s:%d", settings.query_host, settings.query_port)
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap,
            "group.id": settings.sink_group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "partition.assignment.strategy": "cooperative-sticky",
        }
    )
    producer = Producer(producer_config(settings.bootstrap))
    writer = ClickHouseWriter(
        consumer,
        producer,
        client,
        make_codec(settings.schema_registry_url),
        _decode_json,
        lock,
        settings.sink_batch_max,
        settings.sink_flush_seconds,
    )
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    consumer.subscribe(SINK_TOPICS, on_assign=writer.on_assign, on_revoke=writer.on_revoke)
    ready = settings.run_dir / "sink.ready"
    last_report = time.monotonic()
    try:
        while not stop.is_set():
            writer.poll_once()
            if writer.assigned and not ready.exists():
                settings.run_dir.mkdir(parents=True, exist_ok=True)
                ready.write_text(str(time.time()))
            if time.monotonic() - last_report > 30:
                s = writer.stats
                log.info("batches=%d rows=%d dead_letters=%d", s.batches, s.rows, s.dead_letters)
                last_report = time.monotonic()
    finally:
        ready.unlink(missing_ok=True)
        consumer.close()
        producer.flush(10)
        if server is not None:
            server.stop()
            server.queries.client.close()
        client.close()
        log.info("sink stopped")


if __name__ == "__main__":
    run(Settings())
