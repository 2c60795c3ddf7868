"""The per-connector session state machine: one event at a time, in event-time order. Pure.

A session runs from plug-in to unplug. OCPP 1.6 drives it with connector statuses, Start/Stop and
meter values; 2.0.1 with TransactionEvent (chargingState, seqNo) and Occupied/Available. Events
reach it strictly in event-time order — :mod:`streams.connector` re-derives the history when one
arrives out of order — so no handler here knows about lateness. The pitfalls of DOMAIN.md are
handled here and in :mod:`streams.energy`, each leaving a quality flag on the bill.

The machine derives records (lifecycle updates, the bill at close, idle alert transitions) and hands
them to a :class:`~streams.ledger.Recorder`; versions and corrections are the ledger's business.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from schemas.events import (
    ENERGY_REGISTER,
    ChargerEvent,
    ConnectionChange,
    MeterValues,
    SampledValue,
    StatusChange,
    TransactionEvent,
)
from streams.billing import StationInfo, session_record
from streams.clock import sample_time
from streams.compact import fields_reduce
from streams.energy import DEFAULT_MAX_POWER_W, WH_RESOLUTION_MWH, register_mwh, resolution_mwh, to_mwh
from streams.idle import IdleAlert, advance_alert, alert_record
from streams.ledger import Recorder
from streams.policy import Policy
from streams.session_model import (
    CHARGING,
    CLOSED,
    IDLE,
    PLUGGED,
    SUSPENDED_EV,
    SUSPENDED_EVSE,
    Session,
    set_phase,
)
from streams.session_records import session_id_for

POWER_MEASURAND: Final = "Power.Active.Import"
PLUG_STATUSES: Final = frozenset({"Preparing", "Occupied"})
PHASE_STATUSES: Final = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
EV_LEFT_REASONS: Final = frozenset({"EVDisconnected"})
EV_LEFT_TRIGGERS: Final = frozenset({"EVDeparted", "EVCommunicationLost"})
THREE_PHASES: Final = (("L1", "L2", "L3"), ("L1-N", "L2-N", "L3-N"))
ESTIMATED_END: Final = frozenset({"stop_estimated", "unplug_estimated", "stop_not_seen"})
# A transaction's own end and begin readings outrank periodic samples taken at the same instant.
_CONTEXT_RANK: Final = {"Transaction.End": 2, "Transaction.Begin": 1}
ENDED_KEPT: Final = 8  # recently ended transaction ids per connector (re-sent messages of them)


@dataclass(slots=True)
class ConnectorState:
    __reduce__ = fields_reduce

    connector_id: int
    session: Session | None = None
    last_status: str | None = None
    last_closed: Session | None = None  # the stop of a session closed without it may still come
    ended: dict[str, tuple[int, int]] = field(default_factory=dict)  # tx -> (plugged in, unplugged)
    opened: int = 0  # sessions opened so far: the next session's ordinal


@dataclass(slots=True)
class Ctx:
    """What a handler needs besides the connector: the station, the policy, where records go."""

    station_id: str
    info: StationInfo
    policy: Policy
    recorder: Recorder

    def emit(self, sess: Session, at: int, kind: str = "update") -> None:
        self.recorder.session(session_record(sess, at, self.info, self.policy, kind=kind), sess.seq)

    def alerts(self, sess: Session, transitions: Iterable[tuple[str, int]], alert: IdleAlert | None) -> None:
        if alert is None:
            return
        for status, at in transitions:
            rec = alert_record(
                alert,
                status,
                at,
                station_id=self.station_id,
                connector_id=sess.connector_id,
                site_id=self.info.site_id,
                session_id=sess.session_id,
            )
            self.recorder.alert(rec, sess.seq)

    @property
    def max_power_w(self) -> float:
        kw = self.info.max_power_kw
        return kw * 1000 * 1.1 if kw else DEFAULT_MAX_POWER_W

    @property
    def site_idle_min(self) -> float | None:
        return self.policy.site_idle_minutes.get(self.info.site_id or "")


def apply(ctx: Ctx, conn: ConnectorState, ev: ChargerEvent, at: int, clock_flag: str | None) -> None:
    """One connector event at its event time ``at`` (timers due before it have fired)."""
    p = ev.payload
    if isinstance(p, ConnectionChange):
        if not p.connected and conn.session is not None:
            conn.session.flags.add("station_offline")
        return
    if isinstance(p, StatusChange):
        on_status(ctx, conn, p.status, at)
    elif isinstance(p, TransactionEvent):
        on_transaction(ctx, conn, p, at, ev.station_time)
    elif isinstance(p, MeterValues):
        on_meter_values(ctx, conn, p, at, ev.station_time)
    if clock_flag is not None and conn.session is not None:
        conn.session.flags.add(clock_flag)


# --- lifecycle -------------------------------------------------------------------------------


def open_session(ctx: Ctx, conn: ConnectorState, at: int) -> Session:
    sess = Session(
        session_id=session_id_for(ctx.station_id, conn.connector_id, at),
        station_id=ctx.station_id,
        connector_id=conn.connector_id,
        plugged_in_at=at,
        seq=conn.opened,
        last_event_at=at,
        rated_power_kw=ctx.info.max_power_kw,
        tariff_id=ctx.policy.tariff_id_for(ctx.station_id, ctx.info.site_id),  # in force at start
    )
    conn.opened += 1
    conn.session = sess
    ctx.emit(sess, at)
    return sess


def change_phase(ctx: Ctx, sess: Session, phase: str, at: int) -> None:
    if phase == sess.phase or sess.phase == CLOSED:
        return
    alert = sess.alert
    transitions = set_phase(sess, phase, at, ctx.site_idle_min)
    ctx.alerts(sess, transitions, alert)
    ctx.emit(sess, at)


def close_session(ctx: Ctx, conn: ConnectorState, unplugged_at: int, *flags: str) -> None:
    sess = conn.session
    if sess is None:
        return
    end = max(unplugged_at, sess.plugged_in_at)
    sess.unplugged_at = end
    sess.flags.update(flags)
    if sess.alert is not None:
        ctx.alerts(sess, advance_alert(sess.alert, end), sess.alert)
    if sess.phase == IDLE and sess.idle_since is not None:
        sess.idle_ms += max(0, end - sess.idle_since)
        sess.idle_since = None
        if sess.alert is not None and sess.alert.status in ("opened", "escalated"):
            sess.alert.status = "resolved"
            ctx.alerts(sess, [("resolved", end)], sess.alert)
    sess.alert = None
    if sess.charging_started_at is not None and sess.charging_ended_at is None:
        last_rise = sess.meter.last_increase_at
        sess.charging_ended_at = min(last_rise, end) if last_rise is not None else end
    sess.phase = CLOSED
    ctx.emit(sess, end, kind="bill")
    conn.last_closed = sess
    if sess.transaction_id is not None and sess.tx_ended:
        conn.ended[sess.transaction_id] = (sess.plugged_in_at, end)
        while len(conn.ended) > ENDED_KEPT:
            del conn.ended[next(iter(conn.ended))]
    conn.session = None


def next_timer(conn: ConnectorState, policy: Policy) -> int | None:
    """When the connector's next timer is due (None: nothing is waiting), without running it."""
    sess = conn.session
    if sess is None:
        return None
    due = sess.last_event_at + policy.missing_stop_after_ms
    if sess.ev_left_at is not None:
        due = min(due, sess.ev_left_at + policy.unplug_grace_ms)
    if sess.alert is not None and sess.alert.next_due is not None:
        due = min(due, sess.alert.next_due)
    return due


