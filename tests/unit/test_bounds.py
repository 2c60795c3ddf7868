"""Physical bounds, the same at every entry: gateway, SDK, worker engine and sink (issue #10 §2)."""

from __future__ import annotations

import math

import pytest

from producers.sdk.producer import ChargerEventProducer, InvalidEvent
from schemas.bounds import MAX_REGISTER_WH, OutOfBounds, check_event, out_of_bounds
from schemas.codec import EmbeddedCodec
from schemas.events import (
    ChargerEvent,
    MeterValues,
    Payload,
    SampledValue,
    StationBoot,
    StatusChange,
    TransactionEvent,
    to_record,
)
from sinks.rows import rows_for
from streams.station import StationState, process
from tests.unit.session_harness import T0
from tests.unit.test_sessions import _policy


def _ev(payload: Payload, connector: int = 1, at: int = T0, evse: int | None = None) -> ChargerEvent:
    return ChargerEvent("e1", "ST", connector, at, at, "test", payload, evse_id=evse)


def _wh(value: float, unit: str = "Wh", measurand: str = "Energy.Active.Import.Register") -> MeterValues:
    return MeterValues((SampledValue(T0, unit, value, repr(value), measurand=measurand),), "tx")


ABSURD = {
    "connector -1": _ev(StatusChange("Available"), connector=-1),
    "connector 70000": _ev(StatusChange("Available"), connector=70_000),
    "evse -1": _ev(StatusChange("Occupied"), evse=-1),
    "register 1e308": _ev(_wh(1e308)),
    "register 1e19": _ev(_wh(1e19)),
    "register inf": _ev(_wh(math.inf)),
    "register negative": _ev(_wh(-1.0)),
    "power 1e300": _ev(_wh(1e300, "W", "Power.Active.Import")),
    "meterStop 1e18": _ev(TransactionEvent("Ended", "tx", meter_wh=1e18)),
    "meterStart nan": _ev(TransactionEvent("Started", "tx", meter_wh=math.nan)),
    "year 2150": _ev(StatusChange("Available"), at=5_680_281_600_000),
    "before 1970": _ev(StatusChange("Available"), at=-1),
    "rated power 1e9 kW": _ev(StationBoot("ACME", "X", max_power_kw=1e9), connector=0),
}
PLAUSIBLE = {
    "register at the bound": _ev(_wh(float(MAX_REGISTER_WH))),
    "kWh register": _ev(_wh(20.1094, "kWh")),
    "signed value (unreadable)": _ev(_wh(math.nan)),
    "connector 0": _ev(StatusChange("Faulted"), connector=0),
    "1970 clock after a power loss": _ev(StatusChange("Available"), at=1_000),
    "negative power (export)": _ev(_wh(-7_000.0, "W", "Power.Active.Import")),
}


@pytest.mark.parametrize("name", ABSURD)
def test_absurd_events_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(OutOfBounds):
        check_event(ABSURD[name])


@pytest.mark.parametrize("name", PLAUSIBLE)
def test_real_charger_quirks_pass(name: str) -> None:
    assert out_of_bounds(PLAUSIBLE[name]) is None


@pytest.mark.parametrize("name", ABSURD)
def test_the_engine_refuses_them_too(name: str) -> None:
    out = process(StationState("ST"), ABSURD[name], _policy())
    assert [reason.startswith("out of bounds:") for _, reason in out.rejected] == [True]


@pytest.mark.parametrize("name", ["connector -1", "connector 70000", "register 1e19", "year 2150"])
def test_the_sink_refuses_them_as_a_bad_record(name: str) -> None:
    codec = EmbeddedCodec()
    try:
        decoded = codec.decode("charger.events", codec.encode("charger.events", to_record(ABSURD[name])))
    except Exception:  # the Avro schema itself refuses it (an int out of its type's range)
        return
    with pytest.raises(ValueError, match=r"outside|not"):
        rows_for("charger.events", decoded)


def test_the_sdk_refuses_them_before_sending() -> None:
    producer = ChargerEventProducer("127.0.0.1:1", codec=EmbeddedCodec())
    with pytest.raises(InvalidEvent, match="out of bounds"):
        producer.send(ABSURD["register 1e19"])
    assert producer.sent == 0


@pytest.mark.parametrize(("register_wh", "held"), [(400_000, True), (9_000, False)])
def test_a_bill_beyond_the_rated_power_is_held_for_review_not_sent_as_is(
    register_wh: int, held: bool
) -> None:
    from tests.unit.session_harness import Station, run, wh

    s = Station("HOLD")
    events = [
        s.ev(0, StationBoot("ACME", "AC22", site_id="north", max_power_kw=22.0), connector=0),
        s.ev(0, StatusChange("Preparing")),
        s.ev(1, TransactionEvent("Started", "tx", meter_wh=1_000)),
        s.ev(1, StatusChange("Charging")),
        s.ev(30, MeterValues((wh(30, register_wh),), "tx")),  # 399 kWh in 29 min at 22 kW: a meter fault
        s.ev(60, TransactionEvent("Ended", "tx", meter_wh=register_wh + 1_000)),
        s.ev(61, StatusChange("Available")),
    ]
    (bill,) = [r for r in run(events, _policy()).sessions if r["is_final"]]
    assert ({"held_for_review", "implausible_energy", "not_billable"} <= set(bill["quality_flags"])) is held
    assert (bill["cost_total_incl_vat"] == 0) is held
