from __future__ import annotations

import math

import pytest

from producers.gateway.normalize import NormalizationError, event_id, meter_values, parse_time

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