def fire_timers(ctx: Ctx, conn: ConnectorState, now: int) -> int | None:
    """Everything due at or before event time ``now``: idle escalation, a stop that never came.
    Returns the due time of the latest timer that fired (None when nothing was due)."""
    sess = conn.session
    if sess is None:
        return None
    p = ctx.policy
    if sess.ev_left_at is not None and sess.ev_left_at + p.unplug_grace_ms <= now:
        close_session(ctx, conn, sess.ev_left_at, "unplug_from_stop")
        return sess.ev_left_at + p.unplug_grace_ms
    if sess.last_event_at + p.missing_stop_after_ms <= now:
        flags = ("stop_estimated",) if sess.transaction_id and not sess.tx_ended else ("unplug_estimated",)
        close_session(ctx, conn, sess.last_event_at, *flags)
        return sess.last_event_at + p.missing_stop_after_ms
    if sess.alert is not None:
        transitions = advance_alert(sess.alert, now)
        ctx.alerts(sess, transitions, sess.alert)
        if transitions:
            return transitions[-1][1]
    return None


# --- events ----------------------------------------------------------------------------------


def on_status(ctx: Ctx, conn: ConnectorState, status: str, at: int) -> None:
    conn.last_status = status
    sess = conn.session
    if status == "Available":
        if sess is not None:
            if sess.transaction_id and not sess.tx_ended:
                sess.flags.add("stop_not_seen")  # status skipped past the stop; a later stop corrects
            close_session(ctx, conn, at)  # occupancy ends when the connector is free
        return
    if status in PLUG_STATUSES:
        if sess is not None and status == "Preparing" and (sess.tx_ended or sess.energy_flowed):
            # A new car while the last one's unplug was never reported (DOMAIN.md pitfall 2).
            unplug = sess.ev_left_at if sess.ev_left_at is not None else sess.last_event_at
            close_session(ctx, conn, unplug, "unplug_estimated")
            sess = None
        if sess is None:
            open_session(ctx, conn, at)
        else:
            sess.touch(at)
        return
    if status not in PHASE_STATUSES:
        if status == "Faulted" and sess is not None:
            sess.flags.add("fault_during_session")
        return
    if sess is None:
        if status == "Finishing":
            return  # the session already closed on the stop; the connector is being freed
        sess = open_session(ctx, conn, at)
        sess.flags.add("plug_in_not_seen")
    sess.touch(at)
    change_phase(ctx, sess, _phase_of(status, sess), at)


