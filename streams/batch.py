"""A batch of decoded events through the per-station engine: load each station once, save once.

The shell (Faust agent, benchmark, replay check) supplies how state is loaded and saved; this
module is pure. Batching is what makes the worker fast: the per-event cost of the Faust machinery
and of state (de)serialisation is paid per station per batch instead of per event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas.events import ChargerEvent
from streams.policy import Policy
from streams.station import StationState, process


@dataclass(slots=True)
class BatchOutput:
    sessions: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)


def process_batch(
    events: Iterable[ChargerEvent],
    load: Callable[[str], StationState | None],
    save: Callable[[str, StationState], None],
    policy: Policy,
) -> BatchOutput:
    out = BatchOutput()
    states: dict[str, StationState] = {}
    for ev in events:
        state = states.get(ev.station_id)
        if state is None:
            state = load(ev.station_id) or StationState(ev.station_id)
            states[ev.station_id] = state
            out.touched.append(ev.station_id)
        ctx = process(state, ev, policy)
        out.sessions += ctx.sessions_out
        out.alerts += ctx.alerts_out
    for station_id, state in states.items():
        save(station_id, state)
    return out
