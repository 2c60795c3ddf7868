"""Typed builders of the canonical charger events, for gateways that do not speak OCPP.

Every builder takes the station, (connector,) the station's time of the event and keyword-only
details, plus the envelope options: `message_id` (your gateway's id of the message: the event id
is derived from it, so a re-send is recognisable), `received_at` (when your gateway got it; default
now), `source` and `evse_id`. Times are aware datetimes or epoch milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from producers.sdk.ids import event_id
from producers.sdk.samples import Number, Time, at_ms, sample
from schemas.events import (
    ChargerEvent,
    ConnectionChange,
    FaultNotice,
    Heartbeat,
    MeterValues,
    Payload,
    SampledValue,
    StationBoot,
    StatusChange,
    TransactionEvent,
)
from schemas.identity import id_token_hash

SOURCE = "sdk"
POWER = "Power.Active.Import"
# OCPP 1.6 connector statuses and the 2.0.1 ones (Occupied)
STATUSES = frozenset(
    {
        "Available",
        "Preparing",
        "Charging",
        "SuspendedEVSE",
        "SuspendedEV",
        "Finishing",
        "Reserved",
        "Unavailable",
        "Faulted",
        "Occupied",
    }
)


def hash_id_token(token: str, key: bytes) -> str:
    """What the gateway does to idTags: raw tokens never go into Kafka, a keyed HMAC stands in."""
    return id_token_hash(token, key)


def _event(
    station_id: str,
    connector_id: int,
    at: Time,
    payload: Payload,
    *,
    message_id: str | None,
    received_at: Time | None,
    source: str,
    evse_id: int | None,
) -> ChargerEvent:
    if not station_id:
        raise ValueError("station_id must not be empty")
    if connector_id < 0:
        raise ValueError(f"connector_id {connector_id} < 0 (0 is the whole station)")
    return ChargerEvent(
        event_id=event_id(station_id, message_id),
        station_id=station_id,
        connector_id=connector_id,
        station_time=at_ms(at),
        received_at=at_ms(received_at) if received_at is not None else int(time.time() * 1000),
        source=source,
        payload=payload,
        evse_id=evse_id,
        message_id=message_id,
    )


def meter_values(
    station_id: str,
    connector_id: int,
    at: Time,
    *,
    register_wh: Number | None = None,
    register_kwh: Number | None = None,
    power_w: Number | None = None,
    phases_wh: Mapping[str, Number] | None = None,
    samples: Iterable[SampledValue] = (),
    transaction_id: str | None = None,
    context: str = "Sample.Periodic",
    message_id: str | None = None,
    received_at: Time | None = None,
    source: str = SOURCE,
    evse_id: int | None = None,
) -> ChargerEvent:
    """A meter reading: the energy register total (in Wh or kWh, as your meter says), power,
    per-phase registers (kept apart from the total), and any further `sample(...)`s."""
    if register_wh is not None and register_kwh is not None:
        raise ValueError("give register_wh or register_kwh, not both")
    out: list[SampledValue] = []
    if register_wh is not None:
        out.append(sample(at, register_wh, unit="Wh", context=context))
    if register_kwh is not None:
        out.append(sample(at, register_kwh, unit="kWh", context=context))
    for phase, wh in (phases_wh or {}).items():
        out.append(sample(at, wh, unit="Wh", phase=phase, context=context))
    if power_w is not None:
        out.append(sample(at, power_w, unit="W", measurand=POWER, context=context))
    out.extend(samples)
    if not out:
        raise ValueError("a meter reading needs at least one value")
    return _event(
        station_id,
        connector_id,
        at,
        MeterValues(tuple(out), transaction_id),
        message_id=message_id,
        received_at=received_at,
        source=source,
        evse_id=evse_id,
    )


def status(
    station_id: str,
    connector_id: int,
    at: Time,
    status: str,
    *,
    error_code: str | None = None,
    vendor_error_code: str | None = None,
    info: str | None = None,
    message_id: str | None = None,
    received_at: Time | None = None,
    source: str = SOURCE,
    evse_id: int | None = None,
) -> ChargerEvent:
    if status not in STATUSES:
        raise ValueError(f"unknown connector status {status!r}; one of {', '.join(sorted(STATUSES))}")
    return _event(
        station_id,
        connector_id,
        at,
        StatusChange(status, error_code, vendor_error_code, info),
        message_id=message_id,
        received_at=received_at,
        source=source,
        evse_id=evse_id,
    )


def _wh(at: Time, value: Number | None) -> float | None:
    return None if value is None else sample(at, value, unit="Wh").value


def _check_tx(transaction_id: str) -> str:
    if not transaction_id:
        raise ValueError("transaction_id must not be empty")
    return transaction_id


def transaction_started(
    station_id: str,
    connector_id: int,
    at: Time,
    transaction_id: str,
    *,
    meter_start_wh: Number,
    id_token_hash: str | None = None,
    trigger_reason: str = "Authorized",
    seq_no: int | None = None,
    offline: bool = False,
    samples: Iterable[SampledValue] = (),
    message_id: str | None = None,
    received_at: Time | None = None,
    source: str = SOURCE,
    evse_id: int | None = None,
) -> ChargerEvent:
    """The start of a transaction with the lifetime register value (Wh) at its start."""
    payload = TransactionEvent(
        "Started",
        _check_tx(transaction_id),
        seq_no=seq_no,
        trigger_reason=trigger_reason,
        id_token_hash=id_token_hash,
        meter_wh=_wh(at, meter_start_wh),
        offline=offline,
        samples=tuple(samples),
    )
    return _event(
        station_id,
        connector_id,
        at,
        payload,
        message_id=message_id,
        received_at=received_at,
        source=source,
        evse_id=evse_id,
    )


def transaction_updated(
    station_id: str,
    connector_id: int,
    at: Time,
    transaction_id: str,
    *,
    meter_wh: Number | None = None,
    charging_state: str | None = None,
    trigger_reason: str | None = None,
    seq_no: int | None = None,
    offline: bool = False,
    samples: Iterable[SampledValue] = (),
    message_id: str | None = None,
    received_at: Time | None = None,
    source: str = SOURCE,
    evse_id: int | None = None,
) -> ChargerEvent:
    payload = TransactionEvent(
        "Updated",
        _check_tx(transaction_id),
        seq_no=seq_no,
        trigger_reason=trigger_reason,
        charging_state=charging_state,
        meter_wh=_wh(at, meter_wh),
        offline=offline,
        samples=tuple(samples),
    )
    return _event(
        station_id,
        connector_id,
        at,
        payload,
        message_id=message_id,
        received_at=received_at,
        source=source,
        evse_id=evse_id,
    )


def transaction_ended(
    station_id: str,
    connector_id: int,
    at: Time,
    transaction_id: str,
    *,
    meter_stop_wh: Number,
    stopped_reason: str = "Local",
    id_token_hash: str | None = None,
    seq_no: int | None = None,
    offline: bool = False,
    samples: Iterable[SampledValue] = (),
    message_id: str | None = None,
    received_at: Time | None = None,
    source: str = SOURCE,
    evse_id: int | None = None,
) -> ChargerEvent:
    """The end of a transaction with the register value (Wh) at its end."""
    payload = TransactionEvent(
        "Ended",
        _check_tx(transaction_id),
        seq_no=seq_no,
        stopped_reason=stopped_reason,
        id_token_hash=id_token_hash,
        meter_wh=_wh(at, meter_stop_wh),
        offline=offline,
        samples=tuple(samples),
    )
    return _event(
        station_id,
        connector_id,
        at,
        payload,
        message_id=message_id,
        received_at=received_at,
        source=source,
        evse_id=evse_id,
    )


def boot(
    station_id: str,
    at: Time,
    *,
    vendor: str,
    model: str,
    firmware_version: str | None = None,
    serial_number: str | None = None,
    reason: str | None = None,
    site_id: str | None = None,
    time_zone: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    max_power_kw: float | None = None,
    connectors: int | None = None,
    message_id: str | None = None,
    received_at: Time | None = None,
    source: str = SOURCE,
) -> ChargerEvent:
    """A station (re)boot with its metadata: faults cluster by site and model, idle and tariffs
    depend on the time zone and the rated power."""
    payload = StationBoot(
        vendor,
        model,
        firmware_version,
        serial_number,
        reason,
        site_id,
        time_zone,
        latitude,
        longitude,
        max_power_kw,
        connectors,
    )
    return _event(
        station_id,
        0,
        at,
        payload,
        message_id=message_id,
        received_at=received_at,
        source=source,
        evse_id=None,
    )


def heartbeat(
    station_id: str,
    at: Time,
    *,
    message_id: str | None = None,
    received_at: Time | None = None,
    source: str = SOURCE,
) -> ChargerEvent:
    return _event(
        station_id,
        0,
        at,
        Heartbeat(),
        message_id=message_id,
        received_at=received_at,
        source=source,
        evse_id=None,
    )


def connection(
    station_id: str,
    at: Time,
    connected: bool,
    *,
    reason: str | None = None,
    message_id: str | None = None,
    received_at: Time | None = None,
    source: str = SOURCE,
) -> ChargerEvent:
    """The station's link to your gateway came up or went down."""
    return _event(
        station_id,
        0,
        at,
        ConnectionChange(connected, reason),
        message_id=message_id,
        received_at=received_at,
        source=source,
        evse_id=None,
    )


def fault(
    station_id: str,
    connector_id: int,
    at: Time,
    *,
    component: str,
    variable: str,
    cleared: bool = False,
    trigger: str | None = None,
    actual_value: str | None = None,
    tech_code: str | None = None,
    tech_info: str | None = None,
    severity: int | None = None,
    message_id: str | None = None,
    received_at: Time | None = None,
    source: str = SOURCE,
    evse_id: int | None = None,
) -> ChargerEvent:
    """A fault report (2.0.1 NotifyEvent style); `cleared=True` when it is over."""
    payload = FaultNotice(component, variable, trigger, actual_value, tech_code, tech_info, severity, cleared)
    return _event(
        station_id,
        connector_id,
        at,
        payload,
        message_id=message_id,
        received_at=received_at,
        source=source,
        evse_id=evse_id,
    )
