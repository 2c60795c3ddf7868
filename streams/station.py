"""One station's view: de-duplication, event time, the reorder buffer, routing to connectors. Pure.

All events of a station share a Kafka partition (key = station_id), so one worker owns the
station and this state. Events wait in a reorder buffer until the station's watermark (the newest
event time seen, heartbeats included) has passed them by the allowed lateness; then they go to their
connector in event-time order. An event older than that frontier goes to its connector at once:
for the connector it is usually still in order (a reconnecting station's queue), and when it is not,
the connector re-derives its history (:mod:`streams.connector`). Either way the bill is the same as
for the same events in order, and every time in the output is an event time, so a replay at any
speed produces the same records.
"""

from __future__ import annotations

import dataclasses
from bisect import insort
from dataclasses import dataclass, field
from typing import Any, Final

from schemas.bounds import out_of_bounds
from schemas.events import (
    ChargerEvent,
    ConnectionChange,
    Heartbeat,
    MeterValues,
    StationBoot,
    StatusChange,
    TransactionEvent,
)
from schemas.records import PortOutage
from streams.billing import StationInfo
from streams.clock import effective_time
from streams.clock_steps import STEPPED_BACK, SessionEdge, retime
from streams.compact import fields_reduce
from streams.connector import DUPLICATE, ConnectorLog, Env, advance, deliver, settle
from streams.faults import FaultCtx, StationFaults, next_due
from streams.faults import advance as advance_faults
from streams.faults import on_bills as fault_bills
from streams.faults import on_event as fault_event
from streams.faults.incidents import site_key
from streams.faults.site_incidents import StationSeen
from streams.journal import Pending
from streams.ledger import Outbox
from streams.maintenance.state import TELL_EVERY_MS, PortStatus, StationTime
from streams.policy import Policy
from streams.queued_clock import QueueClock, place
from streams.uptime import PortUptime, track

CLOCK_SOURCE: Final = "worker-clock"
"""A Heartbeat from this source carries the time of the station's partition to a station that is
silent: it releases the station's buffer as a flush marker does, and moves the fault rules' clock to
its time (an offline station has no events of its own); the sessions' time stays the station's."""


def clock_marker(station_id: str, at: int) -> ChargerEvent:
    """The marker that brings the partition's time ``at`` to a silent station (CLOCK_SOURCE)."""
    return ChargerEvent(f"clock-{station_id}-{at}", station_id, 0, at, at, CLOCK_SOURCE, Heartbeat())


FLUSH_SOURCE: Final = "worker-flush"
"""A Heartbeat from this source (written to the log by the worker when a station with buffered
events has been silent for a while) releases the buffer up to the watermark. Being in the log, it
replays exactly like the events around it."""
WORKER_SOURCES: Final = frozenset({CLOCK_SOURCE, FLUSH_SOURCE})  # the worker's, not the station's


def flush_marker_id(station_id: str, watermark: int, offset: int) -> str:
    """One id per decision to flush (the watermark may not have moved since the last one)."""
    return f"flush-{station_id}-{watermark}-{offset}"


SEEN_IDS_KEPT: Final = (
    64  # recent ids; connectors recognise older re-sends in their journal, offsets re-consumption
)
ORPHANS_KEPT: Final = 64
TX_CONNECTORS_KEPT: Final = 64
# The order of events that share an instant. Energy readings first: a register rise at t says
# energy flowed *until* t, so it belongs to the charging that a status at t may end. Then what ends a
# session before what starts the next (back-to-back sessions share the instant of unplug and
# plug-in; a transaction's begin readings follow its start), then what starts delivery, then what
# says delivery stopped.
READINGS_RANK: Final = 1
_TRANSACTION_RANK: Final = {"Ended": 2, "Started": 6}
BEGIN_READINGS_RANK: Final = 7
_STATUS_RANK: Final = {
    "Finishing": 3,
    "Preparing": 5,
    "Occupied": 5,
    "Charging": 8,
    "SuspendedEVSE": 8,
    "SuspendedEV": 9,
}
_OTHER_STATUS_RANK: Final = 4  # Available, Unavailable, Faulted, Reserved
_CHARGING_STATE_RANK: Final = {"Charging": 8, "SuspendedEVSE": 8}
_STOPPED_STATE_RANK: Final = 9  # SuspendedEV, EVConnected, Idle
ZERO_LENGTH_END_RANK: Final = 10


