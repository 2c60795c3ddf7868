"""A connector's events in event-time order, cheap to keep and to save. Pure.

The station state is saved after every batch, so what it holds must cost little to serialise. Each
event is pickled once, when it enters, as plain tuples (frozen dataclasses pickle slowly; bytes
cost a copy). The
journal is a list of sealed chunks (``CHUNK`` events each, compressed once) and a short tail:
appending in order — nearly every event — touches only the tail; an event out of order opens the
one chunk it falls into. Events are unpickled only when the history is re-derived.
"""

from __future__ import annotations

import pickle
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from schemas.events import ChargerEvent, from_tuple, to_tuple

Key = tuple[int, int, str]
CHUNK: Final = 32


@dataclass(slots=True)
class Pending:
    """An event at its effective time, with its place among events of the same instant."""

    at: int
    rank: int
    event_id: str
    event: ChargerEvent
    clock_flag: str | None = None

    @property
    def key(self) -> Key:
        return (self.at, self.rank, self.event_id)


Entry = tuple[Key, bytes]  # the event's key, the event pickled


def _entry_key(e: Entry) -> Key:
    return e[0]


@dataclass(slots=True)
class _Chunk:
    first: Key
    last: Key
    count: int
    blob: bytes

    @classmethod
    def seal(cls, entries: list[Entry]) -> _Chunk:
        blob = zlib.compress(pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL), 1)
        return cls(entries[0][0], entries[-1][0], len(entries), blob)

    def open(self) -> list[Entry]:
        entries: list[Entry] = pickle.loads(zlib.decompress(self.blob))  # our own state, written by us
        return entries


@dataclass(slots=True)
class Journal:
    chunks: list[_Chunk] = field(default_factory=list)
    tail: list[Entry] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(c.count for c in self.chunks) + len(self.tail)

    def __iter__(self) -> Iterator[Pending]:
        for c in self.chunks:
            for entry in c.open():
                yield _pending(entry)
        for entry in self.tail:
            yield _pending(entry)

    @property
    def last_key(self) -> Key | None:
        if self.tail:
            return self.tail[-1][0]
        return self.chunks[-1].last if self.chunks else None

    def append(self, item: Pending) -> None:
        """An event after every event held (the caller checked ``last_key``)."""
        self.tail.append(_entry(item))
        if len(self.tail) >= 2 * CHUNK:
            self.chunks.append(_Chunk.seal(self.tail[:CHUNK]))
            del self.tail[:CHUNK]

    def insert(self, item: Pending) -> bool:
        """An event anywhere; False if an event with its key is already held."""
        key = item.key
        for i, c in enumerate(self.chunks):
            if key <= c.last:
                entries = c.open()
                if not _insert(entries, key, item):
                    return False
                self.chunks[i] = _Chunk.seal(entries)
                return True
        return _insert(self.tail, key, item)

    def drop_through(self, key: Key) -> None:
        """Forget every event up to and including ``key``."""
        while self.chunks and self.chunks[0].last <= key:
            self.chunks.pop(0)
        if self.chunks and self.chunks[0].first <= key:
            entries = self.chunks[0].open()
            rest = entries[bisect_right(entries, key, key=_entry_key) :]
            if rest:
                self.chunks[0] = _Chunk.seal(rest)
            else:
                self.chunks.pop(0)
        if not self.chunks:
            del self.tail[: bisect_right(self.tail, key, key=_entry_key)]


def _entry(item: Pending) -> Entry:
    packed = (item.at, item.rank, item.clock_flag, to_tuple(item.event))
    return (item.key, pickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL))


def _pending(entry: Entry) -> Pending:
    key, blob = entry
    at, rank, clock_flag, event = pickle.loads(blob)  # our own state, written by us
    return Pending(at, rank, key[2], from_tuple(event), clock_flag)


def _insert(entries: list[Entry], key: Key, item: Pending) -> bool:
    j = bisect_left(entries, key, key=_entry_key)
    if j < len(entries) and entries[j][0] == key:
        return False
    entries.insert(j, _entry(item))
    return True
