from __future__ import annotations

import math

import pytest

from producers.gateway.normalize import NormalizationError, event_id, meter_values, parse_time, station_boot
from producers.gateway.v201.normalize import (
    evse_of_201,
    fault_notices_201,
    transaction_event_201,
    transaction_event_key_201,
)
from schemas.events import FaultNotice, StationBoot, TransactionEvent
from schemas.network import StationMetadata

T = "2026-11-24T10:00:00Z"


def test_16_string_values_and_kwh_are_exact_wh() -> None:
    (s,) = meter_values([{"timestamp": T, "sampled_value": [{"value": "1.2345", "unit": "kWh"}]}], "1.6")
    assert (s.unit, s.value, s.raw_value, s.raw_unit) == ("Wh", 1234.5, "1.2345", "kWh")
    assert s.measurand == "Energy.Active.Import.Register" and s.context == "Sample.Periodic"


def test_16_phases_are_kept_apart_from_the_total() -> None:
    samples = meter_values(
        [
            {
                "timestamp": T,
                "sampled_value": [
                    {"value": "7400", "measurand": "Power.Active.Import"},
                    {"value": "2466", "measurand": "Power.Active.Import", "phase": "L1"},
                ],
            }
        ],
        "1.6",
    )
    assert [(s.phase, s.unit, s.value) for s in samples] == [(None, "W", 7400.0), ("L1", "W", 2466.0)]


def test_201_multiplier_and_units() -> None:
    (s,) = meter_values(
        [
            {
                "timestamp": T,
                "sampled_value": [
                    {
                        "value": 12.345,
                        "unit_of_measure": {"unit": "kWh", "multiplier": 1},
                        "context": "Transaction.End",
                    }
                ],
            }
        ],
        "2.0.1",
    )
    assert s.value == 123450.0 and s.unit == "Wh" and s.context == "Transaction.End"


def test_signed_data_is_kept_opaque() -> None:
    (s,) = meter_values(
        [{"timestamp": T, "sampled_value": [{"value": "AbC=", "format": "SignedData"}]}], "1.6"
    )
    assert math.isnan(s.value) and s.raw_value == "AbC="


@pytest.mark.parametrize("bad", [{"value": "12,5"}, {"value": "NaN"}, {"value": "1", "unit": "MWh"}])
def test_nonsense_values_raise(bad: dict[str, str]) -> None:
    with pytest.raises(NormalizationError):
        meter_values([{"timestamp": T, "sampled_value": [bad]}], "1.6")


def test_times_without_offset_are_utc_and_bad_times_raise() -> None:
    assert (
        parse_time("2026-11-24T10:00:00")
        == parse_time("2026-11-24T10:00:00Z")
        == parse_time("2026-11-24T11:00:00+01:00")
    )
    with pytest.raises(NormalizationError):
        parse_time("yesterday")


def test_event_id_is_stable_per_message() -> None:
    assert event_id("CP1", "m-1") == event_id("CP1", "m-1") != event_id("CP2", "m-1")


def test_201_negative_multiplier_is_exact() -> None:
    (s,) = meter_values(
        [
            {
                "timestamp": T,
                "sampled_value": [{"value": 12345678, "unit_of_measure": {"unit": "Wh", "multiplier": -1}}],
            }
        ],
        "2.0.1",
    )
    assert (s.value, s.raw_value, s.raw_unit) == (1234567.8, "12345678", "Whe-1")


def _tx201(**kw: object) -> dict[str, object]:
    return {
        "event_type": "Updated",
        "timestamp": T,
        "trigger_reason": "ChargingStateChanged",
        "seq_no": 3,
        "transaction_info": {"transaction_id": "abc-1", "charging_state": "SuspendedEV"},
        **kw,
    }


def test_201_transaction_event_fields() -> None:
    ev = transaction_event_201(
        _tx201(
            offline=True,
            meter_value=[
                {"timestamp": T, "sampled_value": [{"value": 7.5, "unit_of_measure": {"unit": "kWh"}}]}
            ],
        ),
        "hash-of-token",
    )
    assert ev == TransactionEvent(
        "Updated",
        "abc-1",
        seq_no=3,
        trigger_reason="ChargingStateChanged",
        charging_state="SuspendedEV",
        id_token_hash="hash-of-token",
        offline=True,
        samples=ev.samples,
    )
    assert [(s.unit, s.value) for s in ev.samples] == [("Wh", 7500.0)]
    assert ev.meter_wh is None  # 2.0.1 energy travels in samples only


def test_201_ended_without_reason_means_local_and_reasons_are_kept() -> None:
    ended = _tx201(event_type="Ended", transaction_info={"transaction_id": "abc-1"})
    assert transaction_event_201(ended, None).stopped_reason == "Local"
    ended["transaction_info"] = {"transaction_id": "abc-1", "stopped_reason": "PowerLoss"}
    assert transaction_event_201(ended, None).stopped_reason == "PowerLoss"
    assert transaction_event_201(_tx201(), None).stopped_reason is None


def test_201_evse_and_event_key() -> None:
    assert evse_of_201(_tx201(evse={"id": 2, "connector_id": 1})) == 2 and evse_of_201(_tx201()) is None
    assert transaction_event_key_201("abc-1", 3) == transaction_event_key_201("abc-1", 3)
    assert transaction_event_key_201("abc-1", 3) != transaction_event_key_201("abc-1", 4)


def test_201_fault_notices_one_per_event_data() -> None:
    base = {"timestamp": T, "actual_value": "x", "event_notification_type": "HardWiredMonitor", "event_id": 1}
    notices = fault_notices_201(
        [
            {
                **base,
                "trigger": "Alerting",
                "component": {"name": "Connector", "evse": {"id": 2}},
                "variable": {"name": "Problem"},
                "tech_code": "E12",
                "tech_info": "RCD tripped",
                "custom_data": {"vendor_id": "v", "severity": 1},
            },
            {
                **base,
                "trigger": "Delta",
                "component": {"name": "EVSE"},
                "variable": {"name": "Tripped"},
                "cleared": True,
                "custom_data": {"vendor_id": "v", "severity": True},  # not an int: ignored
            },
        ]
    )
    assert notices == [
        (
            parse_time(T),
            2,
            FaultNotice("Connector", "Problem", "Alerting", "x", "E12", "RCD tripped", 1, False),
        ),
        (parse_time(T), None, FaultNotice("EVSE", "Tripped", "Delta", "x", cleared=True)),
    ]
    with pytest.raises(NormalizationError):
        fault_notices_201(
            [{**base, "timestamp": "soon", "component": {"name": "a"}, "variable": {"name": "b"}}]
        )


def test_station_boot_carries_the_network_metadata() -> None:
    md = StationMetadata("CP1", "depot", "Europe/Berlin", 52.5, 13.4, 22.0, 2)
    boot = station_boot("ACME", "AC22", "1.0", None, "PowerUp", md)
    assert boot == StationBoot(
        "ACME",
        "AC22",
        "1.0",
        None,
        "PowerUp",
        site_id="depot",
        time_zone="Europe/Berlin",
        latitude=52.5,
        longitude=13.4,
        max_power_kw=22.0,
        connectors=2,
    )
