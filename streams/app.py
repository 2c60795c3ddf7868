"""The Faust app: a thin agent that decodes events, runs the pure engine over a batch, publishes.

State: one entry per station in the `stations` table (rocksdict store, changelog topic). The
table's changelog partition is the source event's partition (key = station_id), so a station
recovers on the worker that owns it; that is why each save runs with one of the station's own
events as Faust's current event.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import EventT

from chargestream.dlq import dlq_headers
from chargestream.network import load_network
from chargestream.settings import Settings
from chargestream.topics import ALERTS_IDLE, CHARGER_EVENTS, SESSIONS, dlq
from schemas.codec import DecodeError, make_codec
from schemas.events import ChargerEvent, Heartbeat, from_record, to_record
from streams.batch import process_batch
from streams.policy import policy_from_network
from streams.state_codec import dump_state, load_state
from streams.station import FLUSH_SOURCE, StationState

log = logging.getLogger("chargestream.worker")
settings = Settings()
codec = make_codec(settings.schema_registry_url)
policy = policy_from_network(
    load_network(settings.network_path), allowed_lateness_ms=int(settings.allowed_lateness_s * 1000)
)
BATCH_MAX = 2000
BATCH_WITHIN_S = 0.05
FLUSH_CHECK_S = 1.0
# station -> (monotonic time of its last event, its partition, its watermark), while it has
# buffered events; in memory only: after a restart the next event or heartbeat re-arms it.
waiting: dict[str, tuple[float, int, int]] = {}

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
idle_alerts_topic = app.topic(ALERTS_IDLE, key_serializer="raw", value_serializer="raw")
events_dlq = app.topic(dlq(CHARGER_EVENTS), key_serializer="raw", value_serializer="raw")
stations = app.Table(
    "stations",
    default=None,
    partitions=settings.topic_partitions,
    key_type=bytes,
    value_type=bytes,
)


async def _decode(batch: list[EventT[bytes]]) -> tuple[list[ChargerEvent], dict[str, EventT[bytes]]]:
    decoded: list[ChargerEvent] = []
    last_of: dict[str, EventT[bytes]] = {}
    for event in batch:
        msg = event.message
        try:
            ev = from_record(codec.decode(CHARGER_EVENTS, msg.value or b""))
        except (DecodeError, ValueError, KeyError, TypeError) as exc:
            log.warning("charger.events[%d]@%d to DLQ: %s", msg.partition, msg.offset, exc)
            await events_dlq.send(
                key=msg.key,
                value=msg.value,
                headers=dlq_headers(str(exc), msg.topic, msg.partition, msg.offset, "sessions"),
            )
            continue
        decoded.append(ev)
        last_of[ev.station_id] = event
    return decoded, last_of


def _load(station_id: str) -> StationState | None:
    raw: bytes | None = stations.get(station_id.encode())
    return load_state(raw) if raw else None


@app.agent(events_topic)
async def sessions_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
    assert isinstance(stream, faust.Stream)  # take_events and the current-event hook live there
    async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
        decoded, last_of = await _decode(list(batch))
        saved: dict[str, StationState] = {}
        out = process_batch(decoded, _load, saved.__setitem__, policy)
        now = time.monotonic()
        previous = stream.current_event  # take_events' background filler reads it: put it back
        for station_id, state in saved.items():
            stream._set_current_event(last_of[station_id])  # changelog partition = the station's
            stations[station_id.encode()] = dump_state(state)
            if state.buffer:
                waiting[station_id] = (now, last_of[station_id].message.partition, state.watermark)
            else:
                waiting.pop(station_id, None)
        stream._set_current_event(previous)
        for rec in out.sessions:
            await sessions_topic.send(key=rec["session_id"].encode(), value=codec.encode(SESSIONS, rec))
        for alert in out.alerts:
            await idle_alerts_topic.send(key=alert["station_id"].encode(), value=_json(alert))
        yield None


@app.timer(interval=FLUSH_CHECK_S)  # type: ignore[untyped-decorator]
async def flush_silent_stations() -> None:
    """A station that fell silent with events still in its reorder buffer gets a flush marker in
    its own partition, so its last session closes without waiting for its next heartbeat."""
    now = time.monotonic()
    for station_id, (seen, partition, watermark) in list(waiting.items()):
        if now - seen < settings.station_flush_s:
            continue
        del waiting[station_id]
        marker = ChargerEvent(
            event_id=f"flush-{station_id}-{watermark}",
            station_id=station_id,
            connector_id=0,
            station_time=watermark,
            received_at=watermark,
            source=FLUSH_SOURCE,
            payload=Heartbeat(),
        )
        await events_topic.send(
            key=station_id.encode(),
            value=codec.encode(CHARGER_EVENTS, to_record(marker)),
            partition=partition,
        )


def _json(alert: dict[str, Any]) -> bytes:
    return json.dumps(alert, separators=(",", ":"), sort_keys=True).encode()


@app.timer(interval=1.0)  # type: ignore[untyped-decorator]
async def mark_ready() -> None:
    # The stack runner waits for this file: the worker has partitions and is past recovery.
    ready = settings.run_dir / "worker.ready"
    if not ready.exists() and app.consumer.assignment() and not app.rebalancing:
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        ready.write_text(str(time.time()))
