"""A station's sessions and incidents as the events its charger sends, pitfalls included. Pure.

Normal session: Preparing → StartTransaction (lifetime register) + Charging → periodic meter
values (register, power; flat while idle) → SuspendedEV when the car is full → StopTransaction +
Finishing → Available at unplug. Pitfalls change what is sent, never what happened: the ground
truth keeps the true times and the delivered energy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from producers.simulator.drafts import Draft, finalize, power_sample, register_sample
from producers.simulator.identity import id_tag, keyed_hash
from producers.simulator.incidents import Block, Incident, boot_payload, render_incident
from producers.simulator.network import Station, zone
from producers.simulator.pitfalls import PITFALL_NAMES
from producers.simulator.schedule import PlannedSession
from producers.simulator.truth import TrueSession
from schemas.events import (
    HOUR_MS,
    MINUTE_MS,
    ChargerEvent,
    ConnectionChange,
    Heartbeat,
    MeterValues,
    Payload,
    SampledValue,
    StatusChange,
    TransactionEvent,
)


@dataclass(frozen=True)
class RenderConfig:
    seed: int
    start_ms: int
    meter_interval_ms: int
    heartbeat_interval_ms: int  # 0: only one heartbeat after the last event
    meter_during_idle: bool = True
    # Heartbeats go on until here (the fleet's last session): a station that is done with its sessions
    # stays alive, rather than going silent while the others charge.
    end_ms: int = 0


class _Stream:
    """The drafts of one station, with the bookkeeping of pitfalls per session."""

    def __init__(self, station: Station, sessions: list[PlannedSession]) -> None:
        self.station = station
        self.drafts: list[Draft] = []
        self.order = [0]
        self.pitfalls = [list(s.pitfalls) for s in sessions]
        self.details: list[dict[str, Any]] = [{} for _ in sessions]

    def add(
        self,
        at: int,
        connector: int,
        payload: Payload,
        session: int | None = None,
        *,
        queued: bool = False,
        received_at: int = -1,
        extra: dict[str, Any] | None = None,
    ) -> Draft:
        self.order[0] += 1
        d = Draft(at, connector, payload, self.order[0], session, received_at=received_at, queued=queued)
        d.extra = extra
        self.drafts.append(d)
        return d

    def drop_pitfall(self, i: int, name: str) -> None:
        if name in self.pitfalls[i]:
            self.pitfalls[i].remove(name)


def _phases(total: int) -> list[tuple[str, int]]:
    third, rest = divmod(total, 3)
    return [("L1", third + (rest > 0)), ("L2", third + (rest > 1)), ("L3", third)]


def _render_session(
    st: _Stream, i: int, s: PlannedSession, register: int, has_next: bool, rc: RenderConfig
) -> int:
    """Draft session i; returns the station's physical register after it."""
    rng = random.Random(f"render|{rc.seed}|{s.transaction_id}")
    p = st.pitfalls[i]
    det = st.details[i]
    c, tx = s.connector_id, s.transaction_id
    kwh, phases, relative = "kwh_units" in p, "phase_values" in p, "relative_meter_values" in p
    tag = id_tag(rc.seed, s.user)
    token = keyed_hash(tag)
    first = len(st.drafts)

    def add(at: int, payload: Payload, *, queued: bool = False, received_at: int = -1) -> Draft:
        extra = {"id_tag": tag} if isinstance(payload, TransactionEvent) else None
        return st.add(at, c, payload, i, queued=queued, received_at=received_at, extra=extra)

    def reg_sample(at: int, wh: int, context: str) -> SampledValue:
        return register_sample(at, wh, context, kwh=kwh)

    add(s.plugged_in_at, StatusChange("Preparing"))
    start_reported = 0 if "meter_start_zero" in p else register
    started = TransactionEvent(
        "Started",
        tx,
        trigger_reason="Authorized",
        id_token_hash=token,
        meter_wh=float(start_reported),
        samples=(reg_sample(s.started_at, start_reported, "Transaction.Begin"),),
    )
    add(s.started_at, started, queued=True)
    if "duplicate_start" in p:  # the response was lost; the charger re-sends after its timeout
        add(s.started_at, started, queued=True, received_at=s.started_at + 10_000)
        det["duplicate_received_at"] = s.started_at + 10_000
    if "meter_start_zero" in p:  # the lifetime value still comes, as a Transaction.Begin meter value
        add(
            s.started_at,
            MeterValues((reg_sample(s.started_at, register, "Transaction.Begin"),), tx),
            queued=True,
        )
    charging = s.curve is not None
    add(
        s.started_at if charging else s.started_at + 5_000,
        StatusChange("Charging" if charging else "SuspendedEV"),
    )

    end_ticks = s.stop_at if rc.meter_during_idle or not charging else s.charging_ended_at
    ticks = list(range(s.started_at + rc.meter_interval_ms, end_ticks, rc.meter_interval_ms))
    if charging and s.charging_ended_at not in ticks and s.charging_ended_at <= s.stop_at:
        ticks = sorted([*ticks, s.charging_ended_at])
    charging_ticks = [t for t in ticks if t < s.charging_ended_at]
    reset_after: int | None = None
    if "register_reset" in p:
        if len(charging_ticks) >= 2:
            reset_after = charging_ticks[rng.randint(0, len(charging_ticks) - 2)]
        else:
            st.drop_pitfall(i, "register_reset")

    def delivered(at: int) -> int:
        return s.curve.energy_wh_at(at - s.started_at) if s.curve else 0

    at_reset = delivered(reset_after) if reset_after is not None else 0

    def physical(at: int) -> int:
        if reset_after is not None and at > reset_after:
            return delivered(at) - at_reset  # counts on from 0
        return register + delivered(at)

    if reset_after is not None:
        det["reset_after"] = reset_after
        det["register_before_reset"] = physical(reset_after)

    sent: list[SampledValue] = []
    for t in ticks:
        value = delivered(t) if relative else physical(t)
        power = s.curve.power_w_at(t - s.started_at) if s.curve and t < s.charging_ended_at else 0
        samples = [reg_sample(t, value, "Sample.Periodic")]
        if phases:
            samples += [
                register_sample(t, v, "Sample.Periodic", kwh=kwh, phase=ph) for ph, v in _phases(value)
            ]
        samples.append(power_sample(t, power, kw=kwh))
        add(t, MeterValues(tuple(samples), tx), queued=True)
        sent.append(samples[0])
        if charging and t == s.charging_ended_at and "status_skip" not in p:
            add(t, StatusChange("SuspendedEV"))

    end_physical = physical(s.stop_at)
    end_reported = delivered(s.stop_at) if relative else end_physical
    stop_value = end_physical
    if "meter_stop_below_last" in p:
        if end_physical > 0:
            stop_value = end_physical - rng.randint(1, min(500, end_physical))
            det["meter_stop_wh"], det["last_meter_wh"] = stop_value, end_physical
        else:
            st.drop_pitfall(i, "meter_stop_below_last")
    data: list[SampledValue] = []
    if "repeated_samples" in p:
        if sent:
            data += sent[-rng.randint(2, 5) :]
            det["repeated"] = len(data)
        else:
            st.drop_pitfall(i, "repeated_samples")
    if "meter_stop_below_last" not in p:
        data.append(reg_sample(s.stop_at, end_reported, "Transaction.End"))
    if "missing_stop" not in p:
        ended = TransactionEvent(
            "Ended",
            tx,
            stopped_reason=s.stop_reason,
            id_token_hash=token,
            meter_wh=float(stop_value),
            samples=tuple(data),
        )
        add(s.stop_at, ended, queued=True)
        if "status_skip" not in p:
            add(s.stop_at, StatusChange("Finishing"))
        if "late_update" in p:
            late = s.stop_at + rng.randint(1, 4) * 1000
            update = TransactionEvent(
                "Updated",
                tx,
                trigger_reason="MeterValuePeriodic",
                samples=(reg_sample(late, end_reported, "Sample.Periodic"),),
            )
            add(late, update, queued=True)
            det["late_update_at"] = late
    if "missing_stop" in p and has_next and rng.random() < 0.5:
        det["available_dropped"] = True  # the next session's Preparing is the first sign
    else:
        add(s.unplugged_at, StatusChange("Available"))
    _clock_faults(st, i, s, rng, first)
    return end_physical


