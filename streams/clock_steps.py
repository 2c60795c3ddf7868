"""A station clock that stepped back between two sessions on a connector. Pure.

Station times are trusted when they lie before receipt (offline queues arrive late, see clock.py).
But a clock that is set back — a time sync, a DST change on a clock kept in local time — can stamp
the next session *before* the end of the last one: its plug-in and start then fall inside a session
already closed, and re-deriving the connector's history in time order mixes the two (both were
billed 0 Wh). A connector cannot hold two sessions at once, so arrival order decides here: an event
of a new session that arrives after the last session ended — and the connector was free again, or
(a transaction's event) at once: a station offline queues no status notification — with a time before
that end is moved just after the end, one millisecond apart in the order the events came (the
station's own order; flag `clock_stepped_back`). Only what lies before the end moves: energy is the
meter's and stays exact, a plug-in time may come late by the clock's step.

A new session's event: one of a transaction this connector has not seen before (and the later
events of a transaction being moved), or, when it is late (older than the allowed lateness: inside
it, events may arrive in any order), a plug-in status (Preparing, Occupied). Never a re-send: an
event the connector's journal already holds under its time, or one older than its checkpoint. A
moved event's time is remembered by id, so its re-sends get the same time (the journal recognises
re-sends by time and id). The guard is disarmed once the connector's clock passes the end again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from schemas.events import ChargerEvent, MeterValues, StatusChange, TransactionEvent
from streams.compact import fields_reduce

STEPPED_BACK: Final = "clock_stepped_back"
RETIMED_KEPT: Final = 64  # moved events remembered per connector (a few per step back)
TRANSACTIONS_KEPT: Final = 16  # transactions seen per connector: their late events are not moved
_PLUG_IN: Final = frozenset({"Preparing", "Occupied"})


@dataclass(slots=True)
class SessionEdge:
    """What a connector has received, in arrival order, about the end of its last session."""

    __reduce__ = fields_reduce

    ended_tx: str | None = None  # the transaction whose end came last
    latest: int = 0  # the newest time the connector received since that end
    floor: int | None = None  # armed when the connector is free again after the end
    moved: int = 0  # events moved after the floor since it was armed
    moving: list[str] = field(default_factory=list)  # transactions being moved after the floor
    seen_tx: dict[str, None] = field(default_factory=dict)  # transactions that came to the connector
    retimed: dict[str, int] = field(default_factory=dict)  # event id -> the time it was moved to


def _transaction(ev: ChargerEvent) -> str | None:
    p = ev.payload
    if isinstance(p, TransactionEvent | MeterValues):
        return p.transaction_id
    return None


def retime(
    edge: SessionEdge, ev: ChargerEvent, at: int, late: bool, resent: Callable[[int], bool]
) -> int | None:
    """The time to use instead of ``at``, or None to keep it; records the event's arrival.
    ``resent(at)``: the connector already holds this event at ``at``, or ``at`` is too old to matter."""
    moved = edge.retimed.get(ev.event_id)
    if moved is not None:
        return moved
    tx = _transaction(ev)
    if edge.floor is None and _stepped_back_into(edge, tx, at) and not resent(at):
        edge.floor = edge.latest  # no Available came between (1.6 queues no status offline): arm now
    if edge.floor is not None and at < edge.floor and _new_session(edge, ev, tx, late) and not resent(at):
        edge.moved += 1
        moved = edge.retimed[ev.event_id] = edge.floor + edge.moved
        if len(edge.retimed) > RETIMED_KEPT:
            del edge.retimed[next(iter(edge.retimed))]
        if tx is not None and tx not in edge.moving:
            edge.moving.append(tx)
    _remember(edge, tx)
    if moved is None:
        _observe(edge, ev, tx, at)
    return moved


def _stepped_back_into(edge: SessionEdge, tx: str | None, at: int) -> bool:
    """A transaction the connector has not seen, arriving after the last one's end (the station sends
    in its own order) and stamped before it: two sessions cannot share a connector, so the clock moved
    back between them, whether or not the connector said it was free in between."""
    return edge.ended_tx is not None and tx is not None and tx not in edge.seen_tx and at < edge.latest


def _new_session(edge: SessionEdge, ev: ChargerEvent, tx: str | None, late: bool) -> bool:
    if tx is not None:
        return tx in edge.moving or tx not in edge.seen_tx
    p = ev.payload
    return late and isinstance(p, StatusChange) and p.status in _PLUG_IN


def _remember(edge: SessionEdge, tx: str | None) -> None:
    if tx is not None and tx not in edge.seen_tx:
        edge.seen_tx[tx] = None
        if len(edge.seen_tx) > TRANSACTIONS_KEPT:
            del edge.seen_tx[next(iter(edge.seen_tx))]


def _observe(edge: SessionEdge, ev: ChargerEvent, tx: str | None, at: int) -> None:
    p = ev.payload
    if isinstance(p, TransactionEvent) and p.event_type == "Ended":
        edge.ended_tx, edge.latest = p.transaction_id, at
        _disarm(edge)
        return
    if edge.ended_tx is None:
        return
    if edge.floor is not None:
        if at > edge.floor:  # the connector's clock is past the end again
            edge.ended_tx = None
            _disarm(edge)
        return
    if tx is not None and tx != edge.ended_tx:  # the next session began before the connector was free
        edge.ended_tx = None
        return
    edge.latest = max(edge.latest, at)
    if isinstance(p, StatusChange) and p.status == "Available":
        edge.floor = edge.latest


def _disarm(edge: SessionEdge) -> None:
    edge.floor, edge.moved = None, 0
    edge.moving.clear()
