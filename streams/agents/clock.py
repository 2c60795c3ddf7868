"""The fault clock: a station that is silent has no events of its own to move its fault timers (an
offline station, above all). When the time of its partition — moved by the other stations there —
passes the station's next fault timer, the worker writes a clock marker into the station's own
partition. Being in the log, the marker replays like the events around it; the alerts it releases carry
the timers' due times, not the marker's, so they do not depend on when the marker was written."""

from __future__ import annotations

from schemas.events import to_record
from schemas.topics import CHARGER_EVENTS
from streams.station import clock_marker
from streams.worker import Worker


def register(worker: Worker) -> None:
    @worker.app.timer(interval=worker.config.flush_check_s)  # type: ignore[untyped-decorator]
    async def advance_silent_stations() -> None:
        for station_id, (partition, due) in list(worker.fault_due.items()):
            now = max(worker.partition_time.get(partition, 0), worker.gateway_clock.time(partition))
            # The sessions agent runs while this awaits a send: it may have re-armed or dropped the
            # station's timer since the snapshot (an unguarded del raised KeyError and stopped the app).
            if now < due or worker.fault_due.get(station_id) != (partition, due):
                continue
            del worker.fault_due[station_id]  # re-armed when the marker's batch is processed
            marker = clock_marker(station_id, now)
            await worker.events.send(
                key=station_id.encode(),
                value=worker.codec.encode(CHARGER_EVENTS, to_record(marker)),
                partition=partition,
            )