def _phase_of(state: str, sess: Session) -> str:
    """Phase for a 1.6 status or a 2.0.1 chargingState."""
    if state == "Charging":
        return CHARGING
    if state == "SuspendedEVSE":
        return SUSPENDED_EVSE
    if state in ("SuspendedEV", "Finishing", "EVConnected", "Idle"):
        if sess.energy_flowed:
            return IDLE
        return SUSPENDED_EV if state == "SuspendedEV" else PLUGGED
    return sess.phase


def _recently_ended(conn: ConnectorState, tx: str, at: int, slack_ms: int) -> bool:
    """A message of a transaction that already ended on this connector (a re-send)."""
    span = conn.ended.get(tx)
    return span is not None and span[0] <= at <= span[1] + slack_ms


def _amendable(conn: ConnectorState, tx: str, at: int, slack_ms: int) -> Session | None:
    """The closed session a later message of its transaction still belongs to: its stop may come
    after the connector was seen free, and a session closed on an estimate takes anything up to the
    next plug-in."""
    last = conn.last_closed
    if last is None or last.transaction_id != tx or last.tx_ended or at < last.plugged_in_at:
        return None
    end = last.unplugged_at if last.unplugged_at is not None else last.last_event_at
    if at <= end + slack_ms or (conn.session is None and last.flags & ESTIMATED_END):
        return last
    return None


