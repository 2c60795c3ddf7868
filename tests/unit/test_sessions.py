from __future__ import annotations

from typing import Any

from producers.fleet import FleetConfig, simulate
from schemas.events import ChargerEvent, MeterValues, Payload, SampledValue, StatusChange, TransactionEvent
from streams.session_records import session_id_for
from streams.sessions import ConnectorState, apply, connector_key

MIN = 60_000


def _run(events: list[ChargerEvent]) -> list[dict[str, Any]]:
    states: dict[str, ConnectorState] = {}
    out: list[dict[str, Any]] = []
    for ev in events:
        key = connector_key(ev.station_id, ev.connector_id)
        # Round-trip the state through its table form, as the Faust table does.
        raw = states[key].to_dict() if key in states else None
        state = ConnectorState.from_dict(raw) if raw else ConnectorState(ev.station_id, ev.connector_id)
        states[key], emitted = apply(state, ev)
        out += emitted
    return out


def _ev(at: int, payload: Payload, n: int) -> ChargerEvent:
    return ChargerEvent(f"e{n}", "ST", 1, at, at, "test", payload)


def _wh(at: int, wh: float, phase: str | None = None) -> SampledValue:
    return SampledValue(at, "Wh", wh, str(wh), phase=phase)


def test_simulated_fleet_is_billed_exactly() -> None:
    events, truths = simulate(
        FleetConfig(stations=5, connectors_per_station=2, sessions_per_connector=3, seed=3)
    )
    finals = [r for r in _run(events) if r["is_final"]]
    billed = {(r["station_id"], r["connector_id"], r["plugged_in_at"]): r for r in finals}
    assert len(finals) == len(truths) == 30
    for t in truths:
        r = billed[(t.station_id, t.connector_id, t.plugged_in_at)]
        assert r["energy_wh"] == t.energy_wh
        assert (r["charging_started_at"], r["charging_ended_at"], r["unplugged_at"]) == (
            t.charging_started_at,
            t.charging_ended_at,
            t.unplugged_at,
        )
        assert r["idle_minutes"] == (t.unplugged_at - t.charging_ended_at) / MIN


def test_phases_idle_and_versions_of_one_session() -> None:
    t = 1_800_000_000_000
    events = [
        _ev(t, StatusChange("Preparing"), 1),
        _ev(t + MIN, TransactionEvent("Started", "tx", meter_wh=5_000.0, id_token_hash="h"), 2),
        _ev(t + MIN, StatusChange("Charging"), 3),
        # a per-phase value larger than the total must not count
        _ev(
            t + 10 * MIN,
            MeterValues((_wh(t + 10 * MIN, 6_200.0), _wh(t + 10 * MIN, 99_999.0, phase="L1")), "tx"),
            4,
        ),
        _ev(t + 20 * MIN, StatusChange("SuspendedEV"), 5),
        _ev(t + 30 * MIN, StatusChange("Finishing"), 6),
        _ev(t + 50 * MIN, TransactionEvent("Ended", "tx", meter_wh=7_400.0), 7),
        _ev(t + 51 * MIN, StatusChange("Available"), 8),
    ]
    out = _run(events)
    assert [r["state"] for r in out] == ["plugged", "charging", "idle", "closed"]
    assert [r["version"] for r in out] == [1, 2, 3, 4]
    final = out[-1]
    assert final["is_final"] and final["session_id"] == session_id_for("ST", 1, t)
    assert final["energy_wh"] == 2_400
    assert final["charging_minutes"] == 19.0 and final["idle_minutes"] == 31.0
    assert final["stop_reason"] == "Local" and final["id_token_hash"] == "h"


def test_stop_without_session_and_available_without_session_emit_nothing() -> None:
    t = 1_800_000_000_000
    assert (
        _run([_ev(t, TransactionEvent("Ended", "tx", meter_wh=1.0), 1), _ev(t, StatusChange("Available"), 2)])
        == []
    )


def test_session_id_is_deterministic_and_distinct() -> None:
    assert session_id_for("A", 1, 5) == session_id_for("A", 1, 5)
    assert (
        len(
            {
                session_id_for("A", 1, 5),
                session_id_for("A", 2, 5),
                session_id_for("B", 1, 5),
                session_id_for("A", 1, 6),
            }
        )
        == 4
    )
