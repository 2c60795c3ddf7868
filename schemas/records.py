"""The typed records the pipeline derives: session records (`sessions`), alerts (`alerts.*`) and driver
feedback (`driver.feedback`), next to the events in `schemas.events`.

Each field is named once, here. The wire form (an Avro or JSON mapping) is made and read only at the
codec edge, with ``to_dict`` / ``from_dict`` — the hooks confluent-kafka's AvroSerializer and
AvroDeserializer take. ``from_dict`` accepts what any version of a topic's schema gives (older
versions lack newer fields, which take their defaults) and raises RecordError for a record it cannot
read: a record error goes to a DLQ, it is not a bug.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Self

from schemas.bounds import MAX_TIME_MS, MIN_TIME_MS
from schemas.errors import RecordError
from schemas.events import to_ms

ZERO: Final = Decimal("0.0000")
COST_PREFIX: Final = "cost_"


def _ms(value: datetime | int | float | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, float):
        return int(value)
    return to_ms(value)


def _required_field(f: Field[Any]) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _required(cls: type[Any], data: dict[str, Any], names: tuple[str, ...]) -> None:
    missing = [n for n in names if n not in data]
    if missing:
        raise RecordError(f"{cls.__name__} without {', '.join(missing)}")


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value or ZERO)


@dataclass(frozen=True, slots=True)
class Costs:
    """A bill's money per OCPI component, excluding VAT, and the total also including it. On the
    wire each is a `cost_<component>` field (decimal, 4 places)."""

    energy: Decimal = ZERO
    time: Decimal = ZERO
    parking: Decimal = ZERO
    flat: Decimal = ZERO
    total: Decimal = ZERO
    total_incl_vat: Decimal = ZERO

    def negated(self) -> Costs:
        return Costs(*(-getattr(self, n) for n in COST_COMPONENTS))

    def to_dict(self) -> dict[str, Decimal]:
        return {COST_PREFIX + n: getattr(self, n) for n in COST_COMPONENTS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Costs:
        # v1 session records have no total including VAT (null or absent): zero, as before
        return cls(*[_decimal(data.get(key)) for key in COST_FIELDS])


COST_COMPONENTS: Final = tuple(f.name for f in fields(Costs))
COST_FIELDS: Final = tuple(COST_PREFIX + n for n in COST_COMPONENTS)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One record of a session on `sessions`: a lifecycle ``update``, the ``bill`` (final: what the
    driver pays) or a ``credit`` (cancels an issued bill; money and energy negated). Times are epoch ms."""

    session_id: str
    station_id: str
    connector_id: int
    plugged_in_at: int
    emitted_at: int
    state: str
    version: int = 0
    record_type: str = "update"
    corrects_version: int | None = None
    is_final: bool = False
    site_id: str | None = None
    transaction_id: str | None = None
    id_token_hash: str | None = None
    tariff_id: str | None = None
    charging_started_at: int | None = None
    charging_ended_at: int | None = None
    unplugged_at: int | None = None
    energy_wh: int = 0
    charging_minutes: float = 0.0
    idle_minutes: float = 0.0
    max_power_kw: float = 0.0
    costs: Costs = field(default_factory=Costs)
    currency: str = "EUR"
    stop_reason: str | None = None
    quality_flags: tuple[str, ...] = ()
    charging_periods: str = "[]"  # OCPI charging periods, JSON
    priced_with: str = ""  # the tariff and time zone the bill was priced with, JSON

    @property
    def kind(self) -> str:
        """What the record is: is_final decides a bill (v1 records have no type, and a writer that
        leaves the v2 field out gets its default "update")."""
        return "bill" if self.is_final else self.record_type or "update"

    def bill_key(self) -> tuple[Any, ...]:
        """What makes two bills of a session differ for the driver (an equal bill is not re-sent)."""
        return (
            self.energy_wh,
            self.unplugged_at,
            self.charging_started_at,
            self.charging_ended_at,
            self.idle_minutes,
            self.stop_reason,
            self.costs.total,
            self.costs.total_incl_vat,
        )

    def credit(self, version: int, at: int) -> SessionRecord:
        """A record cancelling this bill: same session, money and energy negated (the ledger sums)."""
        return replace(
            self,
            version=version,
            record_type="credit",
            corrects_version=self.version,
            is_final=False,
            emitted_at=at,
            energy_wh=-self.energy_wh,
            costs=self.costs.negated(),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _SESSION_SCALARS}
        out["quality_flags"] = list(self.quality_flags)
        out.update(self.costs.to_dict())
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _required(cls, data, _SESSION_REQUIRED)
        try:
            values = {name: data[name] for name in _SESSION_SCALARS if name in data}
            for name in _SESSION_TIMES:
                value = values.get(name)
                if value is not None and not isinstance(value, int):
                    values[name] = _ms(value)
            values["quality_flags"] = tuple(data.get("quality_flags") or ())
            values["charging_periods"] = data.get("charging_periods") or "[]"
            values["priced_with"] = data.get("priced_with") or ""
            values["record_type"] = data.get("record_type") or "update"
            return cls(costs=Costs.from_dict(data), **values)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise RecordError(f"unreadable session record: {exc}") from exc


_SESSION_SCALARS: Final = tuple(
    f.name for f in fields(SessionRecord) if f.name not in ("costs", "quality_flags")
)
_SESSION_TIMES: Final = (
    "plugged_in_at",
    "emitted_at",
    "charging_started_at",
    "charging_ended_at",
    "unplugged_at",
)
_SESSION_REQUIRED: Final = tuple(f.name for f in fields(SessionRecord) if _required_field(f))


