"""The Faust app: a thin agent that decodes events, runs the pure engine over a batch, publishes.

State: one entry per station in the `stations` table (rocksdict store, changelog topic), read and
written through :class:`streams.station_table.StationTable` in the station's own partition, so a
station recovers on the worker that owns it and is never read from another partition's store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import EventT

from chargestream.settings import Settings
from schemas.codec import DecodeError, make_codec
from schemas.dlq import dlq_headers
from schemas.events import ChargerEvent, Heartbeat, from_record, to_record
from schemas.network import load_network
from schemas.topics import ALERTS_IDLE, CHARGER_EVENTS, SESSIONS, dlq
from streams.batch import process_batch
from streams.policy import policy_from_network
from streams.station import FLUSH_SOURCE, StationState, flush_marker_id
from streams.station_table import StationTable

log = logging.getLogger("chargestream.worker")
settings = Settings()
codec = make_codec(settings.schema_registry_url)
policy = policy_from_network(
    load_network(settings.network_path), allowed_lateness_ms=int(settings.allowed_lateness_s * 1000)
)
BATCH_MAX = 2000
BATCH_WITHIN_S = 0.05
FLUSH_CHECK_S = 1.0
CRASH_EXIT_CODE = 70  # EX_SOFTWARE: a bug or an input the engine could not take, see the log
# station -> (monotonic time of its last event, its partition, its watermark, its last offset), while
# it holds events; in memory only: after a restart the next event or heartbeat re-arms it.
waiting: dict[str, tuple[float, int, int, int]] = {}

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


async def _dead_letter(event: EventT[bytes], reason: str) -> None:
    msg = event.message
    log.warning("charger.events[%d]@%d to DLQ: %s", msg.partition, msg.offset, reason)
    await events_dlq.send(
        key=msg.key,
        value=msg.value,
        headers=dlq_headers(reason, msg.topic, msg.partition, msg.offset, "sessions"),
    )


async def _refuse(
    ev: ChargerEvent, reason: str, source: EventT[bytes] | None, of_station: EventT[bytes]
) -> None:
    """An event the engine refused: to the DLQ with the reason, as it came in when it is in this
    batch, else (held from an earlier batch) in its canonical encoding."""
    if source is not None:
        await _dead_letter(source, reason)
        return
    msg = of_station.message
    log.warning("%s: event %s to DLQ: %s", ev.station_id, ev.event_id, reason)
    await events_dlq.send(
        key=ev.station_id.encode(),
        value=codec.encode(CHARGER_EVENTS, to_record(ev)),
        headers=dlq_headers(reason, msg.topic, msg.partition, -1, "sessions"),
    )


async def _decode(
    batch: list[EventT[bytes]],
) -> tuple[list[ChargerEvent], list[int], dict[str, EventT[bytes]], dict[str, EventT[bytes]]]:
    decoded: list[ChargerEvent] = []
    offsets: list[int] = []
    last_of: dict[str, EventT[bytes]] = {}
    by_id: dict[str, EventT[bytes]] = {}
    for event in batch:
        msg = event.message
        try:
            ev = from_record(codec.decode(CHARGER_EVENTS, msg.value or b""))
        except (DecodeError, ValueError, KeyError, TypeError) as exc:
            await _dead_letter(event, str(exc))
            continue
        decoded.append(ev)
        offsets.append(msg.offset)
        last_of[ev.station_id] = event
        by_id[ev.event_id] = event
    return decoded, offsets, last_of, by_id


@app.agent(events_topic)
async def sessions_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
    assert isinstance(stream, faust.Stream)  # take_events and the current-event hook live there
    table = StationTable(stations, stream)
    async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
        try:
            await _process(table, list(batch))
        except Exception as exc:
            # Faust would restart the agent, and take_events acks the batch on the way out: offsets
            # would move past input that was never billed. Stop before that, loudly; a restart
            # resumes from the last committed offset (the state of this batch was not saved).
            await _crash(exc)
        yield None


async def _process(table: StationTable, batch: list[EventT[bytes]]) -> None:
    decoded, offsets, last_of, by_id = await _decode(batch)
    load, save = table.access(last_of)
    saves: list[tuple[str, StationState]] = []
    out = process_batch(decoded, load, lambda sid, st: saves.append((sid, st)), policy, offsets)
    now = time.monotonic()
    for station_id in out.touched:
        state = out.states[station_id]
        if state.waiting:
            waiting[station_id] = (now, last_of[station_id].message.partition, state.watermark, state.offset)
        else:
            waiting.pop(station_id, None)
    for ev, reason in out.rejected:
        await _refuse(ev, reason, by_id.get(ev.event_id), last_of[ev.station_id])
    for rec in out.sessions:
        await sessions_topic.send(key=rec["session_id"].encode(), value=codec.encode(SESSIONS, rec))
    for alert in out.alerts:
        await idle_alerts_topic.send(key=alert["station_id"].encode(), value=_json(alert))
    # State last: a crash before this line re-runs the batch (its records are versioned, so the
    # sink keeps one of each), a crash after it cannot lose the batch's records.
    for station_id, state in saves:
        save(station_id, state)


async def _crash(exc: BaseException) -> None:
    log.critical("the sessions agent failed; stopping the worker so no offset moves past it", exc_info=exc)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    (settings.run_dir / "worker.crashed").write_text(
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {type(exc).__name__}: {exc}"[:2000]
    )
    (settings.run_dir / "worker.ready").unlink(missing_ok=True)
    try:
        await asyncio.wait_for(app.producer.flush(), timeout=10)  # what this batch already sent
    except Exception:
        log.exception("flushing the producer before exit failed")
    logging.shutdown()
    os._exit(CRASH_EXIT_CODE)


@app.timer(interval=FLUSH_CHECK_S)  # type: ignore[untyped-decorator]
async def flush_silent_stations() -> None:
    """A station that fell silent with events still in its reorder buffer gets a flush marker in
    its own partition, so its last session closes without waiting for its next heartbeat."""
    now = time.monotonic()
    for station_id, (seen, partition, watermark, offset) in list(waiting.items()):
        if now - seen < settings.station_flush_s:
            continue
        del waiting[station_id]
        marker = ChargerEvent(
            event_id=flush_marker_id(station_id, watermark, offset),
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
