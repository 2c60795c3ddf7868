"""One station's view: de-duplication, event-time order, watermark and timers. Pure.

All events of a station share a Kafka partition (key = station_id), so one worker owns the
station and this state. Events wait in a reorder buffer until the station's watermark (the newest
event time seen, heartbeats included) has passed them by the allowed lateness; then they are
applied in event-time order. Reorderings within the lateness therefore change nothing, and a replay
at any speed produces the same records: every time in the output is an event time.
"""

from __future__ import annotations

import dataclasses
from bisect import insort
from dataclasses import dataclass, field
from typing import Any, Final

from schemas.events import (
    ChargerEvent,
    ConnectionChange,
    Heartbeat,
    MeterValues,
    StationBoot,
    StatusChange,
    TransactionEvent,
)
from streams.billing import StationInfo
from streams.clock import effective_time
from streams.policy import Policy
from streams.sessions import (
    ConnectorState,
    Ctx,
    fire_timers,
    on_meter_values,
    on_status,
    on_transaction,
)

FLUSH_SOURCE: Final = "worker-flush"
"""A Heartbeat from this source (written to the log by the worker when a station with buffered
events has been silent for a while) releases the buffer up to the watermark. Being in the log, it
replays exactly like the events around it."""
SEEN_IDS_KEPT: Final = 256  # recent event ids; content-level idempotence covers older re-sends
_STATUS_RANK: Final = {
    "Finishing": 2,
    "Preparing": 4,
    "Occupied": 4,
    "Charging": 6,
    "SuspendedEV": 6,
    "SuspendedEVSE": 6,
}


def _rank(ev: ChargerEvent) -> int:
    """Tie-break for events with the same time: what ends a session before what starts the next
    (back-to-back sessions share the instant of unplug and plug-in), then what happens within one."""
    p = ev.payload
    if isinstance(p, StationBoot | ConnectionChange):
        return 0
    if isinstance(p, TransactionEvent):
        return {"Ended": 1, "Started": 5}.get(p.event_type, 7)
    if isinstance(p, StatusChange):
        return _STATUS_RANK.get(p.status, 3)  # Available, Unavailable, Faulted, Reserved: 3
    return 7


@dataclass(slots=True)
class Pending:
    at: int
    rank: int
    event_id: str
    event: ChargerEvent = field(compare=False)
    clock_flag: str | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.at, self.rank, self.event_id)


@dataclass(slots=True)
class StationState:
    station_id: str
    info: StationInfo = field(default_factory=StationInfo)
    watermark: int = 0
    frontier: int = 0
    buffer: list[Pending] = field(default_factory=list)
    seen: dict[str, None] = field(default_factory=dict)
    connectors: dict[int, ConnectorState] = field(default_factory=dict)
    tx_connector: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    late_events: int = 0

    def connector(self, connector_id: int) -> ConnectorState:
        conn = self.connectors.get(connector_id)
        if conn is None:
            conn = self.connectors[connector_id] = ConnectorState(connector_id)
        return conn


def process(state: StationState, ev: ChargerEvent, policy: Policy) -> Ctx:
    """Take one event of the station; returns the session records and alerts it released."""
    ctx = Ctx(state.station_id, state.info, policy, watermark=state.watermark)
    if ev.event_id in state.seen:
        state.duplicates += 1
        return ctx
    state.seen[ev.event_id] = None
    if len(state.seen) > SEEN_IDS_KEPT:
        del state.seen[next(iter(state.seen))]
    at, clock_flag = effective_time(ev.station_time, ev.received_at)
    if ev.source == FLUSH_SOURCE:
        _release(state, ctx, state.watermark)  # the station fell silent: nothing more to wait for
        return ctx
    if isinstance(ev.payload, ConnectionChange):
        # The gateway's clock, not the station's: it must not move the station's event time (the
        # queued events a reconnecting station sends next are older than the reconnect).
        _apply(state, ctx, Pending(at, 0, ev.event_id, ev, None), late=True)
        return ctx
    if isinstance(ev.payload, Heartbeat):
        state.watermark = max(state.watermark, at)
    elif at < state.frontier:
        state.late_events += 1  # beyond the allowed lateness: applied now, corrections if billed
        _apply(state, ctx, Pending(at, _rank(ev), ev.event_id, ev, clock_flag), late=True)
    else:
        item = Pending(at, _rank(ev), ev.event_id, ev, clock_flag)
        _zero_length_transaction(state, item)
        insort(state.buffer, item, key=lambda p: p.key)
        state.watermark = max(state.watermark, at)
    _release(state, ctx, state.watermark - policy.allowed_lateness_ms)
    return ctx


