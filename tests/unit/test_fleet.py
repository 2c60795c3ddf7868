"""The fleet simulator: determinism, truth vs events, each pitfall, incidents, feedback, calibration."""

from __future__ import annotations

import itertools
import json
import statistics
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import pytest

from producers.simulator import (
    PITFALL_NAMES,
    FeedbackRates,
    FleetConfig,
    IncidentRates,
    Pitfalls,
    Simulation,
    TrueSession,
    iter_truth_lines,
    plan,
    run,
    simulate,
)
from producers.simulator import calibration as cal
from producers.simulator.network import zone
from schemas.codec import EmbeddedCodec
from schemas.events import (
    ENERGY_REGISTER,
    ChargerEvent,
    ConnectionChange,
    MeterValues,
    SampledValue,
    StatusChange,
    TransactionEvent,
)
from schemas.topics import DRIVER_FEEDBACK

HOUR = 3_600_000


def test_same_seed_same_events_other_seed_other_events() -> None:
    a, ta = simulate(FleetConfig(seed=11))
    b, tb = simulate(FleetConfig(seed=11))
    c, _ = simulate(FleetConfig(seed=12))
    assert a == b and ta == tb
    assert [e.event_id for e in a] != [e.event_id for e in c]


def test_events_are_in_time_order_with_unique_ids_and_truth_matches_registers() -> None:
    events, truths = simulate(FleetConfig(stations=3, seed=5))
    assert [e.station_time for e in events] == sorted(e.station_time for e in events)
    assert len({e.event_id for e in events}) == len(events)
    starts = {
        p.transaction_id: p.meter_wh
        for e in events
        if isinstance(p := e.payload, TransactionEvent) and p.event_type == "Started"
    }
    stops = {
        p.transaction_id: p.meter_wh
        for e in events
        if isinstance(p := e.payload, TransactionEvent) and p.event_type == "Ended"
    }
    assert sorted(stops[tx] - starts[tx] for tx in starts) == sorted(float(t.energy_wh) for t in truths)  # type: ignore[operator]
    assert all(
        t.plugged_in_at < t.charging_started_at < t.charging_ended_at <= t.unplugged_at  # type: ignore[operator]
        for t in truths
    )


BUSY = FleetConfig(
    stations=6,
    sessions_per_connector=4,
    seed=21,
    meter_interval_s=300,
    pitfalls=Pitfalls(),
    incidents=IncidentRates().scaled(20),
    feedback=FeedbackRates(),
)


def test_everything_is_deterministic_by_seed_with_pitfalls_incidents_and_feedback() -> None:
    a, b = run(BUSY), run(BUSY)
    assert a.events == b.events and [e.event_id for e in a.events] == [e.event_id for e in b.events]
    assert list(iter_truth_lines(a.truth())) == list(iter_truth_lines(b.truth()))
    assert [f.record for f in a.feedback] == [f.record for f in b.feedback]
    assert a.incidents and a.feedback and any(t.pitfalls for t in a.sessions)
    json.dumps(list(iter_truth_lines(a.truth())))  # the truth file is plain JSON
    other = run(FleetConfig(**{**BUSY.__dict__, "seed": 22}))
    assert [e.event_id for e in other.events] != [e.event_id for e in a.events]


def test_pitfalls_do_not_move_the_fleet() -> None:
    clean = plan(FleetConfig(stations=4, seed=3))
    messy = plan(FleetConfig(stations=4, seed=3, pitfalls=Pitfalls.only(kwh_units=1.0, duplicate_start=1.0)))
    key = [
        (s.station.station_id, s.connector_id, s.plugged_in_at) for v in clean.sessions.values() for s in v
    ]
    assert key == [
        (s.station.station_id, s.connector_id, s.plugged_in_at) for v in messy.sessions.values() for s in v
    ]


def test_delivery_order_is_receive_time_and_per_station_order() -> None:
    sim = run(BUSY)
    assert [e.received_at for e in sim.events] == sorted(e.received_at for e in sim.events)
    assert len({e.event_id for e in sim.events}) == len(sim.events)


# --- helpers reading a session's events back -------------------------------------------------------


def _by_tx(sim: Simulation) -> dict[str, list[ChargerEvent]]:
    out: dict[str, list[ChargerEvent]] = defaultdict(list)
    for e in sim.events:
        p = e.payload
        tx = p.transaction_id if isinstance(p, MeterValues | TransactionEvent) else None
        if tx:
            out[tx].append(e)
    return out