@dataclass(frozen=True, slots=True)
class Alert:
    """The alert record of ARCHITECTURE.md §4, the JSON value on `alerts.*`. Times are epoch ms."""

    alert_id: str
    type: str
    status: str  # opened → updated / escalated → resolved
    opened_at: int
    updated_at: int
    severity: str = "warning"  # info, warning, critical
    version: int = 0
    station_id: str | None = None
    connector_id: int | None = None
    site_id: str | None = None
    session_id: str | None = None
    resolved_at: int | None = None
    members: tuple[dict[str, Any], ...] = ()  # {station_id, connector_id} an incident covers
    parent_id: str | None = None
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _ALERT_FIELDS}
        out["members"] = [dict(m) for m in self.members]
        out["details"] = dict(self.details)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """From JSON that any producer can get wrong: a missing or unreadable field is a RecordError."""
        _required(cls, data, _ALERT_REQUIRED)
        details = data.get("details") or {}
        if not isinstance(details, dict):
            raise RecordError("alert details is not an object")
        members = data.get("members") or ()
        if not isinstance(members, list | tuple) or not all(isinstance(m, dict) for m in members):
            raise RecordError("alert members is not a list of objects")
        values = {name: data[name] for name in _ALERT_FIELDS if name in data}
        for name in ("opened_at", "updated_at", "resolved_at"):
            if name in values:
                values[name] = _alert_time(name, values[name])
        values.update(details=details, members=tuple(members))
        try:
            return cls(**values)
        except TypeError as exc:
            raise RecordError(f"unreadable alert: {exc}") from exc


_ALERT_FIELDS: Final = tuple(f.name for f in fields(Alert))
_ALERT_REQUIRED: Final = tuple(f.name for f in fields(Alert) if _required_field(f))


def _alert_time(name: str, value: Any) -> int | None:
    """Epoch ms; an ISO-8601 string is read too (a hand-written alert from another tool)."""
    if value is None:
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            ms = int(value)
        else:
            ms = to_ms(datetime.fromisoformat(str(value)))
    except (ValueError, OverflowError) as exc:
        raise RecordError(f"alert {name} {str(value)[:40]!r} is not a time") from exc
    if not MIN_TIME_MS <= ms <= MAX_TIME_MS:
        raise RecordError(f"alert {name} {ms} is outside the years 1970..2100")
    return ms


@dataclass(frozen=True, slots=True)
class Feedback:
    """A driver's report on `driver.feedback`. Times are epoch ms."""

    feedback_id: str
    station_id: str
    category: str
    submitted_at: int
    received_at: int
    connector_id: int | None = None
    rating: int | None = None
    comment: str | None = None
    user_ref_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FEEDBACK_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _required(cls, data, _FEEDBACK_REQUIRED)
        values = {name: data[name] for name in _FEEDBACK_FIELDS if name in data}
        values["submitted_at"] = _ms(values["submitted_at"])
        values["received_at"] = _ms(values["received_at"])
        return cls(**values)


_FEEDBACK_FIELDS: Final = tuple(f.name for f in fields(Feedback))
_FEEDBACK_REQUIRED: Final = tuple(f.name for f in fields(Feedback) if _required_field(f))


@dataclass(frozen=True, slots=True)
class Resolution:
    """Ops resolving an alert by hand (`chargestream alerts resolve`), on `ops.resolutions`: the stage
    that owns the alert publishes the resolved version, so each alert keeps one writer."""

    alert_id: str
    station_id: str
    at: int  # epoch ms, when ops resolved it
    note: str = ""
    by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _RESOLUTION_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _required(cls, data, _RESOLUTION_REQUIRED)
        values = {name: data[name] for name in _RESOLUTION_FIELDS if name in data}
        for name in ("alert_id", "station_id", "note", "by"):
            if name in values and not isinstance(values[name], str):
                raise RecordError(f"resolution {name} is not a string")
        values["at"] = _alert_time("at", values["at"])
        return cls(**values)


_RESOLUTION_FIELDS: Final = tuple(f.name for f in fields(Resolution))
_RESOLUTION_REQUIRED: Final = tuple(f.name for f in fields(Resolution) if _required_field(f))


@dataclass(frozen=True, slots=True)
class PortOutage:
    """A span a port could not charge (`port.outages`): Faulted or Unavailable, its station Faulted, or
    the station offline. Sent when it opens (``ended_at`` None) and when it ends, as versions 1 and 2.
    Times are epoch ms (event time)."""

    outage_id: str
    station_id: str
    connector_id: int
    started_at: int
    version: int = 1
    ended_at: int | None = None
    site_id: str | None = None
    cause: str = ""  # what took it down first: Faulted, Unavailable, station Faulted, offline

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _OUTAGE_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _required(cls, data, _OUTAGE_REQUIRED)
        values = {name: data[name] for name in _OUTAGE_FIELDS if name in data}
        for name in ("started_at", "ended_at"):
            if name in values:
                values[name] = _alert_time(name, values[name])
        if not isinstance(values["connector_id"], int) or isinstance(values["connector_id"], bool):
            raise RecordError("port outage connector_id is not an integer")
        return cls(**values)


_OUTAGE_FIELDS: Final = tuple(f.name for f in fields(PortOutage))
_OUTAGE_REQUIRED: Final = tuple(f.name for f in fields(PortOutage) if _required_field(f))
