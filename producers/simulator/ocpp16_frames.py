"""Canonical events back into what an OCPP 1.6J charger sends. Pure (the `ocpp` package's dataclasses).

The simulator's events are already what a gateway would make of a charger's messages (raw values
and units kept), so the way back is direct: a StatusChange is a StatusNotification, Started a
StartTransaction, and so on. ConnectionChange becomes closing / opening the WebSocket; an Updated
after Ended (pitfall 4) is a MeterValues naming the transaction, as 1.6 has no TransactionEvent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeAlias

from ocpp.v16 import call

from schemas.events import (
    ChargerEvent,
    ConnectionChange,
    Heartbeat,
    MeterValues,
    SampledValue,
    StationBoot,
    StatusChange,
    TransactionEvent,
)

# an ocpp.v16.call dataclass (BootNotification, Heartbeat, StatusNotification, StartTransaction,
# MeterValues, StopTransaction); the package ships no type hints
Call16: TypeAlias = Any


class Link(Enum):
    """Not a message: the charger closes or opens its WebSocket."""

    DOWN = "down"
    UP = "up"


def iso(ms: int) -> str:
    """OCPP dateTime with milliseconds, UTC; negative (pre-1970) times never occur."""
    dt = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def _sampled_value(s: SampledValue) -> dict[str, Any]:
    sv: dict[str, Any] = {"value": s.raw_value, "context": s.context, "measurand": s.measurand}
    if s.raw_unit:
        sv["unit"] = s.raw_unit
    if s.phase:
        sv["phase"] = s.phase
    if s.location:
        sv["location"] = s.location
    return sv


def meter_value_entries(samples: tuple[SampledValue, ...]) -> list[dict[str, Any]]:
    """1.6 meterValue entries: one per timestamp, in the order the samples come."""
    entries: dict[int, list[dict[str, Any]]] = {}
    for s in samples:
        entries.setdefault(s.sampled_at, []).append(_sampled_value(s))
    return [{"timestamp": iso(at), "sampledValue": svs} for at, svs in entries.items()]


def to_call16(ev: ChargerEvent, transaction_ids: Mapping[str, int]) -> Call16 | Link | None:
    """What the charger sends for `ev`; `transaction_ids` maps the simulator's transaction ids to
    the ones the central system answered StartTransaction with. None: nothing to send."""
    p = ev.payload
    if isinstance(p, ConnectionChange):
        return Link.UP if p.connected else Link.DOWN
    if isinstance(p, StationBoot):
        return call.BootNotification(
            charge_point_model=p.model,
            charge_point_vendor=p.vendor,
            charge_point_serial_number=p.serial_number,
            firmware_version=p.firmware_version,
        )
    if isinstance(p, Heartbeat):
        return call.Heartbeat()
    if isinstance(p, StatusChange):
        return call.StatusNotification(
            connector_id=ev.connector_id,
            error_code=p.error_code or "NoError",
            status=p.status,
            timestamp=iso(ev.station_time),
            info=p.info,
            vendor_error_code=p.vendor_error_code,
        )
    if isinstance(p, MeterValues):
        tx = transaction_ids.get(p.transaction_id) if p.transaction_id else None
        return call.MeterValues(
            connector_id=ev.connector_id, meter_value=meter_value_entries(p.samples), transaction_id=tx
        )
    if isinstance(p, TransactionEvent):
        tag = ev.extra.get("id_tag")
        if p.event_type == "Started":
            return call.StartTransaction(
                connector_id=ev.connector_id,
                id_tag=str(tag or "UNKNOWN"),
                meter_start=round(p.meter_wh or 0),
                timestamp=iso(ev.station_time),
            )
        tx = transaction_ids.get(p.transaction_id)
        if tx is None:
            return None  # its start never got an answer: a real charger could not name it either
        if p.event_type == "Ended":
            return call.StopTransaction(
                meter_stop=round(p.meter_wh or 0),
                timestamp=iso(ev.station_time),
                transaction_id=tx,
                reason=p.stopped_reason,
                id_tag=tag,
                transaction_data=meter_value_entries(p.samples) or None,
            )
        return call.MeterValues(
            connector_id=ev.connector_id, meter_value=meter_value_entries(p.samples), transaction_id=tx
        )
    return None  # FaultNotice: 2.0.1 only
