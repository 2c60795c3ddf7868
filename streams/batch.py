"""A batch of decoded events through the per-station engine: load each station once, save once.

The shell (Faust agent, benchmark, replay check) supplies how state is loaded and saved; this
module is pure. Batching is what makes the worker fast: the per-event cost of the Faust machinery
and of state (de)serialisation is paid per station per batch instead of per event.

Re-consumption after a restart is idempotent: each station remembers the offset of the last event
it applied (events of a station share one partition), and a re-delivered event is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from schemas.events import ChargerEvent
from schemas.records import Alert, PortOutage, SessionRecord
from streams.faults.site_incidents import StationSeen
from streams.maintenance.stage import EngineNews, engine_news
from streams.policy import Policy
from streams.station import StationState, process


@dataclass(slots=True)
class BatchOutput:
    sessions: list[SessionRecord] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    rejected: list[tuple[ChargerEvent, str]] = field(default_factory=list)
    stations: list[StationSeen] = field(default_factory=list)
    care: list[EngineNews] = field(default_factory=list)  # for the maintenance stage, in engine order
    outages: list[PortOutage] = field(default_factory=list)
    states: dict[str, StationState] = field(default_factory=dict)  # the stations the batch touched
    replayed: int = 0  # events skipped because their station had already applied them

    @property
    def touched(self) -> list[str]:
        return list(self.states)


def process_batch(
    events: Iterable[ChargerEvent],
    load: Callable[[str], StationState | None],
    save: Callable[[str, StationState], None],
    policy: Policy,
    offsets: Sequence[int] | None = None,
) -> BatchOutput:
    """``offsets``: each event's offset in its partition, when the events come from a log."""
    out = BatchOutput()
    states = out.states
    for i, ev in enumerate(events):
        state = states.get(ev.station_id)
        if state is None:
            state = load(ev.station_id) or StationState(ev.station_id)
            states[ev.station_id] = state
        if offsets is not None:
            if offsets[i] <= state.offset:
                out.replayed += 1
                continue
            state.offset = offsets[i]
        released = process(state, ev, policy)
        out.sessions += released.sessions
        out.alerts += released.alerts
        out.rejected += released.rejected
        out.stations += released.stations
        out.outages += released.outages
        out.care += engine_news(released.sessions, released.statuses, released.alerts, released.told)
    for station_id, state in states.items():
        save(station_id, state)
    return out