ZERO_LENGTH_END_RANK: Final = 8


def _zero_length_transaction(state: StationState, item: Pending) -> None:
    """A transaction that starts and ends in the same millisecond (minute-truncated exports do
    that): its end must follow its start, not precede it as session ends usually do at one instant.
    Checked whichever of the two arrives first, so the order stays independent of arrival."""
    p = item.event.payload
    if not isinstance(p, TransactionEvent) or p.event_type not in ("Started", "Ended"):
        return
    other = "Ended" if p.event_type == "Started" else "Started"
    for q in state.buffer:
        qp = q.event.payload
        if (
            q.at == item.at
            and isinstance(qp, TransactionEvent)
            and qp.event_type == other
            and qp.transaction_id == p.transaction_id
        ):
            ended = item if p.event_type == "Ended" else q
            ended.rank = ZERO_LENGTH_END_RANK
            state.buffer.sort(key=lambda x: x.key)
            return


def flush(state: StationState, policy: Policy, until: int | None = None) -> Ctx:
    """Release everything buffered and fire timers up to ``until`` (default: the watermark).
    For the end of a finite replay; a live stream advances with events and heartbeats instead."""
    ctx = Ctx(state.station_id, state.info, policy, watermark=state.watermark)
    _release(state, ctx, max(state.watermark, until or 0))
    return ctx


def _release(state: StationState, ctx: Ctx, frontier: int) -> None:
    if frontier <= state.frontier:
        if any(c.correction_due is not None for conn in state.connectors.values() for c in conn.closed):
            for conn in state.connectors.values():
                fire_timers(ctx, conn, state.frontier)
        return
    while state.buffer and state.buffer[0].at <= frontier:
        _apply(state, ctx, state.buffer.pop(0), late=False)
    state.frontier = frontier
    for conn in list(state.connectors.values()):
        fire_timers(ctx, conn, frontier)


def _apply(state: StationState, ctx: Ctx, item: Pending, *, late: bool) -> None:
    ev, at, p = item.event, item.at, item.event.payload
    if isinstance(p, StationBoot):
        state.info = ctx.info = _info_from_boot(state.info, p, ctx.policy)
        return
    if isinstance(p, ConnectionChange):
        if not p.connected:
            for conn in state.connectors.values():
                if conn.session is not None:
                    conn.session.flags.add("station_offline")
        return
    connector_id = ev.connector_id
    tx = p.transaction_id if isinstance(p, TransactionEvent | MeterValues) else None
    if connector_id == 0 and tx is not None:
        connector_id = state.tx_connector.get(tx, 0)  # 2.0.1 Updated/Ended without an EVSE
    if connector_id == 0:
        return  # the whole station: faults and availability, not sessions
    conn = state.connector(connector_id)
    if not late:
        fire_timers(ctx, conn, at)
    if isinstance(p, StatusChange):
        if not late:  # a status older than what was applied says nothing about now
            on_status(ctx, conn, p.status, at)
    elif isinstance(p, TransactionEvent):
        if p.event_type == "Started":
            state.tx_connector[p.transaction_id] = connector_id
            _forget_old_transactions(state)
        on_transaction(ctx, conn, p, at, ev.station_time)
    elif isinstance(p, MeterValues):
        on_meter_values(ctx, conn, p, at, ev.station_time)
    if item.clock_flag is not None and conn.session is not None:
        conn.session.flags.add(item.clock_flag)


def _forget_old_transactions(state: StationState) -> None:
    if len(state.tx_connector) > 64:
        for key in list(state.tx_connector)[:-32]:
            del state.tx_connector[key]


def _info_from_boot(old: StationInfo, p: StationBoot, policy: Policy) -> StationInfo:
    site = p.site_id or old.site_id
    zone = p.time_zone or (policy.site_time_zone.get(site) if site else None) or old.time_zone
    changes: dict[str, Any] = {
        "site_id": site,
        "time_zone": zone,
        "vendor": p.vendor,
        "model": p.model,
        "firmware": p.firmware_version,
    }
    for name in ("max_power_kw", "latitude", "longitude"):
        value = getattr(p, name)
        if value is not None:
            changes[name] = value
    return dataclasses.replace(old, **changes)
