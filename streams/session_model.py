"""A charging session's state: phases, timeline, meter and idle. Pure.

The timeline is a list of periods (start, charging?, energy) — the OCPI charging periods the
tariff engine prices. `set_phase` is the one place phases change, so the timeline, the idle
accounting and the charging times cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from streams.compact import fields_reduce
from streams.energy import Meter
from streams.idle import IdleAlert, escalation_interval_min, idle_alert_id

PLUGGED: Final = "plugged"
CHARGING: Final = "charging"
SUSPENDED_EV: Final = "suspended_ev"
SUSPENDED_EVSE: Final = "suspended_evse"
IDLE: Final = "idle"
CLOSED: Final = "closed"
# Phases in which energy is (or may be, throttled by the station) delivered: TIME, not PARKING_TIME.
DELIVERING: Final = frozenset({CHARGING, SUSPENDED_EVSE})


@dataclass(slots=True)
class Period:
    __reduce__ = fields_reduce

    start: int
    charging: bool
    energy_mwh: int = 0


@dataclass(slots=True)
class Session:
    __reduce__ = fields_reduce

    session_id: str
    station_id: str
    connector_id: int
    plugged_in_at: int
    seq: int = 0  # the connector's session ordinal: which sessions a compacted history holds
    phase: str = PLUGGED
    transaction_id: str | None = None
    tx_ended: bool = False
    stop_reason: str | None = None
    ev_left_at: int | None = None  # a stop saying the EV was disconnected, awaiting Available
    id_token_hash: str | None = None
    tariff_id: str | None = None
    charging_started_at: int | None = None
    charging_ended_at: int | None = None
    unplugged_at: int | None = None
    last_event_at: int = 0
    max_power_w: float = 0.0
    rated_power_kw: float | None = None
    idle_since: int | None = None
    idle_ms: int = 0
    alert: IdleAlert | None = None
    last_seq_no: int | None = None
    meter: Meter = field(default_factory=Meter)
    periods: list[Period] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.periods:
            self.periods.append(Period(self.plugged_in_at, False))

    @property
    def energy_flowed(self) -> bool:
        return self.meter.energy_mwh > 0

    @property
    def quality_flags(self) -> list[str]:
        return sorted(self.flags | self.meter.quality_flags)

    def touch(self, at: int) -> None:
        self.last_event_at = max(self.last_event_at, at)

    def add_energy(self, mwh: int) -> None:
        """Energy counted at a reading: it flowed while charging, even when the status that ended
        charging came first (same timestamp, or a final sample sent after SuspendedEV). A negative
        change (a reading that rounds the previous one down) comes off the periods newest first."""
        if mwh >= 0:
            target = next((p for p in reversed(self.periods) if p.charging), self.periods[-1])
            target.energy_mwh += mwh
            return
        for p in reversed(self.periods):
            take = min(p.energy_mwh, -mwh)
            p.energy_mwh -= take
            mwh += take
            if mwh == 0:
                return

    def charging_ms(self, end: int) -> int:
        total = 0
        for p, nxt in zip(self.periods, [*self.periods[1:], None], strict=True):
            if p.charging:
                total += max(0, (nxt.start if nxt else end) - p.start)
        return total


def set_phase(sess: Session, new: str, at: int, site_idle_min: float | None = None) -> list[tuple[str, int]]:
    """Move the session to phase ``new`` at ``at``; returns idle-alert transitions it causes."""
    old = sess.phase
    if new == old or old == CLOSED:
        return []
    out: list[tuple[str, int]] = []
    at = max(at, sess.periods[-1].start)  # the timeline never runs backwards
    if old == IDLE and sess.idle_since is not None:
        sess.idle_ms += max(0, at - sess.idle_since)
        sess.idle_since = None
        if sess.alert is not None and sess.alert.status in ("opened", "escalated"):
            sess.alert.status = "resolved"
            out.append(("resolved", at))
        sess.alert = None
    if new == CHARGING:
        if sess.charging_started_at is None:
            sess.charging_started_at = at
        sess.charging_ended_at = None
    if new == IDLE:
        sess.idle_since = at
        sess.charging_ended_at = at
        power_kw = sess.rated_power_kw or (sess.max_power_w / 1000 if sess.max_power_w else None)
        interval = round(escalation_interval_min(power_kw, site_idle_min) * 60_000)
        sess.alert = IdleAlert(idle_alert_id(sess.session_id, at), at, interval)
    delivering = new in DELIVERING
    if delivering != sess.periods[-1].charging:
        if sess.periods[-1].start == at:
            sess.periods[-1].charging = delivering
        else:
            sess.periods.append(Period(at, delivering))
    sess.phase = new
    return out
