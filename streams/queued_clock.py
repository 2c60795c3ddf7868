"""The time of a queued event whose station clock was unset (1970). Pure.

An unset clock takes the receipt time (clock.py): right for an event sent at once. But a station
offline keeps its transaction messages and sends them all at the reconnect; an unset-clock event in
that queue then gets the reconnect's time, *after* the correctly stamped events queued behind it
(the clock synced while offline): a start placed after its own end bills 0 Wh. Arrival order is the
station's own order, so an unset-clock event of the burst that follows a reconnect is placed just
after the newest good time the station had sent (its loss of connection, or a queued event stamped
after a time sync), one millisecond apart in arrival order. The burst ends at the first pause
longer than BURST_GAP_MS: a queue is sent message after message, live traffic is not. Times given
are remembered by id, so a re-send of the burst gets the same time (the journal dedupes by time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from schemas.events import SECOND_MS, ChargerEvent, ConnectionChange
from streams.compact import fields_reduce

BURST_GAP_MS: Final = 30 * SECOND_MS  # a pause this long between two messages: the queue is sent
PLACED_KEPT: Final = 64  # queued events' times remembered per station
UNSET: Final = "clock_unset"


@dataclass(slots=True)
class QueueClock:
    """What a station's arrivals say about the time of its queued messages."""

    __reduce__ = fields_reduce

    good: int = 0  # the newest trusted station time received
    armed: bool = False  # a reconnect's burst is arriving
    last: int = 0  # the last time given (or trusted) in the burst
    arrived: int = 0  # receipt time of the burst's last message
    placed: dict[str, int] = field(default_factory=dict)  # event id -> the time it was given


def place(qc: QueueClock, ev: ChargerEvent, at: int, flag: str | None) -> int | None:
    """The time to use instead of ``at`` (the receipt time of an unset clock), or None to keep it.
    Call for the station's own messages and the gateway's connection events, in arrival order."""
    given = qc.placed.get(ev.event_id)
    if given is not None:
        return given
    p = ev.payload
    if isinstance(p, ConnectionChange) and p.connected:  # the gateway's time, not the station's
        qc.armed, qc.last, qc.arrived = True, qc.good, ev.received_at
        return None
    if qc.armed and ev.received_at - qc.arrived > BURST_GAP_MS:
        qc.armed = False
    qc.arrived = ev.received_at
    if flag is None:
        qc.good = max(qc.good, at)
        qc.last = max(qc.last, at)
        return None
    if flag != UNSET or not qc.armed or qc.last == 0:  # nothing trusted yet to place it after
        return None
    qc.last += 1
    qc.placed[ev.event_id] = qc.last
    if len(qc.placed) > PLACED_KEPT:
        del qc.placed[next(iter(qc.placed))]
    return qc.last
