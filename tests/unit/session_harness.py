"""Drive the pure session engine like the worker does (state saved and loaded between events)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas.events import ChargerEvent, Payload, SampledValue
from schemas.records import Feedback
from streams.downstream import Downstream
from streams.policy import Policy
from streams.state_codec import dump_state, load_state
from streams.station import Output, StationState, clock_marker, flush, next_fault_due, process

T0 = 1_800_000_000_000  # 2027-01-15T08:00:00Z
MIN = 60_000


@dataclass
class Run:
    sessions: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[ChargerEvent, str]] = field(default_factory=list)
    outages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bills(self) -> list[dict[str, Any]]:
        return [r for r in self.sessions if r["record_type"] == "bill"]

    @property
    def bill(self) -> dict[str, Any]:
        (only,) = self.current_bills()
        return only

    def current_bills(self) -> list[dict[str, Any]]:
        return current_bills(self.sessions)


def current_bills(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """What billing_records FINAL shows: per session the bill, unless a newer credit (or void)
    cancelled it."""
    newest: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["record_type"] == "update" and r["state"] != "void":
            continue
        if r["session_id"] not in newest or r["version"] > newest[r["session_id"]]["version"]:
            newest[r["session_id"]] = r
    return [r for r in newest.values() if r["record_type"] == "bill"]


def run(
    events: Iterable[ChargerEvent],
    policy: Policy | None = None,
    *,
    flush_end: bool = True,
    clock_every_ms: int | None = None,
    feedback: Iterable[Feedback] = (),
    feedback_first: bool = False,
) -> Run:
    """The station engine over the events, one station state at a time, and its fault alerts through the
    site and model stages, as the worker runs them (in one process here). ``clock_every_ms``: the
    gateway's clock ticks as `EventPublisher.publish_all` sends them; at each, a station whose fault
    timer is due gets the worker's clock marker. ``feedback``: driver reports, each delivered when the
    events have reached its receive time (``feedback_first``: all before the first event, as driver
    apps outrun the engine's reorder buffer)."""
    policy = policy or Policy()
    downstream = Downstream(policy.fault_rules_for)
    reports = sorted(feedback, key=lambda f: (f.received_at, f.feedback_id))
    stored: dict[str, bytes] = {}
    out = Run()
    if feedback_first:
        out.alerts += [a.to_dict() for fb in reports for a in downstream.feedback(fb)]
        reports = []

    def take(released: Output) -> None:
        out.sessions += [r.to_dict() for r in released.sessions]
        out.alerts += [a.to_dict() for a in downstream.take(released)]
        out.outages += [o.to_dict() for o in released.outages]

    next_tick: int | None = None
    for ev in events:
        while reports and reports[0].received_at <= ev.received_at:
            out.alerts += [a.to_dict() for a in downstream.feedback(reports.pop(0))]
        if clock_every_ms:
            next_tick = next_tick or (ev.received_at // clock_every_ms + 1) * clock_every_ms
            while ev.received_at >= next_tick:
                for sid in list(stored):
                    st = load_state(stored[sid])
                    due = next_fault_due(st, policy)
                    if due is not None and due <= next_tick:
                        take(process(st, clock_marker(sid, next_tick), policy))
                        stored[sid] = dump_state(st)
                next_tick += clock_every_ms
        raw = stored.get(ev.station_id)
        state = load_state(raw) if raw else StationState(ev.station_id)
        released = process(state, ev, policy)
        stored[ev.station_id] = dump_state(state)
        take(released)
        out.rejected += released.rejected
    for fb in reports:
        out.alerts += [a.to_dict() for a in downstream.feedback(fb)]
    if flush_end:
        for raw in stored.values():
            take(flush(load_state(raw), policy))
    return out


class Station:
    """Builds one station's events with unique ids; times in minutes after T0 unless ms given."""

    def __init__(self, station_id: str = "ST", source: str = "test") -> None:
        self.station_id = station_id
        self.source = source
        self.n = 0

    def ev(
        self,
        minute: float,
        payload: Payload,
        connector: int = 1,
        *,
        received_delay_min: float = 0.0,
        station_time: int | None = None,
        event_id: str | None = None,
    ) -> ChargerEvent:
        self.n += 1
        at = T0 + round(minute * MIN)
        return ChargerEvent(
            event_id or f"{self.station_id}-e{self.n}",
            self.station_id,
            connector,
            at if station_time is None else station_time,
            at + round(received_delay_min * MIN),
            self.source,
            payload,
        )


def wh(
    minute: float,
    value: float,
    *,
    phase: str | None = None,
    context: str = "Sample.Periodic",
    unit: str = "Wh",
) -> SampledValue:
    return SampledValue(T0 + round(minute * MIN), unit, value, str(value), phase=phase, context=context)