def _tx(sim: Simulation, t: TrueSession, kind: str) -> list[TransactionEvent]:
    return [
        p
        for e in _by_tx(sim)[t.transaction_id or ""]
        if isinstance(p := e.payload, TransactionEvent) and p.event_type == kind
    ]


def _registers(events: list[ChargerEvent]) -> list[SampledValue]:
    """Total register samples of MeterValues, in delivery order."""
    return [
        s
        for e in events
        if isinstance(e.payload, MeterValues)
        for s in e.payload.samples
        if s.measurand == ENERGY_REGISTER and s.phase is None
    ]


def _statuses(sim: Simulation, t: TrueSession) -> list[str]:
    return [
        e.payload.status
        for e in sim.events
        if isinstance(e.payload, StatusChange)
        and e.station_id == t.station_id
        and e.connector_id == t.connector_id
        and t.plugged_in_at <= int(e.extra["true_at"]) <= t.unplugged_at
    ]


def _energy_from_registers(values: list[float]) -> float:
    """Sum of rises; after a drop (reset) the register counts on from 0."""
    total = 0.0
    for prev, cur in itertools.pairwise(values):
        total += cur - prev if cur >= prev else cur
    return total


def _sim_with(name: str) -> Simulation:
    return run(
        FleetConfig(
            stations=4,
            sessions_per_connector=3,
            seed=31,
            meter_interval_s=120,
            pitfalls=Pitfalls.only(**{name: 1.0}),
        )
    )


def _check(name: str, sim: Simulation, t: TrueSession) -> None:
    events = _by_tx(sim)[t.transaction_id or ""]
    started, ended = _tx(sim, t, "Started"), _tx(sim, t, "Ended")
    regs = _registers(events)
    if name == "duplicate_start":
        assert len(started) == 2 and started[0] == started[1]
        ids = [
            e.event_id
            for e in events
            if isinstance(e.payload, TransactionEvent) and e.payload.event_type == "Started"
        ]
        assert len(set(ids)) == 2
    elif name == "missing_stop":
        assert not ended
    elif name == "offline":
        late = [e for e in events if isinstance(e.payload, TransactionEvent)]
        assert all(e.payload.offline for e in late)  # type: ignore[union-attr]
        assert all(e.received_at - int(e.extra["true_at"]) >= HOUR for e in events)
        assert [int(e.extra["true_at"]) for e in events] == sorted(int(e.extra["true_at"]) for e in events)
        assert "Preparing" not in _statuses(sim, t)  # status notifications are not queued
        assert any(
            isinstance(e.payload, ConnectionChange)
            and e.station_id == t.station_id
            and not e.payload.connected
            for e in sim.events
        )
    elif name == "late_update":
        kinds = [e.payload.event_type for e in events if isinstance(e.payload, TransactionEvent)]
        assert kinds[-2:] == ["Ended", "Updated"]
    elif name == "relative_meter_values":
        assert regs[0].value < started[0].meter_wh  # type: ignore[operator]
        assert regs[-1].value == t.energy_wh and ended[0].meter_wh - started[0].meter_wh == t.energy_wh  # type: ignore[operator]
    elif name == "meter_start_zero":
        assert started[0].meter_wh == 0.0
        begin = [s for s in regs if s.context == "Transaction.Begin"]
        assert len(begin) == 1 and ended[0].meter_wh - begin[0].value == t.energy_wh  # type: ignore[operator]
    elif name == "register_reset":
        values = [v.value for v in regs]
        assert any(b < a for a, b in itertools.pairwise(values))
        assert _energy_from_registers([started[0].meter_wh or 0, *values]) == t.energy_wh
        assert ended[0].meter_wh - started[0].meter_wh != t.energy_wh  # type: ignore[operator]
    elif name == "meter_stop_below_last":
        assert ended[0].meter_wh < regs[-1].value  # type: ignore[operator]
        assert regs[-1].value - started[0].meter_wh == t.energy_wh  # type: ignore[operator]
    elif name == "kwh_units":
        energy = [
            s for e in events for s in getattr(e.payload, "samples", ()) if s.measurand == ENERGY_REGISTER
        ]
        assert energy and all(s.raw_unit == "kWh" and s.unit == "Wh" for s in energy)
        assert all(Decimal(s.raw_value) * 1000 == Decimal(int(s.value)) for s in energy)
    elif name == "phase_values":
        phased = [e.payload.samples for e in events if isinstance(e.payload, MeterValues)]
        for samples in phased:
            total = [s.value for s in samples if s.measurand == ENERGY_REGISTER and s.phase is None]
            parts = [s.value for s in samples if s.phase in ("L1", "L2", "L3")]
            assert len(parts) == 3 and sum(parts) == total[0]
    elif name == "repeated_samples":
        sent = {(s.sampled_at, s.value, s.context) for s in regs}
        repeated = [s for s in ended[0].samples if s.context == "Sample.Periodic"]
        assert repeated and all((s.sampled_at, s.value, s.context) in sent for s in repeated)
    elif name == "clock_skew":
        offset = t.details["clock_offset_ms"]
        assert 2 * 60_000 <= abs(offset) <= 30 * 60_000
        assert all(e.station_time - int(e.extra["true_at"]) == offset for e in events)
    elif name == "clock_local_time":
        local = datetime.fromtimestamp(t.plugged_in_at / 1000, zone("Europe/Berlin")).utcoffset()
        assert local and all(
            e.station_time - int(e.extra["true_at"]) == local.total_seconds() * 1000 for e in events
        )
    elif name == "clock_1970":
        assert any(e.station_time < 365 * 24 * HOUR for e in events)
        assert any(e.station_time == int(e.extra["true_at"]) for e in events)  # synced later
    elif name == "status_skip":
        statuses = _statuses(sim, t)
        assert "SuspendedEV" not in statuses and "Finishing" not in statuses
        assert statuses[-2:] == ["Charging", "Available"]
    elif name == "zero_energy":
        assert t.energy_wh == 0 and t.charging_started_at is None
        assert ended[0].meter_wh == started[0].meter_wh
    elif name == "short_session":
        assert t.unplugged_at - t.plugged_in_at < 2 * 60_000 and 0 < t.energy_wh < 3_000
    else:
        raise AssertionError(f"no check for {name}")


