"""Physical bounds of a charger event: what no real charger can send, refused wherever it enters.

The gateway and the SDK refuse such an event before it is published (CallError / ValueError), the
stream worker refuses it before its engine sees it and the sink before a column would overflow: each
to the DLQ with the reason, so input that did not come through the gateway is held to the same rules.

Clock faults are *not* refused (1970 after a power loss, a clock years ahead): they are real and the
engine corrects them with the gateway's receive time. Only times outside any calendar are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from schemas.errors import RecordError
from schemas.events import (
    ChargerEvent,
    MeterValues,
    Payload,
    SampledValue,
    StationBoot,
    TransactionEvent,
)

# A station's connectors (1.6) or EVSEs (2.0.1); 0 is the station itself. The largest dispensers
# have a few dozen; the contract columns are UInt16.
MAX_CONNECTOR_ID = 255
# An energy register counts at most 10 digits of kWh (10^12 Wh): no charger meter shows more.
MAX_REGISTER_WH = 10**12
# Any other measurand (W, A, V, %, °C, Hz…) of a charger: a megawatt charger draws 10^6 W.
MAX_MEASURAND_ABS = 10**9
MAX_POWER_KW = 10_000.0  # rated power of one station (megawatt charging is ~3,750 kW)
# Epoch ms of 1970-01-01 and 2100-01-01: a time outside is no clock at all.
MIN_TIME_MS = 0
MAX_TIME_MS = 4_102_444_800_000


class OutOfBounds(RecordError):
    """A value no real charger sends; the message names the field and the bound."""


def _time(name: str, ms: int) -> None:
    if not MIN_TIME_MS <= ms < MAX_TIME_MS:
        raise OutOfBounds(f"{name} {ms} ms is outside 1970..2100")


def _register(name: str, wh: float | None) -> None:
    if wh is None:
        return
    if not math.isfinite(wh) or not 0 <= wh <= MAX_REGISTER_WH:
        raise OutOfBounds(f"{name} {wh!r} Wh is not an energy register (0..{MAX_REGISTER_WH:.0e} Wh)")


def is_energy_register(sample: SampledValue) -> bool:
    return sample.unit == "Wh" and sample.measurand.startswith("Energy.") and "Register" in sample.measurand


def check_sample(sample: SampledValue) -> None:
    _time("sampled_at", sample.sampled_at)
    if math.isnan(sample.value):
        return  # unreadable here (a signed value): kept out of the energy and flagged by the engine
    if is_energy_register(sample):
        _register(sample.measurand, sample.value)
    elif not math.isfinite(sample.value) or abs(sample.value) > MAX_MEASURAND_ABS:
        raise OutOfBounds(f"{sample.measurand} {sample.value!r} {sample.unit} is not a physical reading")


def _samples(samples: Iterable[SampledValue]) -> None:
    for s in samples:
        check_sample(s)


def check_payload(connector_id: int, evse_id: int | None, payload: Payload) -> None:
    """Raise OutOfBounds for a connector, value or time no charger can have."""
    for name, value in (("connector id", connector_id), ("evse id", evse_id)):
        if value is not None and not 0 <= value <= MAX_CONNECTOR_ID:
            raise OutOfBounds(f"{name} {value} is outside 0..{MAX_CONNECTOR_ID}")
    if isinstance(payload, MeterValues):
        _samples(payload.samples)
    elif isinstance(payload, TransactionEvent):
        _register("meter value of the transaction", payload.meter_wh)
        _samples(payload.samples)
    elif isinstance(payload, StationBoot):
        kw = payload.max_power_kw
        if kw is not None and (not math.isfinite(kw) or not 0 < kw <= MAX_POWER_KW):
            raise OutOfBounds(f"rated power {kw!r} kW is outside 0..{MAX_POWER_KW:.0f} kW")
        if payload.connectors is not None and not 0 <= payload.connectors <= MAX_CONNECTOR_ID:
            raise OutOfBounds(f"{payload.connectors} connectors is outside 0..{MAX_CONNECTOR_ID}")


def check_event(ev: ChargerEvent) -> None:
    """Raise OutOfBounds unless every field of the event is physically possible."""
    _time("station_time", ev.station_time)
    _time("received_at", ev.received_at)
    check_payload(ev.connector_id, ev.evse_id, ev.payload)


def out_of_bounds(ev: ChargerEvent) -> str | None:
    """The reason the event is refused, or None."""
    try:
        check_event(ev)
    except OutOfBounds as exc:
        return str(exc)
    return None
