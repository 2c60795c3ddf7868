"""What is broken at one station, from its events in event-time order. Pure.

The station (:mod:`streams.station`) hands every event it releases — in event-time order, after the
reorder buffer, duplicates dropped — to :func:`on_event`, the bills its connectors close to
:func:`on_bills`, and moves time with :func:`advance`. Out come alerts (ARCHITECTURE.md §4) whose ids
are functions of the input (type, station, connector, start), so a replay or a restart re-sends the
same ids, and whose versions rise with every change.

Rules (defaults in :class:`FaultRules`, overridable per site and globally):

* connector_fault — a connector enters Faulted (1.6 status; 2.0.1 status, or a NotifyEvent reporting
  a problem that is not cleared); resolved by a status other than Faulted, or when the notices are
  cleared. Connector 0 Faulted is one station_fault that covers every connector.
* warnings — an error code with a status other than Faulted: no alert, only counted.
* flapping — a connector entering Faulted ``flapping_faults`` times within ``flapping_window_ms``:
  one flapping alert instead of more connector_fault alerts; resolved after ``flapping_stable_ms``
  without a new fault.
* start_failures — ``start_failures`` sessions in a row that delivered no energy; resolved by the next
  session that does.
* station_offline — the connection lost and not back within ``offline_grace_ms``, or the station
  silent for ``heartbeat_misses`` heartbeat intervals; resolved when it speaks again.

A status that arrives older than the connector's last status (a queue delivered late) is counted but
changes no fault: the later status already said what the connector is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Final

from schemas.events import (
    MINUTE_MS,
    ChargerEvent,
    ConnectionChange,
    FaultNotice,
    Heartbeat,
    StationBoot,
    StatusChange,
)
from schemas.records import Alert, SessionRecord
from streams.compact import fields_reduce
from streams.faults.alerts import FaultCtx
from streams.faults.chargex import chargex_code
from streams.faults.rules import FaultRules
from streams.journal import Key

FAULTED: Final = "Faulted"
HEARTBEAT_GAPS_KEPT: Final = 5
NO_ERROR: Final = "NoError"
OUTCOMES_KEPT: Final = 16
_TRUE: Final = frozenset({"true", "1", "yes"})


@dataclass(slots=True)
class ConnectorFaults:
    __reduce__ = fields_reduce

    connector_id: int
    status: str | None = None
    status_key: Key = (-1, 0, "")  # the newest status: (event time, rank in its instant, event id)
    faulted: bool = False  # Faulted, or 2.0.1 problems not cleared
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)  # component/variable → notice
    notice_key: dict[str, Key] = field(default_factory=dict)  # component/variable → its newest notice
    fault: Alert | None = None
    fault_starts: list[int] = field(default_factory=list)  # within the flapping window
    flapping: Alert | None = None
    outcomes: dict[str, tuple[int, bool]] = field(default_factory=dict)  # session → (plug-in, energy?)
    start_failures: Alert | None = None


@dataclass(slots=True)
class StationFaults:
    __reduce__ = fields_reduce

    connectors: dict[int, ConnectorFaults] = field(default_factory=dict)
    station: ConnectorFaults = field(default_factory=lambda: ConnectorFaults(0))  # connector 0
    last_seen: int | None = None  # the newest time the station itself spoke
    lost_at: int | None = None  # the gateway saw the connection go, and not come back
    connection_key: Key = (-1, 0, "")  # the newest news of the connection: older, or re-sent, is stale
    offline: Alert | None = None
    last_heartbeat: int | None = None
    heartbeat_gaps: list[int] = field(default_factory=list)  # the last few, to learn the interval

    def connector(self, connector_id: int) -> ConnectorFaults:
        if connector_id == 0:
            return self.station
        cf = self.connectors.get(connector_id)
        if cf is None:
            cf = self.connectors[connector_id] = ConnectorFaults(connector_id)
        return cf

    @property
    def open_alerts(self) -> list[Alert]:
        alerts = [self.offline, self.station.fault]
        for cf in self.connectors.values():
            alerts += [cf.fault, cf.flapping, cf.start_failures]
        return [a for a in alerts if a is not None]


# --- events ----------------------------------------------------------------------------------


def heard(st: StationFaults, at: int) -> None:
    """The station spoke at ``at`` (in event-time order, as the buffer releases its events: a gap of
    more than the silent threshold between two events is a silence, whenever the second arrived)."""
    st.last_seen = at if st.last_seen is None else max(st.last_seen, at)


def on_event(st: StationFaults, ev: ChargerEvent, key: Key, ctx: FaultCtx, *, clock: bool = False) -> None:
    """One event of the station, in the order of ``key`` (event time, rank within its instant, event
    id) as the reorder buffer releases them; an event re-sent or delivered late compares its key with
    the newest seen, so it changes nothing. ``clock``: a marker that only moves time."""
    at = key[0]
    advance(st, at, ctx)  # what was due before this event happened first
    if clock:
        return
    p = ev.payload
    if isinstance(p, ConnectionChange):
        if key <= st.connection_key:
            return  # a re-sent or late change: newer news already said how the station is connected
        st.connection_key = key
        if p.connected:
            # A station that connects is alive: its silence is measured from here, not from before the
            # outage a lost connection already covers.
            st.lost_at = None
            heard(st, at)
            _back(st, at, ctx)
        elif st.lost_at is None:
            st.lost_at = at
        return
    heard(st, at)
    # Silence ends when the station speaks. A lost connection ends with the reconnect, or with a
    # message a station never queues offline (Heartbeat, BootNotification): queued messages sent
    # after a reconnect carry times from inside the outage.
    live_only = isinstance(p, Heartbeat | StationBoot)
    if isinstance(p, Heartbeat):
        _heartbeat(st, at)
    if st.lost_at is not None and live_only and key > st.connection_key:
        st.lost_at, st.connection_key = None, key
    if st.lost_at is None:
        _back(st, at, ctx)
    if isinstance(p, StatusChange):
        _on_status(st, st.connector(ev.connector_id), p, key, ctx)
    elif isinstance(p, FaultNotice):
        _on_notice(st, st.connector(ev.evse_id or ev.connector_id), p, key, ctx)
    # Sessions are the engine's: their outcomes come here as bills (on_bills).


def _heartbeat(st: StationFaults, at: int) -> None:
    if st.last_heartbeat is not None and at > st.last_heartbeat:
        st.heartbeat_gaps = [*st.heartbeat_gaps, at - st.last_heartbeat][-HEARTBEAT_GAPS_KEPT:]
    st.last_heartbeat = at if st.last_heartbeat is None else max(st.last_heartbeat, at)


def heartbeat_ms(st: StationFaults, rules: FaultRules) -> int | None:
    """The station's own heartbeat interval, once it has shown one: the median of its last gaps (one
    outage does not stretch it), never below the configured interval. None before two heartbeats: a
    station whose interval is unknown is never called silent (its lost connection still counts)."""
    if not st.heartbeat_gaps:
        return None
    gaps = sorted(st.heartbeat_gaps)
    return max(rules.heartbeat_ms, gaps[len(gaps) // 2])


def _silent_at(st: StationFaults, rules: FaultRules) -> int | None:
    interval = heartbeat_ms(st, rules)
    if interval is None or st.last_seen is None:
        return None
    return st.last_seen + rules.heartbeat_misses * interval


def _on_status(st: StationFaults, cf: ConnectorFaults, p: StatusChange, key: Key, ctx: FaultCtx) -> None:
    if key <= cf.status_key:
        return  # re-sent, or a queue delivered late: a newer status already said what the connector is
    at = key[0]
    cf.status, cf.status_key = p.status, key
    if p.status == FAULTED:
        _enter_fault(st, cf, at, ctx, _status_details(p))
    else:
        # An error code with another status is a warning (stored with the status, not an outage);
        # a healthy status also clears 2.0.1 problems a station never reported cleared.
        cf.problems.clear()
        _leave_fault(st, cf, at, ctx)


def _status_details(p: StatusChange) -> dict[str, Any]:
    details: dict[str, Any] = {"error_code": p.error_code or NO_ERROR}
    if p.vendor_error_code:
        details["vendor_error_code"] = p.vendor_error_code
    if p.info:
        details["info"] = p.info
    cx = chargex_code(p.vendor_error_code)
    if cx is not None:
        details["chargex_code"], details["chargex_name"] = cx
    return details


def is_problem(p: FaultNotice) -> bool:
    """A 2.0.1 NotifyEvent that reports a fault: the standard Problem variable set, or a tech code."""
    if p.cleared:
        return False
    if p.variable.lower() == "problem":
        return (p.actual_value or "").strip().lower() in _TRUE
    return p.tech_code is not None


def _on_notice(st: StationFaults, cf: ConnectorFaults, p: FaultNotice, order: Key, ctx: FaultCtx) -> None:
    key, at = f"{p.component}/{p.variable}", order[0]
    if order <= cf.notice_key.get(key, (-1, 0, "")) or at < cf.status_key[0]:
        return  # older than what the connector said since: re-sent, or queued and delivered late
    cf.notice_key[key] = order
    if is_problem(p):
        details: dict[str, Any] = {"component": p.component, "variable": p.variable}
        if p.tech_code:
            details["tech_code"] = p.tech_code
            cx = chargex_code(p.tech_code)
            if cx is not None:
                details["chargex_code"], details["chargex_name"] = cx
        if p.tech_info:
            details["tech_info"] = p.tech_info
        cf.problems[key] = details
        _enter_fault(st, cf, at, ctx, details)
    elif key in cf.problems:
        del cf.problems[key]
        if not cf.problems and cf.status != FAULTED:
            _leave_fault(st, cf, at, ctx)


# --- connector faults, station faults, flapping ------------------------------------------------


def _where(ctx: FaultCtx, connector_id: int) -> str:
    return ctx.station_id if connector_id == 0 else f"{ctx.station_id} connector {connector_id}"


def _code(details: dict[str, Any]) -> str:
    return str(details.get("chargex_code") or details.get("tech_code") or details.get("error_code") or "")


def _enter_fault(
    st: StationFaults, cf: ConnectorFaults, at: int, ctx: FaultCtx, details: dict[str, Any]
) -> None:
    if cf.faulted:
        return
    cf.faulted = True
    if cf.connector_id == 0:
        members = tuple({"station_id": ctx.station_id, "connector_id": c} for c in sorted(st.connectors))
        for c in st.connectors.values():  # folded into the station's fault
            if c.fault is not None:
                ctx.resolve(c.fault, at, f"{_where(ctx, c.connector_id)}: folded into the station fault")
                c.fault = None
        cf.fault = ctx.open(
            "station_fault",
            None,
            at,
            at,
            "critical",
            f"{ctx.station_id}: the whole station is Faulted ({_code(details)}): no connector can charge",
            details,
            members or ({"station_id": ctx.station_id, "connector_id": 0},),
        )
        return
    rules = ctx.rules
    cf.fault_starts = [t for t in cf.fault_starts if t > at - rules.flapping_window_ms] + [at]
    if cf.flapping is not None:
        count = int(cf.flapping.details.get("faults", 0)) + 1
        cf.flapping = replace(
            cf.flapping, details={**cf.flapping.details, "faults": count, "last_fault_at": at}
        )
        if count in (2 * rules.flapping_faults, 4 * rules.flapping_faults, 8 * rules.flapping_faults):
            cf.flapping = ctx.update(
                cf.flapping, at, summary=f"{_where(ctx, cf.connector_id)}: still flapping, {count} faults"
            )
        return
    if len(cf.fault_starts) >= rules.flapping_faults:
        cf.flapping = ctx.open(
            "flapping",
            cf.connector_id,
            cf.fault_starts[0],
            at,
            "warning",
            f"{_where(ctx, cf.connector_id)}: Faulted {len(cf.fault_starts)} times in "
            f"{rules.flapping_window_ms // MINUTE_MS} min ({_code(details)}): inspect it, resets will not do",
            {
                **details,
                "faults": len(cf.fault_starts),
                "last_fault_at": at,
                "window_minutes": rules.flapping_window_ms // MINUTE_MS,
            },
        )
        return
    if st.station.fault is not None:
        return  # covered by the station's fault
    cf.fault = ctx.open(
        "connector_fault",
        cf.connector_id,
        at,
        at,
        "warning",
        f"{_where(ctx, cf.connector_id)} is Faulted ({_code(details)})",
        details,
    )


def _leave_fault(st: StationFaults, cf: ConnectorFaults, at: int, ctx: FaultCtx) -> None:
    if not cf.faulted:
        return
    cf.faulted = False
    if cf.fault is not None:
        minutes = round((at - cf.fault.opened_at) / MINUTE_MS, 1)
        ctx.resolve(
            cf.fault,
            at,
            f"{_where(ctx, cf.connector_id)}: fault cleared after {minutes:g} min",
            fault_minutes=minutes,
        )
        cf.fault = None
    if cf.connector_id == 0:  # connectors still Faulted on their own get their own alerts now
        for c in st.connectors.values():
            if c.faulted and c.fault is None and c.flapping is None:
                c.fault = ctx.open(
                    "connector_fault",
                    c.connector_id,
                    at,
                    at,
                    "warning",
                    f"{_where(ctx, c.connector_id)} is still Faulted after the station fault",
                    {},
                )


# --- sessions that deliver nothing ----------------------------------------------------------------


def on_bills(st: StationFaults, records: Iterable[SessionRecord], ctx: FaultCtx) -> None:
    """The station's session records as the engine released them: bills say whether energy flowed;
    a credit withdraws a bill (a corrected one follows, or the session never was)."""
    for rec in records:
        if rec.connector_id == 0 or rec.kind not in ("bill", "credit"):
            continue
        cf = st.connector(rec.connector_id)
        if rec.kind == "credit":
            cf.outcomes.pop(rec.session_id, None)
        else:
            cf.outcomes[rec.session_id] = (rec.plugged_in_at, rec.energy_wh > 0)
            while len(cf.outcomes) > OUTCOMES_KEPT:
                del cf.outcomes[min(cf.outcomes, key=lambda s: cf.outcomes[s][0])]
        _start_failures(cf, rec.emitted_at, ctx)


def _start_failures(cf: ConnectorFaults, at: int, ctx: FaultCtx) -> None:
    ordered = sorted(cf.outcomes.values())
    streak: list[int] = []
    for plugged_in_at, delivered in ordered:
        streak = [] if delivered else [*streak, plugged_in_at]
    where = _where(ctx, cf.connector_id)
    if cf.start_failures is not None:
        if not streak:
            last_ok = ordered[-1][0] if ordered else at
            ctx.resolve(cf.start_failures, max(at, last_ok), f"{where}: a session delivered energy again")
            cf.start_failures = None
        elif len(streak) > int(cf.start_failures.details.get("failed_sessions", 0)):
            cf.start_failures = ctx.update(
                cf.start_failures,
                at,
                summary=f"{where}: {len(streak)} sessions in a row delivered no energy",
                details={**cf.start_failures.details, "failed_sessions": len(streak)},
            )
        return
    if len(streak) >= ctx.rules.start_failures:
        cf.start_failures = ctx.open(
            "start_failures",
            cf.connector_id,
            streak[0],
            at,
            "warning",
            f"{where}: {len(streak)} sessions in a row delivered no energy: drivers cannot charge here",
            {"failed_sessions": len(streak), "threshold": ctx.rules.start_failures},
        )


# --- time: offline stations, stable flapping connectors ---------------------------------------------


def advance(st: StationFaults, now: int, ctx: FaultCtx) -> None:
    """Timers due at or before event time ``now``."""
    rules = ctx.rules
    if st.offline is None:
        if st.lost_at is not None and st.lost_at + rules.offline_grace_ms <= now:
            st.offline = _offline(st, st.lost_at, st.lost_at + rules.offline_grace_ms, "connection lost", ctx)
        elif st.lost_at is None and (silent_at := _silent_at(st, rules)) is not None and silent_at <= now:
            assert st.last_seen is not None
            st.offline = _offline(st, st.last_seen, silent_at, "silent", ctx)
    for cf in st.connectors.values():
        if cf.flapping is None or cf.faulted:
            continue
        stable_at = _stable_at(cf.flapping, rules)
        if stable_at <= now:
            ctx.resolve(
                cf.flapping,
                stable_at,
                f"{_where(ctx, cf.connector_id)}: stable for {rules.flapping_stable_ms // MINUTE_MS} min",
            )
            cf.flapping, cf.fault_starts = None, []


def _stable_at(flapping: Alert, rules: FaultRules) -> int:
    """When a flapping connector counts as stable again: a quiet period after its last fault."""
    return int(flapping.details.get("last_fault_at", flapping.opened_at)) + rules.flapping_stable_ms


def _offline(st: StationFaults, since: int, at: int, reason: str, ctx: FaultCtx) -> Alert:
    minutes = round((at - since) / MINUTE_MS)
    return ctx.open(
        "station_offline",
        None,
        since,
        at,
        "critical",
        f"{ctx.station_id} offline for {minutes} min ({reason}): no session can start or be billed live",
        {"reason": reason, "last_seen": st.last_seen},
        tuple({"station_id": ctx.station_id, "connector_id": c} for c in sorted(st.connectors))
        or ({"station_id": ctx.station_id, "connector_id": 0},),
    )


def _back(st: StationFaults, at: int, ctx: FaultCtx) -> None:
    if st.offline is None or at < st.offline.updated_at:
        return  # a queued event from before the outage was noticed says nothing about now
    minutes = round((at - st.offline.opened_at) / MINUTE_MS, 1)
    ctx.resolve(
        st.offline, at, f"{ctx.station_id} back online after {minutes:g} min", offline_minutes=minutes
    )
    st.offline = None


def next_due(st: StationFaults, rules: FaultRules) -> int | None:
    """When the station's next fault timer is due (None: nothing waits), without running it. The
    worker sends a clock marker to a station whose partition's time has passed this."""
    due: list[int] = []
    if st.offline is None:
        if st.lost_at is not None:
            due.append(st.lost_at + rules.offline_grace_ms)
        elif (silent_at := _silent_at(st, rules)) is not None:
            due.append(silent_at)
    for cf in st.connectors.values():
        if cf.flapping is not None and not cf.faulted:
            due.append(
                int(cf.flapping.details.get("last_fault_at", cf.flapping.opened_at))
                + rules.flapping_stable_ms
            )
    return min(due) if due else None