@pytest.mark.parametrize("name", PITFALL_NAMES)
def test_each_pitfall_at_rate_one_shows_in_events_and_truth(name: str) -> None:
    sim = _sim_with(name)
    marked = [t for t in sim.sessions if name in t.pitfalls]
    assert len(marked) >= 0.75 * len(sim.sessions), f"{len(marked)} of {len(sim.sessions)} sessions"
    for t in marked:
        _check(name, sim, t)
    # and truth energy is never what the messages claim but what was delivered
    clean = {
        (t.station_id, t.connector_id, t.plugged_in_at): t.energy_wh
        for t in run(
            FleetConfig(stations=4, sessions_per_connector=3, seed=31, meter_interval_s=120)
        ).sessions
    }
    if name not in ("zero_energy", "short_session"):
        assert {(t.station_id, t.connector_id, t.plugged_in_at): t.energy_wh for t in sim.sessions} == clean


def test_truth_energy_is_the_sum_of_real_register_rises() -> None:
    sim = run(FleetConfig(stations=6, seed=8, pitfalls=Pitfalls.only(register_reset=0.5)))
    assert any("register_reset" in t.pitfalls for t in sim.sessions)
    by_tx = _by_tx(sim)
    for t in sim.sessions:
        started, ended = _tx(sim, t, "Started"), _tx(sim, t, "Ended")
        values = [started[0].meter_wh or 0.0, *(s.value for s in _registers(by_tx[t.transaction_id or ""]))]
        values.append(ended[0].meter_wh or 0.0)
        assert _energy_from_registers(values) == t.energy_wh, t


def test_incident_members_match_the_events_and_sessions_avoid_them() -> None:
    sim = run(FleetConfig(stations=20, sites=3, seed=4, incidents=IncidentRates().scaled(30)))
    kinds = {i.type for i in sim.incidents}
    assert kinds == {"connector_fault", "site_burst", "site_outage", "model_cluster", "flapping"}, kinds
    statuses = defaultdict(list)
    links = defaultdict(list)
    for e in sim.events:
        if isinstance(e.payload, StatusChange):
            statuses[(e.station_id, e.connector_id)].append((e.station_time, e.payload))
        if isinstance(e.payload, ConnectionChange):
            links[e.station_id].append((e.station_time, e.payload.connected))
    for inc in sim.incidents:
        for m in inc.members:
            if inc.type == "site_outage":
                assert (m.start, False) in links[m.station_id] and (m.end, True) in links[m.station_id]
                continue
            seen = statuses[(m.station_id, m.connector_id)]
            faulted = [p for at, p in seen if at == m.start and p.status == "Faulted"]
            assert faulted and faulted[0].error_code == inc.error_code, (inc, seen)
            assert any(at == m.end and p.status == "Available" for at, p in seen)
        if inc.type == "site_outage":
            stations = {s.station_id for s in sim.stations if s.site.site_id == inc.site_id}
            assert {m.station_id for m in inc.members} == stations
        if inc.type == "model_cluster":
            st = {s.station_id: s for s in sim.stations}
            members = [st[m.station_id] for m in inc.members]
            assert {(s.model.name, s.firmware_version) for s in members} == {
                (inc.model, inc.firmware_version)
            }
            assert len({s.site.site_id for s in members}) >= 2
        if inc.type == "flapping":
            assert len(inc.toggles) >= 8
    for t in sim.sessions:
        for inc in sim.incidents:
            for m in inc.members:
                if m.station_id == t.station_id and m.connector_id in (0, t.connector_id):
                    assert t.unplugged_at <= m.start or m.end <= t.plugged_in_at, (t, inc)


