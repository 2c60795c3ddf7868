"""The flush timer: a station that fell silent with events still in its reorder buffer gets a flush
marker in its own partition, so its last session closes without waiting for its next heartbeat."""

from __future__ import annotations

import time

from schemas.events import ChargerEvent, Heartbeat, to_record
from schemas.topics import CHARGER_EVENTS
from streams.station import FLUSH_SOURCE, flush_marker_id
from streams.worker import Worker


def register(worker: Worker) -> None:
    @worker.app.timer(interval=worker.config.flush_check_s)  # type: ignore[untyped-decorator]
    async def flush_silent_stations() -> None:
        now = time.monotonic()
        for station_id, entry in list(worker.waiting.items()):
            seen, partition, watermark, offset = entry
            # Changed while this timer awaited a send (the sessions agent runs meanwhile): not due now.
            if now - seen < worker.config.station_flush_s or worker.waiting.get(station_id) != entry:
                continue
            del worker.waiting[station_id]
            marker = ChargerEvent(
                event_id=flush_marker_id(station_id, watermark, offset),
                station_id=station_id,
                connector_id=0,
                station_time=watermark,
                received_at=watermark,
                source=FLUSH_SOURCE,
                payload=Heartbeat(),
            )
            await worker.events.send(
                key=station_id.encode(),
                value=worker.codec.encode(CHARGER_EVENTS, to_record(marker)),
                partition=partition,
            )
