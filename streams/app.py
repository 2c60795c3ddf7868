"""The Faust app: thin agents that decode events, call the pure core and publish its output."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import faust

from chargestream.dlq import dlq_headers
from chargestream.settings import Settings
from chargestream.topics import CHARGER_EVENTS, SESSIONS, dlq
from schemas.codec import DecodeError, make_codec
from schemas.events import from_record
from streams.sessions import ConnectorState, apply, connector_key

log = logging.getLogger("chargestream.worker")
settings = Settings()
codec = make_codec(settings.schema_registry_url)

app = faust.App(
    settings.worker_id,
    broker=f"kafka://{settings.bootstrap}",
    store="rocksdb://",
    datadir=str(settings.worker_data_dir),
    web_enabled=False,
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=1,
    processing_guarantee="at_least_once",
    producer_acks=-1,
    consumer_auto_offset_reset="earliest",
    table_standby_replicas=0,
)

events_topic = app.topic(
    CHARGER_EVENTS, key_serializer="raw", value_serializer="raw", partitions=settings.topic_partitions
)
sessions_topic = app.topic(SESSIONS, key_serializer="raw", value_serializer="raw")
events_dlq = app.topic(dlq(CHARGER_EVENTS), key_serializer="raw", value_serializer="raw")

# Per-connector state; its changelog partition is the source event's partition (key = station_id),
# so a station's connectors recover on the worker that owns the station.
connectors = app.Table("connectors", default=None, partitions=settings.topic_partitions)


@app.agent(events_topic)
async def sessions_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
    async for event in stream.events():
        msg = event.message
        try:
            ev = from_record(codec.decode(CHARGER_EVENTS, msg.value))
        except (DecodeError, ValueError, KeyError, TypeError) as exc:
            log.warning("charger.events[%d]@%d to DLQ: %s", msg.partition, msg.offset, exc)
            await events_dlq.send(
                key=msg.key,
                value=msg.value,
                headers=dlq_headers(str(exc), msg.topic, msg.partition, msg.offset, "sessions"),
            )
            continue
        key = connector_key(ev.station_id, ev.connector_id)
        raw: dict[str, Any] | None = connectors.get(key)
        state = ConnectorState.from_dict(raw) if raw else ConnectorState(ev.station_id, ev.connector_id)
        state, out = apply(state, ev)
        connectors[key] = state.to_dict()
        for rec in out:
            await sessions_topic.send(key=rec["session_id"].encode(), value=codec.encode(SESSIONS, rec))
        yield None


@app.timer(interval=1.0)  # type: ignore[untyped-decorator]
async def mark_ready() -> None:
    # The stack runner waits for this file: the worker has partitions and is past recovery.
    ready = settings.run_dir / "worker.ready"
    if not ready.exists() and app.consumer.assignment() and not app.rebalancing:
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        ready.write_text(str(time.time()))