def test_feedback_follows_incidents_and_idle_cars_and_fits_the_schema() -> None:
    sim = run(
        FleetConfig(
            stations=8,
            sites=2,
            seed=9,
            sessions_per_connector=6,
            incidents=IncidentRates().scaled(30),
            feedback=FeedbackRates(incident_report=1.0, idle_report=1.0, payment=0.05),
        )
    )
    causes = {f.truth.cause for f in sim.feedback}
    assert {"incident", "idle_car", "noise"} <= causes, causes
    incidents = {i.incident_id: i for i in sim.incidents}
    sessions = {(t.station_id, t.connector_id, t.plugged_in_at): t for t in sim.sessions}
    codec = EmbeddedCodec()
    for f in sim.feedback:
        assert (
            codec.decode(DRIVER_FEEDBACK, codec.encode(DRIVER_FEEDBACK, f.record.to_dict()))["feedback_id"]
            == f.truth.feedback_id
        )
        if f.truth.cause == "incident":
            inc = incidents[f.truth.incident_id or ""]
            assert f.truth.category in ("cannot-start", "broken-cable")
            assert inc.start <= f.truth.submitted_at <= inc.end + 15 * 60_000
            assert f.station_id in {m.station_id for m in inc.members}
        if f.truth.cause == "idle_car":
            t = sessions[(f.station_id, f.truth.connector_id, f.truth.session_plugged_in_at)]  # type: ignore[index]
            assert f.truth.category == "blocked-by-idle-car"
            assert t.charging_ended_at is not None and t.charging_ended_at < f.truth.submitted_at
    lines = [ln for ln in iter_truth_lines(sim.truth()) if ln["kind"] == "feedback"]
    assert len(lines) == len(sim.feedback)


def test_hours_mode_runs_arrivals_over_a_horizon() -> None:
    sim = run(FleetConfig(stations=4, sessions_per_connector=None, hours=48, seed=2))
    end = BUSY.start_ms + 48 * HOUR
    assert sim.sessions and all(t.plugged_in_at < end for t in sim.sessions)
    with pytest.raises(ValueError):
        FleetConfig(sessions_per_connector=None)


def test_large_fleet_matches_the_datasets() -> None:
    """AC sessions against ACN-Data (idle share, energy median), DC energy against Dundee."""
    ac = [
        s
        for v in plan(
            FleetConfig(stations=200, sessions_per_connector=10, dc_share=0.0, seed=1)
        ).sessions.values()
        for s in v
    ]
    idle = sum(s.unplugged_at - s.charging_ended_at for s in ac) / sum(
        s.unplugged_at - s.plugged_in_at for s in ac
    )
    assert abs(idle - cal.ACN_IDLE_SHARE) < 0.03, idle
    assert abs(idle - 0.57) < 0.03  # the datasets README's figure
    energy = statistics.median(s.energy_wh for s in ac) / 1000
    assert abs(energy - cal.ACN_ENERGY_MEDIAN_KWH) / cal.ACN_ENERGY_MEDIAN_KWH < 0.08, energy
    idle30 = sum(s.unplugged_at - s.charging_ended_at >= 30 * 60_000 for s in ac) / len(ac)
    assert abs(idle30 - cal.ACN_IDLE_30MIN_SHARE) < 0.04, idle30
    dc = [
        s
        for v in plan(
            FleetConfig(stations=100, sessions_per_connector=10, dc_share=1.0, seed=1)
        ).sessions.values()
        for s in v
    ]
    dc_energy = statistics.median(s.energy_wh for s in dc) / 1000
    assert abs(dc_energy - cal.DUNDEE_DC_ENERGY_MEDIAN_KWH) / cal.DUNDEE_DC_ENERGY_MEDIAN_KWH < 0.1, dc_energy
    # power tapers: DC sessions never exceed the station's rating, and the mean falls with SoC
    assert all(
        s.curve is not None and s.curve.power_w_at(0) <= s.station.max_power_kw * 1000 for s in dc[:200]
    )