def rank(ev: ChargerEvent) -> int:
    """Tie-break for events with the same time (see the order above)."""
    p = ev.payload
    if isinstance(p, StationBoot | ConnectionChange):
        return 0
    if isinstance(p, TransactionEvent):
        if p.event_type in _TRANSACTION_RANK:
            return _TRANSACTION_RANK[p.event_type]
        if p.charging_state is None:
            return READINGS_RANK
        return _CHARGING_STATE_RANK.get(p.charging_state, _STOPPED_STATE_RANK)
    if isinstance(p, StatusChange):
        return _STATUS_RANK.get(p.status, _OTHER_STATUS_RANK)
    if isinstance(p, MeterValues) and p.samples and all(s.context == "Transaction.Begin" for s in p.samples):
        return BEGIN_READINGS_RANK
    return READINGS_RANK


@dataclass(slots=True)
class Output(Outbox):
    """What one event released: records to publish, and input refused with the reason."""

    rejected: list[tuple[ChargerEvent, str]] = field(default_factory=list)
    stations: list[StationSeen] = field(default_factory=list)  # boots, for the site and model stages
    statuses: list[PortStatus] = field(default_factory=list)  # for the maintenance stage
    told: StationTime | None = None  # the station's time, for the maintenance stage
    outages: list[PortOutage] = field(default_factory=list)  # for uptime (port.outages)


@dataclass(slots=True)
class StationState:
    __reduce__ = fields_reduce

    station_id: str
    info: StationInfo = field(default_factory=StationInfo)
    watermark: int = 0
    frontier: int = 0
    buffer: list[Pending] = field(default_factory=list)
    seen: dict[str, None] = field(default_factory=dict)
    connectors: dict[int, ConnectorLog] = field(default_factory=dict)
    tx_connector: dict[str, int] = field(default_factory=dict)
    orphans: list[Pending] = field(default_factory=list)  # transaction events before their start
    held: list[Pending] = field(default_factory=list)  # late events of one instant, until it is whole
    offset: int = -1  # the last source offset applied (the shell skips what it re-consumes)
    duplicates: int = 0
    late_events: int = 0
    faults: StationFaults = field(default_factory=StationFaults)
    told: int = 0  # the frontier last told to the maintenance stage
    uptime: PortUptime = field(default_factory=PortUptime)  # (new fields last: older states still load)
    partition: int = -1  # the source partition, set by the shell: it re-arms the timers after a restart
    edges: dict[int, SessionEdge] = field(default_factory=dict)  # per connector, see clock_steps.py
    queue_clock: QueueClock = field(default_factory=QueueClock)  # see queued_clock.py

    def connector(self, connector_id: int) -> ConnectorLog:
        log = self.connectors.get(connector_id)
        if log is None:
            log = self.connectors[connector_id] = ConnectorLog.new(connector_id)
        return log

    @property
    def waiting(self) -> bool:
        """Something is held until time moves on: buffered events, or a reconciliation."""
        # Heartbeats wait in the buffer only for the fault rules' order: not worth a flush marker.
        buffered = any(not isinstance(i.event.payload, Heartbeat | StationBoot) for i in self.buffer)
        return buffered or bool(self.held) or any(log.waiting for log in self.connectors.values())


def process(state: StationState, ev: ChargerEvent, policy: Policy) -> Output:
    """Take one event of the station; returns the records and refusals it released."""
    out = _process(state, ev, policy)
    _uptime(state, out)
    return out


def _uptime(state: StationState, out: Output) -> None:
    if out.statuses or out.alerts:
        track(state.uptime, state.station_id, state.info.site_id, out.statuses, out.alerts, out.outages)


