"""The worker's two in-memory timers (flush and fault clock, see flush.py and clock.py), armed from a
station's state: after each batch by the sessions agent, and for every stored station after a
rebalance or a restart. Without the second, a station that fell silent before the restart — an offline
one above all — would wait for an event of its own that may never come."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from streams.state_codec import is_chunk_key, load_state
from streams.station import StationState, next_fault_due
from streams.worker import Worker

log = logging.getLogger(__name__)


def arm(worker: Worker, state: StationState, partition: int, now: float) -> None:
    """Arm (or disarm) the station's timers from its state; `now` is the monotonic time of its batch."""
    station_id = state.station_id
    if state.watermark > worker.partition_time.get(partition, 0):
        worker.partition_time[partition] = state.watermark
    due = next_fault_due(state, worker.policy)
    if due is None:
        worker.fault_due.pop(station_id, None)
    else:
        worker.fault_due[station_id] = (partition, due)
    if state.waiting:
        worker.waiting[station_id] = (now, partition, state.watermark, state.offset)
    else:
        worker.waiting.pop(station_id, None)


def stored_states(table: Any) -> Iterator[StationState]:
    """The live state of every station in the table's active partitions (journal chunks left out:
    the timers do not need them)."""
    for key, raw in table.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        if raw and not is_chunk_key(name):
            yield load_state(raw)


def register(worker: Worker) -> None:
    async def rearm(_sender: Any, /, *_args: Any, signal: Any, **_kw: Any) -> None:
        # Faust sends this after the tables are recovered and before the streams resume: the agent
        # cannot change the timers meanwhile. Partitions this worker lost are forgotten here too.
        worker.waiting.clear()
        worker.fault_due.clear()
        worker.partition_time.clear()
        worker.gateway_clock.clear()
        now, armed = time.monotonic(), 0
        for state in stored_states(worker.stations):
            if state.partition >= 0:  # states saved before the field existed re-arm on their next event
                arm(worker, state, state.partition, now)
                worker.gateway_clock.resume(state.partition, state.watermark)
                armed += 1
        log.info(
            "timers re-armed from %d stored stations: %d waiting to flush, %d fault timers",
            armed,
            len(worker.waiting),
            len(worker.fault_due),
        )

    worker.app.on_rebalance_complete.connect(rearm)
