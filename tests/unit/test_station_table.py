"""Station state in Faust's real RocksDB store, as the worker reads and writes it.

The store keeps one database per partition and, while a current event is set, looks a key up only
in that event's partition. The agent's batches span partitions, and Faust's buffer filler leaves
whichever event it pulled last as the current one: a station read then came back "not found" and
its fresh state overwrote the real one (issue: a session lost, a 0 Wh one billed instead).
"""

from __future__ import annotations

import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
from faust.streams import _current_event

from streams.station import StationState
from streams.station_table import StationTable


class _Stream:
    """The two members of faust.Stream that StationTable uses."""

    current_event: Any = None

    def _set_current_event(self, event: Any) -> None:
        _current_event.set(weakref.ref(event) if event is not None else None)
        self.current_event = event


class _Event:
    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition, topic="charger.events")


def _store(tmp_path: Path) -> Any:
    app = faust.App("t", broker="kafka://127.0.0.1:1", store="rocksdb://", datadir=str(tmp_path))
    table = app.Table("stations", default=None, partitions=3, key_type=bytes, value_type=bytes)
    return table.data  # the RocksDB store behind the table (the changelog needs a running app)


def test_a_station_is_read_in_its_own_partition_whatever_event_is_current(tmp_path: Path) -> None:
    store, stream = _store(tmp_path), _Stream()
    table = StationTable(store, stream)
    of_a, of_b = _Event(0), _Event(1)
    table.save("A", StationState("A", watermark=123), of_a)
    table.save("B", StationState("B", watermark=456), of_b)

    foreign = _Event(1)  # what take_events' filler left behind: another partition's event
    stream._set_current_event(foreign)
    assert store.get(b"A") is None  # the hazard: a plain read under it misses station A
    loaded = table.load("A", of_a)
    assert loaded is not None and loaded.watermark == 123
    assert stream.current_event is foreign  # put back for the filler
    load, save = table.access({"A": of_a, "B": of_b})
    state_b = load("B")
    assert state_b is not None and state_b.watermark == 456
    save("B", StationState("B", watermark=789))
    stream._set_current_event(of_b)
    assert StationTable(store, stream).load("B", of_b).watermark == 789  # type: ignore[union-attr]