def on_transaction(ctx: Ctx, conn: ConnectorState, p: TransactionEvent, at: int, station_time: int) -> None:
    sess = conn.session
    slack = ctx.policy.allowed_lateness_ms
    tx = p.transaction_id
    if p.event_type == "Started":
        if (sess is None or sess.transaction_id != tx) and _recently_ended(conn, tx, at, slack):
            return  # a re-sent start of a transaction already over: nothing new
        if sess is not None and sess.transaction_id not in (None, tx):
            if not sess.tx_ended:  # the previous stop was lost: the new start is our evidence
                close_session(ctx, conn, sess.last_event_at, "stop_estimated")
            else:
                unplug = sess.ev_left_at if sess.ev_left_at is not None else at
                close_session(ctx, conn, unplug, "unplug_estimated")
            sess = None
        if sess is None:
            sess = open_session(ctx, conn, at)
        elif sess.transaction_id == tx:
            sess.flags.add("duplicate_start")
        sess.transaction_id = tx
    elif sess is None or sess.transaction_id != tx:
        closed = _amendable(conn, tx, at, slack)
        if closed is not None:  # the real stop (or a value) of a session already billed
            absorb_transaction(ctx, closed, p, at, station_time)
            if closed.tx_ended:
                conn.ended[tx] = (closed.plugged_in_at, closed.unplugged_at or at)
            ctx.emit(closed, closed.unplugged_at or at, kind="bill")
            return
        if tx in conn.ended:
            return  # after its end, with no new start: never reopens (DOMAIN.md pitfall 4)
        if sess is not None and sess.transaction_id is None:
            sess.flags.add("start_not_seen")  # 2.0.1 Started lost, or 1.6 Start never answered
        else:
            if sess is not None and not sess.tx_ended:
                close_session(ctx, conn, sess.last_event_at, "stop_estimated")
            sess = open_session(ctx, conn, at)
            sess.flags.add("start_not_seen")
        sess.transaction_id = tx
    absorb_transaction(ctx, sess, p, at, station_time)


def absorb_transaction(ctx: Ctx, sess: Session, p: TransactionEvent, at: int, station_time: int) -> None:
    sess.touch(at)
    if p.id_token_hash and not sess.id_token_hash:
        sess.id_token_hash = p.id_token_hash
    if p.offline:
        sess.flags.add("offline_batch")
    if p.seq_no is not None:
        if sess.last_seq_no is not None and p.seq_no > sess.last_seq_no + 1:
            sess.flags.add("seq_gap")
        sess.last_seq_no = max(p.seq_no, sess.last_seq_no if sess.last_seq_no is not None else p.seq_no)
    if sess.tx_ended and p.event_type != "Ended":
        sess.flags.add("updated_after_ended")  # never reopens; nothing after the end counts
        return
    if p.event_type == "Started" and p.meter_wh is not None:
        sess.add_energy(sess.meter.start(at, to_mwh(p.meter_wh, "Wh")))
    # The state a message reports holds as of its time: charging that starts now owns the energy
    # its samples show; charging that stops now delivered that energy first.
    starts_delivery = p.charging_state in ("Charging", "SuspendedEVSE")
    if starts_delivery and p.charging_state is not None:
        change_phase(ctx, sess, _phase_of(p.charging_state, sess), at)
    absorb_samples(ctx, sess, p.samples, at, station_time)
    if p.event_type == "Ended":
        if p.meter_wh is not None:
            sess.add_energy(sess.meter.stop(at, to_mwh(p.meter_wh, "Wh"), ctx.max_power_w))
        sess.tx_ended = True
        sess.flags.difference_update(("stop_not_seen", "stop_estimated"))  # the real stop is here
        sess.stop_reason = p.stopped_reason or "Local"  # 1.6: an absent reason means Local
        if p.stopped_reason in EV_LEFT_REASONS or p.trigger_reason in EV_LEFT_TRIGGERS:
            sess.ev_left_at = at
        if sess.phase in (CHARGING, SUSPENDED_EVSE, SUSPENDED_EV, PLUGGED):
            change_phase(ctx, sess, IDLE if sess.energy_flowed else PLUGGED, at)
    elif p.charging_state is not None and not starts_delivery:
        change_phase(ctx, sess, _phase_of(p.charging_state, sess), at)


