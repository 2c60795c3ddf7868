"""A connector's events in event-time order, cheap to keep and to save. Pure.

The station state is saved after every batch, so what it holds must cost little to serialise. Each
event is kept as plain tuples (frozen dataclasses pickle an order of magnitude slower). The
journal is a list of sealed chunks (``CHUNK`` events each, compressed once) and a short tail:
appending in order — nearly every event — touches only the tail; an event out of order opens the
one chunk it falls into. The worker stores each sealed chunk once, apart from the station's state
(`streams.station_table`), so a save after a batch writes the tail and the new chunks only; chunks
are read back only when the history is re-derived.
"""

from __future__ import annotations

import pickle
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from schemas.events import ChargerEvent, from_tuple, to_tuple
from streams.compact import fields_reduce

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

    def __reduce__(self) -> tuple[object, ...]:  # plain tuples: cheap in the saved station state
        return (_pending, (_entry(self),))


Entry = tuple[Key, tuple[object, ...]]  # the event's key, the event as plain tuples


def _entry_key(e: Entry) -> Key:
    return e[0]


@dataclass(slots=True)
class Chunk:
    """Sealed events. ``blob`` is None once the shell stored it apart (see `Journal.fetch`)."""

    __reduce__ = fields_reduce

    ref: str
    first: Key
    last: Key
    count: int
    blob: bytes | None
    stored: bool = False

    def entries(self, fetch: Fetch | None) -> list[Entry]:
        blob = self.blob
        if blob is None:
            if fetch is None:
                raise LookupError(f"journal chunk {self.ref} is stored apart and no fetch was given")
            blob = fetch(self.ref)
        entries: list[Entry] = pickle.loads(zlib.decompress(blob))  # our own state, written by us
        return entries


Fetch = Callable[[str], bytes]


@dataclass(slots=True)
class Journal:
    """``fetch`` (never saved) reads a chunk the shell stored apart; ``dropped`` lists stored chunks
    the journal no longer needs, for the shell to delete.

    The tail is saved as segments: the entries appended since the state was loaded are pickled as
    one more segment, and loading leaves the segments as bytes until the tail is needed (to seal,
    insert or re-derive), so loading and saving a station after a batch is a copy of bytes."""

    chunks: list[Chunk] = field(default_factory=list)
    fresh: list[Entry] = field(default_factory=list)  # the tail's entries in memory
    saved: list[bytes] = field(default_factory=list)  # the tail's entries as loaded, before ``fresh``
    saved_count: int = 0
    saved_last: Key | None = None
    sealed: int = 0  # chunks ever sealed: their refs
    dropped: list[str] = field(default_factory=list)
    fetch: Fetch | None = None

    def __getstate__(self) -> tuple[object, ...]:
        segments = (
            [*self.saved, pickle.dumps(self.fresh, protocol=pickle.HIGHEST_PROTOCOL)]
            if self.fresh
            else self.saved
        )
        count = self.saved_count + len(self.fresh)
        return (self.chunks, segments, count, self._tail_last, self.sealed, self.dropped)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        self.chunks, self.saved, self.saved_count, self.saved_last, self.sealed, self.dropped = state  # type: ignore[assignment]
        self.fresh, self.fetch = [], None

    @property
    def tail(self) -> list[Entry]:
        """The tail's entries (read from the saved segments on first use)."""
        if self.saved:
            loaded = [e for blob in self.saved for e in pickle.loads(blob)]  # our own state
            self.fresh = loaded + self.fresh
            self.saved, self.saved_count, self.saved_last = [], 0, None
        return self.fresh

    @property
    def _tail_last(self) -> Key | None:
        return self.fresh[-1][0] if self.fresh else self.saved_last

    def __len__(self) -> int:
        return sum(c.count for c in self.chunks) + self.saved_count + len(self.fresh)

    def __iter__(self) -> Iterator[Pending]:
        for c in self.chunks:
            for entry in c.entries(self.fetch):
                yield _pending(entry)
        for entry in self.tail:
            yield _pending(entry)

    @property
    def last_key(self) -> Key | None:
        last = self._tail_last
        if last is not None:
            return last
        return self.chunks[-1].last if self.chunks else None

    def append(self, item: Pending) -> None:
        """An event after every event held (the caller checked ``last_key``)."""
        self.fresh.append(_entry(item))
        if self.saved_count + len(self.fresh) >= 2 * CHUNK:
            tail = self.tail
            self.chunks.append(self._seal(tail[:CHUNK]))
            del tail[:CHUNK]

    def insert(self, item: Pending) -> bool:
        """An event anywhere; False if an event with its key is already held."""
        key = item.key
        for i, c in enumerate(self.chunks):
            if key <= c.last:
                entries = c.entries(self.fetch)
                if not _insert(entries, key, item):
                    return False
                self._replace(i, entries)
                return True
        return _insert(self.tail, key, item)

    def holds(self, key: Key) -> bool:
        """Whether an event with this key is held (a re-send of it would be a duplicate)."""
        for c in self.chunks:
            if key <= c.last:
                return _holds(c.entries(self.fetch), key)
        return _holds(self.tail, key)

    def drop_through(self, key: Key) -> None:
        """Forget every event up to and including ``key``."""
        while self.chunks and self.chunks[0].last <= key:
            self._forget(self.chunks.pop(0))
        if self.chunks and self.chunks[0].first <= key:
            entries = self.chunks[0].entries(self.fetch)
            self._replace(0, entries[bisect_right(entries, key, key=_entry_key) :])
        if not self.chunks:
            tail = self.tail
            del tail[: bisect_right(tail, key, key=_entry_key)]

    def _seal(self, entries: list[Entry]) -> Chunk:
        self.sealed += 1
        blob = zlib.compress(pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL), 1)
        return Chunk(str(self.sealed), entries[0][0], entries[-1][0], len(entries), blob)

    def _replace(self, i: int, entries: list[Entry]) -> None:
        self._forget(self.chunks[i])
        if entries:
            self.chunks[i] = self._seal(entries)
        else:
            del self.chunks[i]

    def _forget(self, chunk: Chunk) -> None:
        if chunk.stored:
            self.dropped.append(chunk.ref)


def _entry(item: Pending) -> Entry:
    return (item.key, (item.clock_flag, to_tuple(item.event)))


def _pending(entry: Entry) -> Pending:
    (at, rank, event_id), (clock_flag, event) = entry
    return Pending(at, rank, event_id, from_tuple(event_id, event), clock_flag)  # type: ignore[arg-type]


def _holds(entries: list[Entry], key: Key) -> bool:
    j = bisect_left(entries, key, key=_entry_key)
    return j < len(entries) and entries[j][0] == key


def _insert(entries: list[Entry], key: Key, item: Pending) -> bool:
    j = bisect_left(entries, key, key=_entry_key)
    if j < len(entries) and entries[j][0] == key:
        return False
    entries.insert(j, _entry(item))
    return True