def _clock_faults(st: _Stream, i: int, s: PlannedSession, rng: random.Random, first: int) -> None:
    p, det = st.pitfalls[i], st.details[i]
    drafts = st.drafts[first:]
    if "clock_skew" in p:
        offset = rng.choice((-1, 1)) * rng.randint(2 * MINUTE_MS, 30 * MINUTE_MS)
        det["clock_offset_ms"] = offset
        for d in drafts:
            d.shift_clock(d.true_at + offset)
    elif "clock_local_time" in p:
        utc_offset = datetime.fromtimestamp(
            s.plugged_in_at / 1000, zone(st.station.site.time_zone)
        ).utcoffset()
        offset = int(utc_offset.total_seconds() * 1000) if utc_offset else 0
        if not offset:
            st.drop_pitfall(i, "clock_local_time")  # a station in UTC cannot show it
            return
        det["clock_offset_ms"] = offset
        for d in drafts:
            d.shift_clock(d.true_at + offset)
    elif "clock_1970" in p:
        booted = s.plugged_in_at - rng.randint(1 * HOUR_MS, 8 * HOUR_MS)
        synced = s.plugged_in_at + round((s.stop_at - s.plugged_in_at) * rng.uniform(0.3, 0.6))
        det["clock_1970_until"] = synced
        for d in drafts:
            if d.true_at < synced:
                d.shift_clock(d.true_at - booted)  # time since boot, counted from the epoch