def _process(state: StationState, ev: ChargerEvent, policy: Policy) -> Output:
    out = Output()
    if ev.event_id in state.seen:
        state.duplicates += 1
        return out
    if (reason := out_of_bounds(ev)) is not None:  # input that did not come through the gateway
        out.rejected.append((ev, f"out of bounds: {reason}"))
        return out
    state.seen[ev.event_id] = None
    if len(state.seen) > SEEN_IDS_KEPT:
        del state.seen[next(iter(state.seen))]
    at, clock_flag = effective_time(ev.station_time, ev.received_at)
    p = ev.payload
    if (
        ev.source not in WORKER_SOURCES
        and (queued := place(state.queue_clock, ev, at, clock_flag)) is not None
    ):
        at = queued
    if ev.connector_id > 0 and isinstance(p, StatusChange | TransactionEvent | MeterValues):
        edge = state.edges.get(ev.connector_id) or state.edges.setdefault(ev.connector_id, SessionEdge())
        log = state.connectors.get(ev.connector_id)

        def resent(t: int) -> bool:
            key = (t, rank(ev), ev.event_id)
            return log is not None and (
                (log.base is not None and key <= log.base.key) or log.journal.holds(key)
            )

        if (moved := retime(edge, ev, at, at < state.frontier, resent)) is not None:
            at, clock_flag = moved, clock_flag or STEPPED_BACK
    if ev.source == CLOCK_SOURCE:  # silent for a while: its buffer first, as a flush marker would
        _release_held(state, _env(state, policy), out)
        _release(state, policy, out, state.watermark)
        _bills(state, policy, out)
        ctx = _faults_ctx(state, policy, out)
        fault_event(state.faults, ev, (min(at, ev.received_at), 0, ev.event_id), ctx, clock=True)
        return out
    if ev.source == FLUSH_SOURCE:  # the station fell silent: nothing more to wait for
        _release_held(state, _env(state, policy), out)
        _release(state, policy, out, state.watermark)
        _bills(state, policy, out)
        return out
    if isinstance(p, StationBoot):  # what the station is: known from now on, for every bill
        state.info = info = _info_from_boot(state.info, p, policy)
        out.stations.append(
            StationSeen(
                state.station_id,
                site_key(info.site_id, state.station_id),
                info.vendor,
                info.model,
                info.firmware,
            )
        )
    item = Pending(at, rank(ev), ev.event_id, ev, clock_flag)
    if isinstance(p, Heartbeat | StationBoot):
        state.watermark = max(state.watermark, at)
        if at >= state.frontier:  # in order with the rest for the fault rules (a reconnect, say)
            insort(state.buffer, item, key=lambda x: x.key)
        else:
            _route(state, item, _env(state, policy), out)
    else:
        if at >= state.frontier:
            _zero_length_transaction(state, item)
            insort(state.buffer, item, key=lambda x: x.key)
            if not (isinstance(p, ConnectionChange) and p.connected):
                # A reconnect is the gateway's clock, not the station's: it must not make the queued
                # events the station sends next look late. A lost connection is the station's last
                # word: it moves the watermark, so that a clock marker releases it.
                state.watermark = max(state.watermark, at)
        else:
            state.late_events += 1
            _hold(state, item, _env(state, policy), out)
    _release(state, policy, out, state.watermark - policy.allowed_lateness_ms)
    _bills(state, policy, out)
    return out


def next_fault_due(state: StationState, policy: Policy) -> int | None:
    """When the station's next fault timer is due, counting a lost connection still in the buffer
    (a station that lost its connection sends nothing that would release it)."""
    rules = policy.fault_rules_for(state.info.site_id)
    due = [
        i.at + rules.offline_grace_ms
        for i in state.buffer
        if isinstance(i.event.payload, ConnectionChange) and not i.event.payload.connected
    ]
    own = next_due(state.faults, rules)
    if own is not None:
        due.append(own)
    return min(due) if due else None


def _faults_ctx(state: StationState, policy: Policy, out: Output) -> FaultCtx:
    site = state.info.site_id
    return FaultCtx(state.station_id, site, policy.fault_rules_for(site), out.alerts)


def _bills(state: StationState, policy: Policy, out: Output) -> None:
    """The outcomes of the sessions this call released, for the start-failure rule."""
    if out.sessions:
        fault_bills(state.faults, out.sessions, _faults_ctx(state, policy, out))


def _hold(state: StationState, item: Pending, env: Env, out: Output) -> None:
    """Late events go on at once, but those of one instant together, in their order: a queue
    delivered after the watermark sends the events of an instant in any order too."""
    if state.held and item.at < state.held[0].at:
        _route(state, item, env, out)  # older than the instant held: out of order in any case
        return
    if state.held and item.at > state.held[0].at:
        _release_held(state, env, out)
    insort(state.held, item, key=lambda x: x.key)


