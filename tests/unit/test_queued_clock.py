"""The time of unset-clock events in an offline queue (streams/queued_clock.py)."""

from __future__ import annotations

from schemas.events import ChargerEvent, ConnectionChange, Heartbeat, Payload
from streams.queued_clock import BURST_GAP_MS, QueueClock, place

T = 1_750_000_000_000


def _ev(eid: str, received: int, payload: Payload | None = None) -> ChargerEvent:
    return ChargerEvent(eid, "S", 1, 0, received, "test", payload or Heartbeat())


def test_unset_events_of_a_burst_follow_the_last_trusted_time_in_arrival_order() -> None:
    qc = QueueClock()
    assert place(qc, _ev("a", T), T - 5_000, None) is None  # a trusted time: kept
    assert place(qc, _ev("up", T + 60_000, ConnectionChange(True, "back")), T + 60_000, None) is None
    first = place(qc, _ev("b", T + 61_000), T + 61_000, "clock_unset")
    second = place(qc, _ev("c", T + 61_010), T + 61_010, "clock_unset")
    assert (first, second) == (T - 4_999, T - 4_998)
    assert place(qc, _ev("b", T + 99_000), T + 99_000, "clock_unset") == first  # a re-send: same time


def test_the_burst_ends_at_a_pause_and_nothing_is_placed_without_a_trusted_time() -> None:
    qc = QueueClock()
    place(qc, _ev("up", T, ConnectionChange(True, "back")), T, None)
    assert place(qc, _ev("b", T + 10), T + 10, "clock_unset") is None  # nothing trusted to follow
    qc = QueueClock()
    place(qc, _ev("a", T), T, None)
    place(qc, _ev("up", T + 1, ConnectionChange(True, "back")), T + 1, None)
    late = T + 1 + BURST_GAP_MS + 1
    assert place(qc, _ev("b", late), late, "clock_unset") is None  # live traffic: receipt time stands
    assert place(qc, _ev("c", T + 2), T + 2, "clock_ahead") is None  # only unset clocks are placed