def _offline(
    st: _Stream, sessions: list[PlannedSession], blocks: list[Block], rng: random.Random
) -> list[tuple[int, int]]:
    """Queue transaction messages inside each offline window and replay them at reconnect; status
    notifications inside are lost (1.6 does not queue them). Returns the windows."""
    windows: list[tuple[int, int]] = []
    for i, s in enumerate(sessions):
        if "offline" not in st.pitfalls[i]:
            continue
        a = s.plugged_in_at - rng.randint(0, 10 * MINUTE_MS)
        b = s.unplugged_at + rng.randint(1 * HOUR_MS, 6 * HOUR_MS)
        if any(blk.start < b and a < blk.end for blk in blocks):
            st.drop_pitfall(i, "offline")  # an incident inside would lose its meaning
            continue
        windows.append((a, b))
    merged: list[tuple[int, int]] = []
    for a, b in sorted(windows):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    for a, b in merged:
        inside = sorted(
            (d for d in st.drafts if a <= d.received_at < b),
            key=lambda d: (d.received_at, d.connector_id, d.order),
        )
        status_at_b = {}
        for d in sorted(st.drafts, key=lambda d: (d.true_at, d.order)):
            if d.true_at <= b and isinstance(d.payload, StatusChange) and d.connector_id:
                status_at_b[d.connector_id] = d.payload.status
        lost = {id(d) for d in inside if not d.queued}
        st.drafts = [d for d in st.drafts if id(d) not in lost]
        replay = b + 1_000
        for d in inside:
            if d.queued:
                d.received_at = replay
                replay += 10
                if isinstance(d.payload, TransactionEvent):
                    d.payload = replace(d.payload, offline=True)
            if d.session is not None and "offline" not in st.pitfalls[d.session]:
                st.pitfalls[d.session].append("offline")
            if d.session is not None:
                st.details[d.session].update(offline_from=a, reconnect_at=b)
        st.add(a, 0, ConnectionChange(False, "offline"))
        st.add(b, 0, ConnectionChange(True, "reconnected"))
        for c in st.station.connector_ids:  # what a reconnecting charger reports
            st.add(b, c, StatusChange(status_at_b.get(c, "Available")), received_at=replay)
    return merged


def render_station(
    station: Station,
    sessions: list[PlannedSession],
    incidents: list[Incident],
    blocks: list[Block],
    rc: RenderConfig,
) -> tuple[list[ChargerEvent], list[TrueSession]]:
    """Events in delivery order and the true sessions of one station (sessions sorted by connector, time)."""
    st = _Stream(station, sessions)
    rng = random.Random(f"station|{rc.seed}|{station.station_id}")
    st.add(rc.start_ms, 0, boot_payload(station, "PowerUp"))
    for c in station.connector_ids:
        st.add(rc.start_ms, c, StatusChange("Available", "NoError"))
    register = {c: rng.randint(100_000, 5_000_000) for c in station.connector_ids}
    for i, s in enumerate(sessions):
        has_next = i + 1 < len(sessions) and sessions[i + 1].connector_id == s.connector_id
        register[s.connector_id] = _render_session(st, i, s, register[s.connector_id], has_next, rc)
    for inc in incidents:
        for d in render_incident(inc, station, st.order):
            st.drafts.append(d)
    offline = _offline(st, sessions, blocks, rng)
    down = offline + [(b.start, b.end) for b in blocks if b.incident.type == "site_outage"]
    last = max(max(d.received_at for d in st.drafts), rc.end_ms)
    if rc.heartbeat_interval_ms > 0:
        for t in range(rc.start_ms + rc.heartbeat_interval_ms, last, rc.heartbeat_interval_ms):
            if not any(a <= t < b for a, b in down):
                st.add(t, 0, Heartbeat())
    st.add(last + MINUTE_MS, 0, Heartbeat())  # moves the watermark past the last session
    truths = [
        TrueSession(
            station_id=station.station_id,
            connector_id=s.connector_id,
            plugged_in_at=s.plugged_in_at,
            charging_started_at=s.started_at if s.curve else None,
            charging_ended_at=s.charging_ended_at if s.curve else None,
            unplugged_at=s.unplugged_at,
            energy_wh=s.energy_wh,
            pitfalls=tuple(n for n in PITFALL_NAMES if n in st.pitfalls[i]),
            site_id=station.site.site_id,
            transaction_id=s.transaction_id,
            details=st.details[i],
        )
        for i, s in enumerate(sessions)
    ]
    return finalize(station.station_id, st.drafts), truths
