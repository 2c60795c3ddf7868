from __future__ import annotations

import json
from decimal import Decimal

import pytest

from schemas.errors import RecordError
from schemas.events import ChargerEvent, Heartbeat, MeterValues, SampledValue, StatusChange, to_record
from sinks.rows import ALERTS, COLUMNS, rows_for

T0 = 1_793_491_200_000

ALERT_DETAILS = [c.name for c in ALERTS.columns].index("details")


def test_meter_values_give_one_row_per_sample_with_all_columns() -> None:
    ev = ChargerEvent(
        "e",
        "ST",
        1,
        T0,
        T0 + 5,
        "sim",
        MeterValues(
            (
                SampledValue(T0, "Wh", 10.0, "10"),
                SampledValue(
                    T0, "W", 7000.0, "7", measurand="Power.Active.Import", phase="L1", raw_unit="kW"
                ),
            )
        ),
    )
    rows = rows_for("charger.events", to_record(ev))
    assert [t for t, _ in rows] == ["meter_values", "meter_values"]
    assert all(len(r) == len(COLUMNS["meter_values"]) for _, r in rows)
    assert rows[1][1][COLUMNS["meter_values"].index("phase")] == "L1"


def test_status_and_other_events_are_kept() -> None:
    st = rows_for(
        "charger.events", to_record(ChargerEvent("e", "ST", 1, T0, T0, "sim", StatusChange("Faulted")))
    )
    hb = rows_for("charger.events", to_record(ChargerEvent("h", "ST", 0, T0, T0, "sim", Heartbeat())))
    assert st[0][0] == "status_changes" and st[0][1][COLUMNS["status_changes"].index("status")] == "Faulted"
    assert hb[0][0] == "station_events" and hb[0][1][COLUMNS["station_events"].index("kind")] == "Heartbeat"


def test_only_bills_are_billing_rows_and_bills_and_credits_go_to_the_ledger() -> None:
    zero = Decimal(0)
    rec = {
        "session_id": "s",
        "version": 2,
        "state": "charging",
        "is_final": False,
        "station_id": "ST",
        "connector_id": 1,
        "plugged_in_at": T0,
        "energy_wh": 5,
        "charging_minutes": 0.0,
        "idle_minutes": 0.0,
        "max_power_kw": 0.0,
        "cost_energy": zero,
        "cost_time": zero,
        "cost_parking": zero,
        "cost_flat": zero,
        "cost_total": zero,
        "currency": "EUR",
        "quality_flags": [],
        "emitted_at": T0,
    }
    assert [t for t, _ in rows_for("sessions", rec)] == ["session_updates"]
    final = [t for t, r in rows_for("sessions", {**rec, "is_final": True}) if len(r) == len(COLUMNS[t])]
    assert final == ["session_updates", "billing_records", "billing_ledger"]  # a v1 final record: a bill
    credit = {
        **rec,
        "record_type": "credit",
        "corrects_version": 1,
        "energy_wh": -5,
        "cost_total": Decimal(-2),
    }
    rows = rows_for("sessions", credit)
    # a credit deletes the session's current bill (a later bill, of a higher version, brings it back)
    assert [t for t, _ in rows] == ["session_updates", "billing_records", "billing_ledger"]
    deleted = rows[1][1]
    assert deleted[COLUMNS["billing_records"].index("is_deleted")] == 1
    assert deleted[COLUMNS["billing_records"].index("energy_wh")] == 0
    ledger = rows[2][1]
    assert ledger[COLUMNS["billing_ledger"].index("record_type")] == "credit"
    assert ledger[COLUMNS["billing_ledger"].index("cost_total")] == Decimal(-2)


def test_alert_json_rows_and_bad_records_raise() -> None:
    rows = rows_for(
        "alerts.idle",
        {
            "alert_id": "a1",
            "type": "idle",
            "status": "opened",
            "station_id": "ST",
            "opened_at": T0,
            "updated_at": T0,
            "details": {"minutes": 31},
        },
    )
    assert rows[0][0] == "alerts" and json.loads(rows[0][1][ALERT_DETAILS]) == {"minutes": 31}
    with pytest.raises(RecordError):
        rows_for("alerts.idle", {"type": "idle"})
    with pytest.raises(KeyError, match="no table mapping"):
        rows_for("unknown.topic", {})
