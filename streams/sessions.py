"""The per-connector session state machine: ordered canonical events in, session records and idle
alerts out. Pure.

A session runs from plug-in to unplug. OCPP 1.6 drives it with connector statuses, Start/Stop and
meter values; 2.0.1 with TransactionEvent (chargingState, seqNo) and Occupied/Available. Events
reach it in event-time order (see :mod:`streams.station`); the pitfalls of DOMAIN.md are handled
here and in :mod:`streams.energy`, each leaving a quality flag on the bill.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from schemas.events import ENERGY_REGISTER, MeterValues, SampledValue, TransactionEvent
from streams.billing import BILL_DIFF_KEYS, StationInfo, credit_of, session_record
from streams.clock import sample_time
from streams.energy import DEFAULT_MAX_POWER_W, to_mwh
from streams.idle import advance_alert, alert_record
from streams.policy import Policy
from streams.session_model import (
    CHARGING,
    CLOSED,
    IDLE,
    PLUGGED,
    SUSPENDED_EV,
    SUSPENDED_EVSE,
    Issued,
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
KEEP_CLOSED: Final = 4  # closed sessions kept per connector for late corrections


@dataclass(slots=True)
class ConnectorState:
    connector_id: int
    session: Session | None = None
    last_status: str | None = None
    closed: list[Session] = field(default_factory=list)


@dataclass(slots=True)
class Ctx:
    """What a handler needs besides the connector: the station, the policy, where output goes."""

    station_id: str
    info: StationInfo
    policy: Policy
    watermark: int = 0
    sessions_out: list[dict[str, Any]] = field(default_factory=list)
    alerts_out: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, sess: Session, at: int, kind: str = "update") -> dict[str, Any]:
        rec = session_record(sess, at, self.info, self.policy, kind=kind)
        self.sessions_out.append(rec)
        return rec

    def alerts(self, sess: Session, transitions: Iterable[tuple[str, int]], alert: Any = None) -> None:
        alert = alert or sess.alert
        for status, at in transitions:
            self.alerts_out.append(
                alert_record(
                    alert,
                    status,
                    at,
                    station_id=self.station_id,
                    connector_id=sess.connector_id,
                    site_id=self.info.site_id,
                    session_id=sess.session_id,
                )
            )

    @property
    def max_power_w(self) -> float:
        kw = self.info.max_power_kw
        return kw * 1000 * 1.1 if kw else DEFAULT_MAX_POWER_W

    @property
    def site_idle_min(self) -> float | None:
        return self.policy.site_idle_minutes.get(self.info.site_id or "")


# --- lifecycle -------------------------------------------------------------------------------


def open_session(ctx: Ctx, conn: ConnectorState, at: int) -> Session:
    sess = Session(
        session_id=session_id_for(ctx.station_id, conn.connector_id, at),
        station_id=ctx.station_id,
        connector_id=conn.connector_id,
        plugged_in_at=at,
        last_event_at=at,
        rated_power_kw=ctx.info.max_power_kw,
        tariff_id=ctx.policy.tariff_id_for(ctx.station_id, ctx.info.site_id),  # in force at start
    )
    conn.session = sess
    ctx.emit(sess, at)
    return sess


def change_phase(ctx: Ctx, sess: Session, phase: str, at: int) -> None:
    if phase == sess.phase:
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
        ctx.alerts(sess, advance_alert(sess.alert, end))
    if sess.phase == IDLE and sess.idle_since is not None:
        sess.idle_ms += max(0, end - sess.idle_since)
        sess.idle_since = None
        if sess.alert is not None and sess.alert.status in ("opened", "escalated"):
            sess.alert.status = "resolved"
            ctx.alerts(sess, [("resolved", end)])
    sess.alert = None
    if sess.charging_started_at is not None and sess.charging_ended_at is None:
        last_rise = sess.meter.last_increase_at
        sess.charging_ended_at = min(last_rise, end) if last_rise is not None else end
    p = ctx.policy
    if sess.meter.energy_wh == 0:
        sess.flags.update(("not_billable", "zero_energy"))
    elif end - sess.plugged_in_at < p.min_billable_ms or sess.meter.energy_wh < p.min_billable_wh:
        sess.flags.update(("not_billable", "short_session"))
    sess.phase = CLOSED
    bill = ctx.emit(sess, end, kind="bill")
    sess.issued = Issued(sess.version, bill)
    conn.closed.append(sess)
    del conn.closed[:-KEEP_CLOSED]
    conn.session = None


def fire_timers(ctx: Ctx, conn: ConnectorState, now: int) -> None:
    """Everything due at or before event time ``now``: idle escalation, a stop that never came."""
    for closed in conn.closed:
        if closed.correction_due is not None and closed.correction_due <= now:
            settle_correction(ctx, closed)
    sess = conn.session
    if sess is None:
        return
    p = ctx.policy
    if sess.ev_left_at is not None and sess.ev_left_at + p.unplug_grace_ms <= now:
        close_session(ctx, conn, sess.ev_left_at, "unplug_from_stop")
        return
    if sess.last_event_at + p.missing_stop_after_ms <= now:
        flags = ("stop_estimated",) if sess.transaction_id and not sess.tx_ended else ("unplug_estimated",)
        close_session(ctx, conn, sess.last_event_at, *flags)
        return
    if sess.alert is not None:
        ctx.alerts(sess, advance_alert(sess.alert, now))


# --- events ----------------------------------------------------------------------------------


def on_status(ctx: Ctx, conn: ConnectorState, status: str, at: int) -> None:
    conn.last_status = status
    sess = conn.session
    if status == "Available":
        if sess is not None:
            if sess.transaction_id and not sess.tx_ended:
                sess.flags.add("stop_not_seen")  # status skipped past the stop; a late stop corrects
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


def on_transaction(ctx: Ctx, conn: ConnectorState, p: TransactionEvent, at: int, station_time: int) -> None:
    sess = conn.session
    if p.event_type == "Started":
        if sess is None or sess.transaction_id != p.transaction_id:
            closed = find_closed(conn, p.transaction_id, at, ctx.policy.allowed_lateness_ms)
            if closed is not None:  # a re-sent start of a session already billed: nothing new
                closed.flags.add("duplicate_start")
                return
        if sess is not None and sess.transaction_id not in (None, p.transaction_id):
            if not sess.tx_ended:  # the previous stop was lost: the new start is our evidence
                close_session(ctx, conn, sess.last_event_at, "stop_estimated")
            else:
                unplug = sess.ev_left_at if sess.ev_left_at is not None else at
                close_session(ctx, conn, unplug, "unplug_estimated")
            sess = None
        if sess is None:
            sess = open_session(ctx, conn, at)
        elif sess.transaction_id == p.transaction_id:
            sess.flags.add("duplicate_start")
        sess.transaction_id = p.transaction_id
    elif sess is None or sess.transaction_id != p.transaction_id:
        closed = find_closed(conn, p.transaction_id, at, ctx.policy.allowed_lateness_ms)
        if closed is not None:
            correct(ctx, closed, lambda s: _absorb_transaction(ctx, s, p, at, station_time, late=True), at)
            return
        if _ended_before(conn, p.transaction_id):
            return  # after its end, with no new start: never reopens (DOMAIN.md pitfall 4)
        if sess is not None and sess.transaction_id is None:
            sess.flags.add("start_not_seen")  # 2.0.1 Started lost, or 1.6 Start never answered
        else:
            if sess is not None and not sess.tx_ended:
                close_session(ctx, conn, sess.last_event_at, "stop_estimated")
            sess = open_session(ctx, conn, at)
            sess.flags.add("start_not_seen")
        sess.transaction_id = p.transaction_id
    _absorb_transaction(ctx, sess, p, at, station_time, late=False)


def _absorb_transaction(
    ctx: Ctx, sess: Session, p: TransactionEvent, at: int, station_time: int, *, late: bool
) -> None:
    sess.touch(at)
    if p.id_token_hash and not sess.id_token_hash:
        sess.id_token_hash = p.id_token_hash
    if p.offline:
        sess.flags.add("offline_batch")
    if p.seq_no is not None:
        if sess.last_seq_no is not None and p.seq_no > sess.last_seq_no + 1:
            sess.flags.add("seq_gap")
        sess.last_seq_no = max(p.seq_no, sess.last_seq_no if sess.last_seq_no is not None else p.seq_no)
    if sess.tx_ended and p.event_type != "Ended" and at > (sess.meter.last_at or at):
        sess.flags.add("updated_after_ended")  # never reopens; nothing after the end counts
        return
    if p.event_type == "Started" and p.meter_wh is not None:
        sess.meter.start(at, to_mwh(p.meter_wh, "Wh"))
    absorb_samples(ctx, sess, p.samples, at, station_time, late=late)
    if p.event_type == "Ended":
        if p.meter_wh is not None:
            sess.add_energy(sess.meter.stop(at, to_mwh(p.meter_wh, "Wh"), ctx.max_power_w))
        sess.tx_ended = True
        sess.flags.difference_update(("stop_not_seen", "stop_estimated"))  # the real stop is here
        sess.stop_reason = p.stopped_reason or "Local"  # 1.6: an absent reason means Local
        if p.stopped_reason in EV_LEFT_REASONS or p.trigger_reason in EV_LEFT_TRIGGERS:
            sess.ev_left_at = at
        if not late and sess.phase in (CHARGING, SUSPENDED_EVSE, SUSPENDED_EV, PLUGGED):
            change_phase(ctx, sess, IDLE if sess.energy_flowed else PLUGGED, at)
    elif p.charging_state is not None and not late:
        change_phase(ctx, sess, _phase_of(p.charging_state, sess), at)


def on_meter_values(ctx: Ctx, conn: ConnectorState, p: MeterValues, at: int, station_time: int) -> None:
    sess = conn.session
    if p.transaction_id is not None and (sess is None or sess.transaction_id != p.transaction_id):
        # a late value of a billed session, or one after its transaction ended
        closed = find_closed(conn, p.transaction_id, at, ctx.policy.allowed_lateness_ms)
        if closed is not None:
            correct(ctx, closed, lambda s: absorb_samples(ctx, s, p.samples, at, station_time, late=True), at)
            return
        if _ended_before(conn, p.transaction_id):
            return
    if sess is None:
        return  # meter values of an idle connector (a clock-aligned register reading): no session
    sess.touch(at)
    absorb_samples(ctx, sess, p.samples, at, station_time, late=False)


def absorb_samples(
    ctx: Ctx, sess: Session, samples: tuple[SampledValue, ...], at: int, station_time: int, *, late: bool
) -> None:
    if not samples:
        return
    registers: dict[int, list[SampledValue]] = {}
    for s in samples:
        if s.measurand == ENERGY_REGISTER and s.unit in ("Wh", "kWh"):
            registers.setdefault(sample_time(s.sampled_at, at, station_time), []).append(s)
        elif s.measurand == POWER_MEASURAND and s.phase is None and s.unit in ("W", "kW"):
            sess.max_power_w = max(sess.max_power_w, s.value * (1000 if s.unit == "kW" else 1))
    for t in sorted(registers):
        mwh = _total_register(registers[t])
        if mwh is None:
            continue
        before_at = sess.meter.last_at
        rise = sess.meter.sample(t, mwh, ctx.max_power_w)
        sess.add_energy(rise)
        if rise > 0 and before_at is not None and t - before_at >= 30_000:
            sess.max_power_w = max(sess.max_power_w, rise * 3_600 / (t - before_at))
        if late:
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


def _total_register(values: list[SampledValue]) -> int | None:
    """The total register of one sampling instant: the total if sent, never total + phases."""
    totals = [v for v in values if v.phase is None]
    if totals:
        return to_mwh(totals[-1].value, totals[-1].unit)
    by_phase = {v.phase: v for v in values}
    for names in THREE_PHASES:
        if all(n in by_phase for n in names):
            return sum(to_mwh(by_phase[n].value, by_phase[n].unit) for n in names)
    return None


# --- corrections -----------------------------------------------------------------------------


def find_closed(conn: ConnectorState, transaction_id: str | None, at: int, slack_ms: int) -> Session | None:
    """The billed session a late event at ``at`` belongs to. The time must fit: transaction ids can
    come back (a station's counter after a reset, a simulator re-run), and a value from another day
    must not rewrite an old bill. A session closed on an estimate takes anything up to the next plug-in."""
    if transaction_id is None:
        return None
    for i in range(len(conn.closed) - 1, -1, -1):
        s = conn.closed[i]
        if s.transaction_id != transaction_id or at < s.plugged_in_at:
            continue
        end = s.unplugged_at if s.unplugged_at is not None else s.last_event_at
        if at <= end + slack_ms:
            return s
        if s.flags & {"stop_estimated", "unplug_estimated", "stop_not_seen"}:
            nxt = conn.closed[i + 1] if i + 1 < len(conn.closed) else conn.session
            if nxt is None or at < nxt.plugged_in_at:
                return s
    return None


def _ended_before(conn: ConnectorState, transaction_id: str) -> bool:
    """A closed session of this transaction saw its end: later values of it are noise."""
    for s in conn.closed:
        if s.transaction_id == transaction_id and s.tx_ended:
            s.flags.add("updated_after_ended")
            return True
    return False


def correct(ctx: Ctx, sess: Session, change: Any, at: int) -> None:
    """Apply a late event to a billed session. The new bill is settled once the station's events up
    to the current watermark are in, so a burst of late events yields one correction, not one each."""
    change(sess)
    if sess.issued is not None and sess.correction_due is None:
        sess.correction_due = max(ctx.watermark, at)


def settle_correction(ctx: Ctx, sess: Session) -> None:
    """If the bill changed: a credit of the issued one, then the new bill (never an overwrite)."""
    at, sess.correction_due = sess.correction_due or 0, None
    issued = sess.issued
    if issued is None:
        return
    candidate = session_record(sess, at, ctx.info, ctx.policy, kind="bill")
    sess.version -= 1  # a candidate only
    if all(candidate[k] == issued.record[k] for k in BILL_DIFF_KEYS):
        return
    ctx.sessions_out.append(credit_of(issued.record, sess.version + 1, at))
    sess.version += 1
    sess.flags.add("corrected")
    bill = ctx.emit(sess, at, kind="bill")
    sess.issued = Issued(sess.version, bill)
