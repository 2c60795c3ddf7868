"""The canonical charger events as typed values, and their conversion to/from Avro records.

Times are integer epoch milliseconds (UTC) everywhere in the core: exact, cheap and orderable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, Final

from schemas.errors import RecordError

NAMESPACE = "io.chargestream.events"
ENERGY_REGISTER = "Energy.Active.Import.Register"
SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

GATEWAY_CLOCK_SOURCE: Final = "gateway-clock"
"""A Heartbeat from this source, written to every partition of charger.events, is the gateway's clock:
time goes on while stations are silent (a whole site dark, say), so offline timers fire in event time,
in a replay as live. It belongs to no station (its station_id is GATEWAY_CLOCK_STATION)."""
GATEWAY_CLOCK_STATION: Final = "__gateway_clock__"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(value: datetime | int) -> int:
    """Epoch ms from what fastavro returns for timestamp-millis (an aware datetime) or an int."""
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True)
class SampledValue:
    sampled_at: int
    unit: str
    value: float
    raw_value: str
    measurand: str = ENERGY_REGISTER
    phase: str | None = None
    location: str | None = None
    context: str = "Sample.Periodic"
    raw_unit: str | None = None


@dataclass(frozen=True, slots=True)
class MeterValues:
    samples: tuple[SampledValue, ...]
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: str
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None


@dataclass(frozen=True, slots=True)
class TransactionEvent:
    event_type: str  # Started | Updated | Ended
    transaction_id: str
    seq_no: int | None = None
    trigger_reason: str | None = None
    charging_state: str | None = None
    stopped_reason: str | None = None
    id_token_hash: str | None = None
    meter_wh: float | None = None
    offline: bool = False
    samples: tuple[SampledValue, ...] = ()


@dataclass(frozen=True, slots=True)
class StationBoot:
    vendor: str
    model: str
    firmware_version: str | None = None
    serial_number: str | None = None
    reason: str | None = None
    # Station metadata from the stations file (v2): faults cluster by site, tariffs and idle
    # thresholds depend on the site's time zone and the rated power.
    site_id: str | None = None
    time_zone: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    max_power_kw: float | None = None
    connectors: int | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    connected: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class FaultNotice:
    component: str
    variable: str
    trigger: str | None = None
    actual_value: str | None = None
    tech_code: str | None = None
    tech_info: str | None = None
    severity: int | None = None
    cleared: bool = False


Payload = (
    MeterValues | StatusChange | TransactionEvent | StationBoot | Heartbeat | ConnectionChange | FaultNotice
)
_PAYLOAD_TYPES: dict[str, type[Any]] = {
    f"{NAMESPACE}.{cls.__name__}": cls
    for cls in (
        MeterValues,
        StatusChange,
        TransactionEvent,
        StationBoot,
        Heartbeat,
        ConnectionChange,
        FaultNotice,
    )
}


@dataclass(frozen=True, slots=True)
class ChargerEvent:
    event_id: str
    station_id: str
    connector_id: int
    station_time: int
    received_at: int
    source: str
    payload: Payload
    evse_id: int | None = None
    message_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # never serialised

    @property
    def kind(self) -> str:
        return type(self.payload).__name__


def _sample_to_record(s: SampledValue) -> dict[str, Any]:
    return {f.name: getattr(s, f.name) for f in fields(SampledValue)}


def _payload_to_record(p: Payload) -> dict[str, Any]:
    rec = {f.name: getattr(p, f.name) for f in fields(p)}
    if "samples" in rec:
        rec["samples"] = [_sample_to_record(s) for s in rec["samples"]]
    return rec


def to_record(ev: ChargerEvent) -> dict[str, Any]:
    """The Avro record of an event (union branch named explicitly)."""
    return {
        "event_id": ev.event_id,
        "station_id": ev.station_id,
        "connector_id": ev.connector_id,
        "evse_id": ev.evse_id,
        "station_time": ev.station_time,
        "received_at": ev.received_at,
        "source": ev.source,
        "message_id": ev.message_id,
        "payload": (f"{NAMESPACE}.{type(ev.payload).__name__}", _payload_to_record(ev.payload)),
    }


def _sample_from_record(r: dict[str, Any]) -> SampledValue:
    return SampledValue(**{**r, "sampled_at": to_ms(r["sampled_at"])})


def from_record(rec: dict[str, Any]) -> ChargerEvent:
    """The typed event of a decoded Avro record (read with return_record_name=True)."""
    try:
        name, body = rec["payload"]
    except (KeyError, TypeError, ValueError) as exc:  # a record from another producer's shape
        raise RecordError(f"no payload (name, fields) in the record: {exc}") from exc
    cls = _PAYLOAD_TYPES.get(name)
    if cls is None:
        raise RecordError(f"unknown payload type {name!r}")
    body = dict(body)
    if "samples" in body:
        body["samples"] = tuple(_sample_from_record(s) for s in body["samples"])
    return ChargerEvent(
        event_id=rec["event_id"],
        station_id=rec["station_id"],
        connector_id=rec["connector_id"],
        evse_id=rec.get("evse_id"),
        station_time=to_ms(rec["station_time"]),
        received_at=to_ms(rec["received_at"]),
        source=rec["source"],
        message_id=rec.get("message_id"),
        payload=cls(**body),
    )


# --- compact form: plain tuples, for state that is saved often (the worker's event journal) -------

_PAYLOAD_CLASSES: tuple[type[Any], ...] = tuple(_PAYLOAD_TYPES.values())
_PAYLOAD_TAG: dict[type[Any], int] = {cls: i for i, cls in enumerate(_PAYLOAD_CLASSES)}
_SAMPLE_FIELDS = attrgetter(*SampledValue.__match_args__)
_PAYLOAD_FIELDS: dict[type[Any], Callable[[Any], Any]] = {
    cls: attrgetter(*cls.__match_args__) for cls in _PAYLOAD_CLASSES if len(cls.__match_args__) > 1
}
_EVENT_FIELDS = attrgetter(
    "station_id", "connector_id", "station_time", "received_at", "source", "evse_id", "message_id"
)


def to_tuple(ev: ChargerEvent) -> tuple[Any, ...]:
    """The event without its id as nested tuples of plain values (pickles an order of magnitude
    faster than the frozen dataclasses; `from_tuple` reverses it). ``extra`` is not kept."""
    p = ev.payload
    get = _PAYLOAD_FIELDS.get(type(p))
    body: tuple[Any, ...] = get(p) if get is not None else ()
    if isinstance(p, MeterValues | TransactionEvent):
        samples = tuple(_SAMPLE_FIELDS(s) for s in p.samples)
        body = (samples, *body[1:]) if isinstance(p, MeterValues) else (*body[:-1], samples)
    return (_EVENT_FIELDS(ev), _PAYLOAD_TAG[type(p)], body)


def from_tuple(event_id: str, t: tuple[Any, ...]) -> ChargerEvent:
    head, tag, body = t
    station_id, connector_id, station_time, received_at, source, evse_id, message_id = head
    cls = _PAYLOAD_CLASSES[tag]
    if cls is MeterValues:
        body = (tuple(SampledValue(*s) for s in body[0]), *body[1:])
    elif cls is TransactionEvent:
        body = (*body[:-1], tuple(SampledValue(*s) for s in body[-1]))
    return ChargerEvent(
        event_id, station_id, connector_id, station_time, received_at, source, cls(*body), evse_id, message_id
    )


def clock_tick(at: int) -> ChargerEvent:
    """The gateway's clock at ``at`` (epoch ms), one per partition: its id names the instant."""
    return ChargerEvent(f"clock-{at}", GATEWAY_CLOCK_STATION, 0, at, at, GATEWAY_CLOCK_SOURCE, Heartbeat())