def _release_held(state: StationState, env: Env, out: Output) -> None:
    held, state.held = state.held, []
    for item in held:
        _route(state, item, env, out)


def flush(state: StationState, policy: Policy, until: int | None = None) -> Output:
    """Release everything buffered and run timers up to ``until`` (default: the watermark).
    For the end of a finite replay; a live stream advances with events and heartbeats instead."""
    out = Output()
    _release_held(state, _env(state, policy), out)
    _release(state, policy, out, max(state.watermark, until or 0))
    _bills(state, policy, out)
    _uptime(state, out)
    return out


def _env(state: StationState, policy: Policy) -> Env:
    return Env(state.station_id, state.info, policy)


def _release(state: StationState, policy: Policy, out: Output, frontier: int) -> None:
    env = _env(state, policy)
    moved = frontier > state.frontier
    if moved:
        _release_held(state, env, out)
        while state.buffer and state.buffer[0].at <= frontier:
            _route(state, state.buffer.pop(0), env, out)
        state.frontier = frontier
        for log in list(state.connectors.values()):
            advance(log, env, frontier, out)
        advance_faults(state.faults, frontier, _faults_ctx(state, policy, out))
        if frontier - state.told >= TELL_EVERY_MS:
            state.told = frontier
            out.told = StationTime(state.station_id, frontier)
    for log in list(state.connectors.values()):
        if moved or log.waiting:
            settle(log, env, state.frontier, out)


def _route(state: StationState, item: Pending, env: Env, out: Output) -> None:
    p = item.event.payload
    site = env.info.site_id
    ctx = FaultCtx(state.station_id, site, env.policy.fault_rules_for(site), out.alerts)
    fault_event(state.faults, item.event, item.key, ctx)
    if isinstance(p, Heartbeat | StationBoot):
        return  # the station's liveness, for the fault rules only
    if isinstance(p, StatusChange):
        out.statuses.append(PortStatus(state.station_id, item.event.connector_id, p.status, item.at))
    if isinstance(p, ConnectionChange):
        for log in list(state.connectors.values()):
            _deliver(state, log, item, env, out)
        return
    connector_id = item.event.connector_id
    tx = p.transaction_id if isinstance(p, TransactionEvent | MeterValues) else None
    if connector_id == 0 and tx is not None:
        connector_id = state.tx_connector.get(tx, 0)  # 2.0.1 Updated/Ended without an EVSE
        if connector_id == 0:
            _park(state, item, out)
            return
    if connector_id == 0:
        return  # the whole station: faults and availability, not sessions
    _deliver(state, state.connector(connector_id), item, env, out)
    if isinstance(p, TransactionEvent) and p.event_type == "Started":
        state.tx_connector[p.transaction_id] = connector_id
        if len(state.tx_connector) > TX_CONNECTORS_KEPT:
            del state.tx_connector[next(iter(state.tx_connector))]
        waiting = [o for o in state.orphans if _tx_of(o) == p.transaction_id]
        state.orphans = [o for o in state.orphans if _tx_of(o) != p.transaction_id]
        for orphan in waiting:
            _deliver(state, state.connector(connector_id), orphan, env, out)


def _deliver(state: StationState, log: ConnectorLog, item: Pending, env: Env, out: Output) -> None:
    refused = deliver(log, item, env, out, state.watermark)
    if refused == DUPLICATE:
        state.duplicates += 1
    elif refused is not None:
        out.rejected.append((item.event, refused))


def _tx_of(item: Pending) -> str | None:
    p = item.event.payload
    return p.transaction_id if isinstance(p, TransactionEvent | MeterValues) else None


def _park(state: StationState, item: Pending, out: Output) -> None:
    """A transaction event that names no connector, before its start: kept until the start comes."""
    if any(o.key == item.key for o in state.orphans):
        state.duplicates += 1
        return
    insort(state.orphans, item, key=lambda x: x.key)
    if len(state.orphans) > ORPHANS_KEPT:
        dropped = state.orphans.pop(0)
        out.rejected.append(
            (dropped.event, f"transaction {_tx_of(dropped)} names no connector and never started here")
        )


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
