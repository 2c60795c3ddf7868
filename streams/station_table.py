"""Station states in the worker's Faust table, read and written in the station's own partition.

Faust's RocksDB store keeps one database per partition and, while a *current event* is set, reads
and writes only the database of that event's partition (``faust.stores.rocksdb.Store._get/_set``).
A batch from ``take_events`` holds several partitions, and the current event left behind by
Faust's buffer filler may belong to any of them: a station read under another station's event is
"not found", and its fresh state then overwrote the real one (a session lost, then a 0 Wh one
billed). So every read and write here runs with one of the station's own events as the current
event. Faust offers no public way to set it; ``Stream._set_current_event`` is the hook its own
stream iterator uses, and this module is the only place that calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from faust.types import EventT

from streams.state_codec import attach_chunks, load_state, split_state
from streams.station import StationState


class StationTable:
    def __init__(self, table: Any, stream: Any) -> None:
        self._table = table
        self._stream = stream

    @contextmanager
    def _in_partition_of(self, event: EventT[bytes]) -> Iterator[None]:
        previous = self._stream.current_event  # take_events' buffer filler reads it back
        self._stream._set_current_event(event)
        try:
            yield
        finally:
            self._stream._set_current_event(previous)

    def load(self, station_id: str, event: EventT[bytes]) -> StationState | None:
        with self._in_partition_of(event):
            raw: bytes | None = self._table.get(station_id.encode())
        if not raw:
            return None
        return attach_chunks(load_state(raw), lambda key: self._get(key, event))

    def _get(self, key: str, event: EventT[bytes]) -> bytes | None:
        with self._in_partition_of(event):
            value: bytes | None = self._table.get(key.encode())
        return value

    def save(self, station_id: str, state: StationState, event: EventT[bytes]) -> None:
        live, chunks, gone = split_state(state)
        with self._in_partition_of(event):
            for key, blob in chunks.items():  # chunks first: the state refers to them
                self._table[key.encode()] = blob
            self._table[station_id.encode()] = live
            for key in gone:
                self._table.pop(key.encode(), None)

    def access(
        self, event_of: Mapping[str, EventT[bytes]]
    ) -> tuple[Callable[[str], StationState | None], Callable[[str, StationState], None]]:
        """(load, save) for a batch, given one event of each of its stations."""
        return (
            lambda sid: self.load(sid, event_of[sid]),
            lambda sid, state: self.save(sid, state, event_of[sid]),
        )
