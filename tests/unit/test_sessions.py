"""The session engine's main paths: 1.6 and 2.0.1 sessions, phases, idle alerts, tariffs, CDRs."""

from __future__ import annotations

import json
from decimal import Decimal

from producers.simulator import FleetConfig, simulate
from schemas.events import ChargerEvent, Heartbeat, MeterValues, StationBoot, StatusChange, TransactionEvent
from schemas.records import SessionRecord
from streams.billing import StationInfo, cdr
from streams.policy import Policy
from streams.tariffs import parse_tariff
from tests.unit.session_harness import MIN, T0, Station, run, wh

TARIFF = {
    "id": "T1",
    "currency": "EUR",
    "country_code": "DE",
    "party_id": "CST",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.40, "vat": 19.0, "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": 6.00, "vat": 19.0, "step_size": 60}]},
    ],
    "last_updated": "2026-01-01T00:00:00Z",
}


def _policy(**kw: object) -> Policy:
    return Policy(
        tariffs={"T1": parse_tariff(TARIFF)},
        tariff_json={"T1": TARIFF},
        site_tariff={"north": "T1"},
        site_time_zone={"north": "Europe/Berlin"},
        **kw,  # type: ignore[arg-type]
    )


def _session_16(
    s: Station, *, idle_min: float = 40, start_wh: float = 10_000, energy: int = 7_400
) -> list[ChargerEvent]:
    """Plug, start, 1 h charging at 7.4 kW in 10-min samples, SuspendedEV, idle, stop, unplug."""
    evs = [
        s.ev(0, StationBoot("ACME", "AC22", "1.0", site_id="north", max_power_kw=7.4)),
        s.ev(1, StatusChange("Preparing")),
        s.ev(2, TransactionEvent("Started", "tx1", meter_wh=start_wh, id_token_hash="h1")),
        s.ev(2, StatusChange("Charging")),
    ]
    for k in range(1, 7):
        evs.append(s.ev(2 + 10 * k, MeterValues((wh(2 + 10 * k, start_wh + energy * k // 6),), "tx1")))
    evs += [
        s.ev(62, StatusChange("SuspendedEV")),
        s.ev(
            62 + idle_min,
            TransactionEvent("Ended", "tx1", meter_wh=start_wh + energy, stopped_reason="EVDisconnected"),
        ),
        s.ev(62 + idle_min, StatusChange("Finishing")),
        s.ev(62.5 + idle_min, StatusChange("Available")),
    ]
    return evs


def test_simulated_fleet_is_billed_exactly() -> None:
    events, truths = simulate(
        FleetConfig(stations=5, connectors_per_station=2, sessions_per_connector=3, seed=3)
    )
    result = run(events)
    billed = {(r["station_id"], r["connector_id"], r["plugged_in_at"]): r for r in result.current_bills()}
    assert len(billed) == len(truths) == 30
    for t in truths:
        r = billed[(t.station_id, t.connector_id, t.plugged_in_at)]
        assert r["energy_wh"] == t.energy_wh
        assert (r["charging_started_at"], r["charging_ended_at"], r["unplugged_at"]) == (
            t.charging_started_at,
            t.charging_ended_at,
            t.unplugged_at,
        )
        assert t.charging_ended_at is not None
        assert r["idle_minutes"] == (t.unplugged_at - t.charging_ended_at) / MIN


def test_phases_versions_and_the_bill_of_one_session() -> None:
    result = run(_session_16(Station()), _policy())
    states = [r["state"] for r in result.sessions if r["record_type"] == "update"]
    assert states == ["plugged", "charging", "idle"]
    versions = [r["version"] for r in result.sessions]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    bill = result.bill
    assert bill["energy_wh"] == 7_400 and bill["site_id"] == "north" and bill["tariff_id"] == "T1"
    assert bill["charging_started_at"] == T0 + 2 * MIN and bill["charging_ended_at"] == T0 + 62 * MIN
    assert bill["unplugged_at"] == T0 + 102.5 * MIN
    assert bill["idle_minutes"] == 40.5 and bill["charging_minutes"] == 60.0
    assert bill["stop_reason"] == "EVDisconnected" and bill["quality_flags"] == []
    # ENERGY 7.4 kWh x 0.40 = 2.96; PARKING: 1 min before charging + 40.5 min idle = 41.5 min,
    # rounded up to 42 min (step 60 s) x 6 EUR/h = 4.20 EUR. VAT 19 %.
    assert bill["cost_energy"] == Decimal("2.9600")
    assert bill["cost_parking"] == Decimal("4.2000")
    assert bill["cost_total"] == Decimal("7.1600")
    assert bill["cost_total_incl_vat"] == Decimal("8.5204")


def test_idle_alert_opens_escalates_and_resolves_with_one_stable_id() -> None:
    # 7.4 kW: escalation interval 60 min; idle 130 min → opened at +60, escalated at +120, resolved at unplug
    result = run(_session_16(Station(), idle_min=130), _policy())
    assert [(a["status"], a["updated_at"]) for a in result.alerts] == [
        ("opened", T0 + 122 * MIN),
        ("escalated", T0 + 182 * MIN),
        ("resolved", T0 + 192.5 * MIN),
    ]
    assert len({a["alert_id"] for a in result.alerts}) == 1
    assert [a["version"] for a in result.alerts] == [1, 2, 3]
    assert result.alerts[0]["severity"] == "warning" and result.alerts[1]["severity"] == "critical"
    again = run(_session_16(Station(), idle_min=130), _policy())
    assert again.alerts == result.alerts  # replay: same ids, same content


def test_short_idle_raises_no_alert_and_site_override_changes_the_threshold() -> None:
    assert run(_session_16(Station(), idle_min=30), _policy()).alerts == []
    tight = _policy(site_idle_minutes={"north": 10.0})
    statuses = [a["status"] for a in run(_session_16(Station(), idle_min=30), tight).alerts]
    assert statuses == ["opened", "escalated", "resolved"]


def test_ocpp201_session_with_charging_state_and_seq_no() -> None:
    s = Station(source="ocpp2.0.1")

    def tx(minute: float, kind: str, seq: int, state: str | None, value: float, **kw: str) -> ChargerEvent:
        samples = (wh(minute, value),)
        return s.ev(
            minute,
            TransactionEvent(kind, "abc-1", seq_no=seq, charging_state=state, samples=samples, **kw),  # type: ignore[arg-type]
        )

    events = [
        s.ev(0, StatusChange("Occupied")),
        tx(0, "Started", 0, "EVConnected", 500_000.0, trigger_reason="CablePluggedIn"),
        tx(1, "Updated", 1, "Charging", 500_000.0),
        tx(31, "Updated", 2, None, 511_000.0),
        tx(61, "Updated", 3, "SuspendedEV", 522_000.0),
        tx(
            90,
            "Ended",
            4,
            "EVConnected",
            522_000.0,
            stopped_reason="EVDisconnected",
            trigger_reason="EVDeparted",
        ),
        s.ev(90, StatusChange("Available")),
    ]
    bill = run(events).bill
    assert bill["energy_wh"] == 22_000
    assert bill["charging_started_at"] == T0 + MIN and bill["charging_ended_at"] == T0 + 61 * MIN
    assert bill["idle_minutes"] == 29 and bill["plugged_in_at"] == T0
    assert "seq_gap" not in bill["quality_flags"]


def test_reordering_within_the_allowed_lateness_changes_nothing() -> None:
    events = _session_16(Station(), idle_min=90)
    shuffled = list(events)
    shuffled[5], shuffled[6] = shuffled[6], shuffled[5]  # two meter values swapped
    shuffled[1], shuffled[2] = shuffled[2], shuffled[1]  # Started before Preparing (same minute +1)
    a, b = run(events, _policy()), run(shuffled, _policy())
    assert a.sessions == b.sessions and a.alerts == b.alerts


def test_heartbeats_advance_event_time_so_records_do_not_wait_for_a_flush() -> None:
    s = Station()
    events = [*_session_16(s), s.ev(200, Heartbeat())]
    assert run(events, _policy(), flush_end=False).bill["energy_wh"] == 7_400
    assert run(events[:-1], _policy(), flush_end=False).bills == []  # still inside the lateness


def test_cdr_export_matches_the_bill() -> None:
    policy = _policy()
    bill = run(_session_16(Station()), policy).bill
    doc = cdr(
        SessionRecord.from_dict(bill),
        StationInfo(site_id="north", time_zone="Europe/Berlin", latitude=52.5, longitude=13.4),
        policy,
    )
    assert doc["id"] == bill["session_id"] and doc["currency"] == "EUR" and doc["country_code"] == "DE"
    assert doc["total_energy"] == 7.4
    assert doc["total_cost"] == {"excl_vat": 7.16, "incl_vat": 8.5204}
    assert doc["total_parking_cost"]["excl_vat"] == 4.2
    assert [p["dimensions"][1]["type"] for p in doc["charging_periods"]] == [
        "PARKING_TIME",
        "TIME",
        "PARKING_TIME",
    ]
    assert json.loads(json.dumps(doc)) == doc  # plain JSON


def test_a_cdr_reproduces_its_bill_after_the_tariff_is_edited() -> None:
    policy = _policy()
    bill = run(_session_16(Station()), policy).bill
    dearer = {
        **TARIFF,
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.99, "vat": 19.0, "step_size": 1}]}],
    }
    edited = _policy()
    edited = Policy(
        **{**edited.__dict__, "tariffs": {"T1": parse_tariff(dearer)}, "tariff_json": {"T1": dearer}}
    )
    info = StationInfo(site_id="north", time_zone="UTC")  # and the site's time zone changed too
    doc = cdr(SessionRecord.from_dict(bill), info, edited)
    assert doc["total_cost"] == {
        "excl_vat": float(bill["cost_total"]),
        "incl_vat": float(bill["cost_total_incl_vat"]),
    }
    assert doc["tariffs"] == [TARIFF]