def on_meter_values(ctx: Ctx, conn: ConnectorState, p: MeterValues, at: int, station_time: int) -> None:
    sess = conn.session
    if p.transaction_id is not None and (sess is None or sess.transaction_id != p.transaction_id):
        closed = _amendable(conn, p.transaction_id, at, ctx.policy.allowed_lateness_ms)
        if closed is not None:  # a value of a billed session that closed without its stop
            absorb_samples(ctx, closed, p.samples, at, station_time)
            ctx.emit(closed, closed.unplugged_at or at, kind="bill")
            return
        if p.transaction_id in conn.ended:
            return  # after its transaction ended
        if sess is not None and sess.transaction_id is not None:
            return  # another transaction's value (the next one's begin, ordered before its start)
    if sess is None:
        return  # meter values of an idle connector (a clock-aligned register reading): no session
    sess.touch(at)
    absorb_samples(ctx, sess, p.samples, at, station_time)


def absorb_samples(
    ctx: Ctx, sess: Session, samples: tuple[SampledValue, ...], at: int, station_time: int
) -> None:
    if not samples:
        return
    registers: dict[int, list[SampledValue]] = {}
    for s in samples:
        if s.measurand == ENERGY_REGISTER and s.unit in ("Wh", "kWh"):
            if s.value != s.value:  # NaN: a value the gateway could not read (a signed blob)
                sess.flags.add("meter_value_unreadable")
                continue
            registers.setdefault(sample_time(s.sampled_at, at, station_time), []).append(s)
        elif s.measurand == POWER_MEASURAND and s.phase is None and s.unit in ("W", "kW"):
            watts = s.value * (1000 if s.unit == "kW" else 1)
            if watts == watts:  # NaN never raises the peak
                sess.max_power_w = max(sess.max_power_w, watts)
    closed = sess.phase == CLOSED
    for t in sorted(registers):
        reading = _total_register(registers[t])
        if reading is None:
            continue
        mwh, res, final = reading
        before_at = sess.meter.last_at
        rise = sess.meter.sample(t, mwh, res, ctx.max_power_w, final=final)
        sess.add_energy(rise)
        if rise > 0 and before_at is not None and t - before_at >= 30_000:
            sess.max_power_w = max(sess.max_power_w, rise * 3_600 / (t - before_at))
        if closed:
            continue
        if rise > 0 and sess.phase in (PLUGGED, SUSPENDED_EV) and not sess.tx_ended:
            sess.flags.add("charging_inferred")  # energy flows though no Charging status said so
            change_phase(ctx, sess, CHARGING, before_at if before_at is not None else t)
        elif (
            sess.phase == CHARGING
            and sess.meter.last_increase_at is not None
            and t - sess.meter.last_increase_at >= ctx.policy.no_energy_idle_after_ms
        ):
            sess.flags.add("idle_from_meter")  # says Charging, but the register stopped
            change_phase(ctx, sess, IDLE, sess.meter.last_increase_at)


def used_by_sessions(s: SampledValue) -> bool:
    """The samples a session's energy and peak power come from."""
    return s.measurand in (ENERGY_REGISTER, POWER_MEASURAND)


def _total_register(values: list[SampledValue]) -> tuple[int, int, bool] | None:
    """(milli-Wh, resolution, is the transaction's end reading) of the total register at one
    sampling instant: the total if sent, never total + phases; a transaction's own Begin/End reading
    before a periodic one."""
    totals = [(v, m) for v in values if v.phase is None and (m := register_mwh(v)) is not None]
    if totals:
        v, m = max(totals, key=lambda vm: (_CONTEXT_RANK.get(vm[0].context, 0), -vm[1]))
        return m, resolution_mwh(v), v.context == "Transaction.End"
    by_phase = {v.phase: v for v in values}
    for names in THREE_PHASES:
        if all(n in by_phase for n in names):
            parts = [register_mwh(by_phase[n]) for n in names]
            if any(x is None for x in parts):
                return None
            total = sum(x for x in parts if x is not None)
            return total, max(resolution_mwh(by_phase[n]) for n in names), False
    return None


__all__ = ["WH_RESOLUTION_MWH", "ConnectorState", "Ctx", "apply", "fire_timers", "next_timer"]
