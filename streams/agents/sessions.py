"""The sessions agent: decode a batch, run the pure engine over it, publish bills, alerts, refusals.

Errors: an event that cannot be decoded or used (a RecordError) goes to `charger.events.dlq` with the
reason; anything else is a bug, and stops the worker at once (see `_crash`).
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

from schemas.dlq import dlq_headers
from schemas.errors import RecordError
from schemas.events import GATEWAY_CLOCK_SOURCE, ChargerEvent, from_record, to_record
from schemas.topics import CHARGER_EVENTS, SESSIONS
from streams.agents import metrics
from streams.agents.care_news import care_news
from streams.agents.dead_letters import dead_letter
from streams.agents.delivery import delivered
from streams.agents.fault_news import alert_news, station_news
from streams.agents.timers import arm
from streams.batch import process_batch
from streams.faults.incidents import SITE_TYPES, site_key
from streams.station import WORKER_SOURCES, StationState
from streams.station_table import StationTable
from streams.worker import Worker

log = logging.getLogger(__name__)
CRASH_EXIT_CODE = 70  # EX_SOFTWARE: a bug or an input the engine could not take, see the log


def register(worker: Worker) -> None:
    @worker.app.agent(worker.events, name="sessions")
    async def sessions_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        assert isinstance(stream, faust.Stream)  # take_events and the current-event hook live there
        table = StationTable(worker.stations, stream)
        config = worker.config
        async for batch in stream.take_events(config.batch_max, within=config.batch_within_s):
            try:
                started = time.perf_counter()
                await _process(worker, table, list(batch))
                metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
            except Exception as exc:
                # Faust would restart the agent, and take_events acks the batch on the way out:
                # offsets would move past input that was never billed. Stop before that, loudly; a
                # restart resumes from the last committed offset (this batch's state was not saved).
                await _crash(worker, exc)
            yield None


async def _process(worker: Worker, table: StationTable, batch: list[EventT[bytes]]) -> None:
    decoded, offsets, last_of, by_id = await _decode(worker, batch)
    metrics.EVENTS.inc(len(batch))
    _lag(worker, batch)
    load, save = table.access(last_of)
    saves: list[tuple[str, StationState]] = []
    out = process_batch(decoded, load, lambda sid, st: saves.append((sid, st)), worker.policy, offsets)
    now = time.monotonic()
    for station_id in out.touched:
        state = out.states[station_id]
        state.partition = last_of[station_id].message.partition
        arm(worker, state, state.partition, now)
    for ev, reason in out.rejected:
        await _refuse(worker, ev, reason, by_id.get(ev.event_id), last_of[ev.station_id])
    # The codec edge: typed records become their wire form here and nowhere else.
    for rec in out.sessions:
        metrics.SESSION_RECORDS.labels(rec.kind).inc()
        await worker.sessions.send(
            key=rec.session_id.encode(), value=worker.codec.encode(SESSIONS, rec.to_dict())
        )
    for seen in out.stations:
        await worker.by_site.send(key=seen.site_id.encode(), value=station_news(seen))
    for alert in out.alerts:
        if alert.type in SITE_TYPES:  # through the site stage, the only writer of alerts.faults
            key = site_key(alert.site_id, alert.station_id or "")
            await worker.by_site.send(key=key.encode(), value=alert_news(alert))
    for outage in out.outages:
        await worker.outages.send(key=outage.station_id.encode(), value=_json(outage.to_dict()))
    # The maintenance stage hears bills, statuses, every station alert (idle ones it relays to
    # alerts.idle, their only writer) and the engine's time in the engine's order, event by event: a
    # report judged at some time meets each alert as it then was.
    for news in out.care:
        await worker.by_station.send(key=(news.station_id or "").encode(), value=care_news(news))
    # State last, once the broker has the batch's records: a crash before this line re-runs the batch
    # (its records are versioned, so the sink keeps one of each), a crash after it cannot lose them.
    if saves:
        await delivered(worker)
    for station_id, state in saves:
        save(station_id, state)


def _lag(worker: Worker, batch: list[EventT[bytes]]) -> None:
    """Per partition, the records after the batch's last one (Faust's view of the high watermark)."""
    last: dict[Any, int] = {}
    for event in batch:
        last[event.message.tp] = event.message.offset
    for tp, offset in last.items():
        highwater = worker.app.consumer.highwater(tp)
        if highwater is not None:
            metrics.LAG.labels(str(tp.partition)).set(max(0, highwater - offset - 1))


def _json(record: dict[str, object]) -> bytes:
    return json.dumps(record, separators=(",", ":"), sort_keys=True).encode()


async def _decode(
    worker: Worker, batch: list[EventT[bytes]]
) -> tuple[list[ChargerEvent], list[int], dict[str, EventT[bytes]], dict[str, EventT[bytes]]]:
    decoded: list[ChargerEvent] = []
    offsets: list[int] = []
    last_of: dict[str, EventT[bytes]] = {}
    by_id: dict[str, EventT[bytes]] = {}
    for event in batch:
        msg = event.message
        try:
            ev = from_record(worker.codec.decode(CHARGER_EVENTS, msg.value or b""))
        except RecordError as exc:
            await dead_letter(worker.events_dlq, event, str(exc), "sessions")
            continue
        if ev.source == GATEWAY_CLOCK_SOURCE:  # the gateway's clock: the partition's time, no station's
            worker.gateway_clock.tick(msg.partition, ev.station_time)
            continue
        if ev.source not in WORKER_SOURCES:  # the worker's own markers tell nothing of live or history
            worker.gateway_clock.heard(msg.partition, ev.received_at)
        decoded.append(ev)
        offsets.append(msg.offset)
        last_of[ev.station_id] = event
        by_id[ev.event_id] = event
    return decoded, offsets, last_of, by_id


async def _refuse(
    worker: Worker, ev: ChargerEvent, reason: str, source: EventT[bytes] | None, of_station: EventT[bytes]
) -> None:
    """An event the engine refused: to the DLQ with the reason, as it came in when it is in this
    batch, else (held from an earlier batch) in its canonical encoding."""
    if source is not None:
        await dead_letter(worker.events_dlq, source, reason, "sessions")
        return
    metrics.DEAD_LETTERS.labels("sessions").inc()
    msg = of_station.message
    log.warning("%s: event %s to DLQ: %s", ev.station_id, ev.event_id, reason)
    await worker.events_dlq.send(
        key=ev.station_id.encode(),
        value=worker.codec.encode(CHARGER_EVENTS, to_record(ev)),
        headers=dlq_headers(reason, msg.topic, msg.partition, -1, "sessions"),
    )


async def _crash(worker: Worker, exc: BaseException) -> None:
    log.critical("the sessions agent failed; stopping the worker so no offset moves past it", exc_info=exc)
    run_dir = worker.config.run_dir
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "worker.crashed").write_text(
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {type(exc).__name__}: {exc}"[:2000]
        )
        (run_dir / "worker.ready").unlink(missing_ok=True)
    try:
        await asyncio.wait_for(worker.app.producer.flush(), timeout=10)  # what this batch already sent
    except Exception:
        log.exception("flushing the producer before exit failed")
    logging.shutdown()
    os._exit(CRASH_EXIT_CODE)
