"""Decoded topic records → ClickHouse rows. Pure: no Kafka, no ClickHouse.

One `TableSpec` per table names each column next to its ClickHouse type and how its value is made
(compare clickhouse-connect's `TableColumnDef`); `TOPICS` is the one registry of what the sink reads:
per topic its wire format and the tables its records fill. A test checks every spec against
`system.columns` of a migrated store, so the DDL and the mapping cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from operator import attrgetter
from typing import Any, Final, Generic, Literal, TypeVar

from schemas.bounds import MAX_CONNECTOR_ID, OutOfBounds, check_event
from schemas.events import ChargerEvent, MeterValues, SampledValue, StationBoot, StatusChange, from_record
from schemas.records import COST_COMPONENTS, COST_PREFIX, Alert, Feedback, PortOutage, SessionRecord
from schemas.topics import ALERT_TOPICS, CHARGER_EVENTS, DRIVER_FEEDBACK, PORT_OUTAGES, SESSIONS
from sinks.time_zones import transitions

Row = tuple[Any, ...]
R = TypeVar("R")
_TIME: Final = "DateTime64(3, 'UTC')"
_NULLABLE_TIME: Final = f"Nullable({_TIME})"
_LC: Final = "LowCardinality(String)"
_MONEY: Final = "Decimal(18, 4)"
_FLAGS: Final = "Array(LowCardinality(String))"


@dataclass(frozen=True, slots=True)
class Column(Generic[R]):
    name: str
    type: str  # as system.columns spells it
    value: Callable[[R], Any]


def attr(name: str, type_: str, source: str | None = None) -> Column[Any]:
    """A column whose value is the source's attribute of that name."""
    return Column(name, type_, attrgetter(source or name))


@dataclass(frozen=True, slots=True)
class TableSpec(Generic[R]):
    table: str
    columns: tuple[Column[R], ...]
    server_filled: tuple[str, ...] = ()  # columns ClickHouse fills itself (MATERIALIZED, insert time)
    _values: tuple[Callable[[R], Any], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_values", tuple(c.value for c in self.columns))  # the hot loop's tuple

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def types(self) -> list[str]:
        return [c.type for c in self.columns]

    def row(self, source: R) -> Row:
        return tuple([value(source) for value in self._values])


def _connector(value: int | None) -> int | None:
    """A connector id for a UInt16 column: out of range is a bad record (DLQ), not a dead sink."""
    if value is not None and not 0 <= value <= MAX_CONNECTOR_ID:
        raise OutOfBounds(f"connector id {value} is outside 0..{MAX_CONNECTOR_ID}")
    return value


def _time(name: str) -> Callable[[Any], int | None]:
    # Epoch ms as they are: clickhouse-connect writes an int to DateTime64(3) as its ticks, which
    # saves a datetime round trip per value on both sides.
    return attrgetter(name)


def _text(name: str) -> Callable[[Any], str]:
    """An optional string stored as '' (the column is not Nullable)."""
    get = attrgetter(name)
    return lambda source: get(source) or ""


# -- charger events -------------------------------------------------------------------------------
Sample = tuple[ChargerEvent, MeterValues, SampledValue]  # the event, its payload, one of its samples

METER_VALUES: Final[TableSpec[Sample]] = TableSpec(
    "meter_values",
    (
        Column("station_id", _LC, lambda s: s[0].station_id),
        Column("connector_id", "UInt16", lambda s: s[0].connector_id),
        Column("transaction_id", "String", lambda s: s[1].transaction_id or ""),
        Column("sampled_at", _TIME, lambda s: s[2].sampled_at),
        Column("measurand", _LC, lambda s: s[2].measurand),
        Column("phase", _LC, lambda s: s[2].phase or ""),
        Column("location", _LC, lambda s: s[2].location or ""),
        Column("context", _LC, lambda s: s[2].context),
        Column("unit", _LC, lambda s: s[2].unit),
        Column("value", "Float64", lambda s: s[2].value),
        Column("raw_value", "String", lambda s: s[2].raw_value),
        Column("event_id", "String", lambda s: s[0].event_id),
        Column("received_at", _TIME, lambda s: s[0].received_at),
    ),
)

STATUS_CHANGES: Final[TableSpec[ChargerEvent]] = TableSpec(
    "status_changes",
    (
        attr("station_id", _LC),
        attr("connector_id", "UInt16"),
        Column("station_time", _TIME, _time("station_time")),
        Column("received_at", _TIME, _time("received_at")),
        attr("status", _LC, "payload.status"),
        Column("error_code", _LC, _text("payload.error_code")),
        Column("vendor_error_code", "String", _text("payload.vendor_error_code")),
        Column("info", "String", _text("payload.info")),
        attr("event_id", "String"),
    ),
)

STATION_EVENTS: Final[TableSpec[ChargerEvent]] = TableSpec(
    "station_events",
    (
        attr("station_id", _LC),
        attr("connector_id", "UInt16"),
        Column("station_time", _TIME, _time("station_time")),
        Column("received_at", _TIME, _time("received_at")),
        attr("kind", _LC),
        attr("source", _LC),
        Column("details", "String", lambda ev: json.dumps(asdict(ev.payload), default=str, sort_keys=True)),
        attr("event_id", "String"),
    ),
)


Offset = tuple[
    str, int, int
]  # a time zone, the instant (epoch ms) its UTC offset changes, the new offset (s)

TZ_OFFSETS: Final[TableSpec[Offset]] = TableSpec(
    "tz_offsets",
    (
        Column("time_zone", _LC, lambda o: o[0]),
        Column("from_utc", _TIME, lambda o: o[1]),
        Column("offset_s", "Int32", lambda o: o[2]),
    ),
)


def event_rows(ev: ChargerEvent) -> Iterator[tuple[str, Row]]:
    p = ev.payload
    if isinstance(p, MeterValues):
        for s in p.samples:
            yield METER_VALUES.table, METER_VALUES.row((ev, p, s))
    elif isinstance(p, StatusChange):
        yield STATUS_CHANGES.table, STATUS_CHANGES.row(ev)
    else:
        yield STATION_EVENTS.table, STATION_EVENTS.row(ev)
        if isinstance(p, StationBoot) and p.time_zone:  # every boot: stateless, and the table keeps one
            for at, offset in transitions(p.time_zone):
                yield TZ_OFFSETS.table, TZ_OFFSETS.row((p.time_zone, at, offset))


# -- session records ------------------------------------------------------------------------------
def _cost(component: str) -> Callable[[SessionRecord], Decimal]:
    get = attrgetter(component)
    return lambda rec: get(rec.costs)


def _bill_cost(component: str) -> Callable[[SessionRecord], Decimal]:
    # A credit cancels the session's bill: a deleted row of its (higher) version, which
    # billing_records FINAL drops; a new bill, of a higher version still, brings the session back.
    get = attrgetter(component)
    return lambda rec: Decimal(0) if rec.kind == "credit" else get(rec.costs)


def _costs(make: Callable[[str], Callable[[SessionRecord], Decimal]]) -> tuple[Column[SessionRecord], ...]:
    return tuple(Column(COST_PREFIX + n, _MONEY, make(n)) for n in COST_COMPONENTS)


SESSION_UPDATES: Final[TableSpec[SessionRecord]] = TableSpec(
    "session_updates",
    (
        attr("session_id", "String"),
        attr("version", "UInt64"),
        attr("state", _LC),
        attr("is_final", "Bool"),
        attr("station_id", _LC),
        attr("connector_id", "UInt16"),
        attr("energy_wh", "Int64"),
        Column("emitted_at", _TIME, _time("emitted_at")),
        attr("record_type", _LC, "kind"),
    ),
)

BILLING_RECORDS: Final[TableSpec[SessionRecord]] = TableSpec(
    "billing_records",
    (
        attr("session_id", "String"),
        attr("station_id", _LC),
        attr("connector_id", "UInt16"),
        Column("site_id", _LC, _text("site_id")),
        Column("id_token_hash", "String", _text("id_token_hash")),
        Column("tariff_id", "String", _text("tariff_id")),
        Column("transaction_id", "String", _text("transaction_id")),
        Column("plugged_in_at", _TIME, _time("plugged_in_at")),
        Column("charging_started_at", _NULLABLE_TIME, _time("charging_started_at")),
        Column("charging_ended_at", _NULLABLE_TIME, _time("charging_ended_at")),
        Column("unplugged_at", _NULLABLE_TIME, _time("unplugged_at")),
        Column("energy_wh", "UInt64", lambda rec: 0 if rec.kind == "credit" else rec.energy_wh),
        attr("charging_minutes", "Float64"),
        attr("idle_minutes", "Float64"),
        attr("max_power_kw", "Float64"),
        *_costs(_bill_cost),
        attr("currency", _LC),
        Column("stop_reason", _LC, _text("stop_reason")),
        Column("quality_flags", _FLAGS, lambda rec: list(rec.quality_flags)),
        attr("charging_periods", "String"),
        attr("priced_with", "String"),
        attr("version", "UInt64"),
        Column("emitted_at", _TIME, _time("emitted_at")),
        Column("is_deleted", "UInt8", lambda rec: 1 if rec.kind == "credit" else 0),
    ),
    server_filled=("energy_kwh", "inserted_at"),
)

BILLING_LEDGER: Final[TableSpec[SessionRecord]] = TableSpec(
    "billing_ledger",
    (
        attr("session_id", "String"),
        attr("version", "UInt64"),
        attr("record_type", _LC, "kind"),
        attr("corrects_version", "Nullable(UInt64)"),
        attr("station_id", _LC),
        Column("site_id", _LC, _text("site_id")),
        Column("tariff_id", "String", _text("tariff_id")),
        attr("energy_wh", "Int64"),
        *_costs(_cost),
        attr("currency", _LC),
        Column("quality_flags", _FLAGS, lambda rec: list(rec.quality_flags)),
        Column("emitted_at", _TIME, _time("emitted_at")),
        # what the hourly split needs (008_analytics.sql): a credit carries the times of the bill it cancels
        attr("connector_id", "UInt16"),
        Column("plugged_in_at", _TIME, _time("plugged_in_at")),
        Column("charging_started_at", _NULLABLE_TIME, _time("charging_started_at")),
        Column("charging_ended_at", _NULLABLE_TIME, _time("charging_ended_at")),
        Column("unplugged_at", _NULLABLE_TIME, _time("unplugged_at")),
        attr("charging_minutes", "Float64"),
        attr("idle_minutes", "Float64"),
    ),
)


def session_rows(rec: SessionRecord) -> Iterator[tuple[str, Row]]:
    _connector(rec.connector_id)
    yield SESSION_UPDATES.table, SESSION_UPDATES.row(rec)
    if rec.kind in ("bill", "credit"):
        yield BILLING_RECORDS.table, BILLING_RECORDS.row(rec)
        yield BILLING_LEDGER.table, BILLING_LEDGER.row(rec)


# -- feedback and alerts --------------------------------------------------------------------------
FEEDBACK: Final[TableSpec[Feedback]] = TableSpec(
    "feedback",
    (
        attr("feedback_id", "String"),
        attr("station_id", _LC),
        Column("connector_id", "Nullable(UInt16)", lambda f: _connector(f.connector_id)),
        attr("rating", "Nullable(UInt8)"),
        attr("category", _LC),
        Column("comment", "String", _text("comment")),
        Column("user_ref_hash", "String", _text("user_ref_hash")),
        Column("submitted_at", _TIME, _time("submitted_at")),
        Column("received_at", _TIME, _time("received_at")),
    ),
)


def _alert_details(a: Alert) -> str:
    # Until the alerts table has columns of their own, where and which version ride in details.
    extra: dict[str, Any] = {"connector_id": a.connector_id, "session_id": a.session_id}
    extra = {k: v for k, v in extra.items() if v is not None}
    if a.version:
        extra["version"] = a.version
    return json.dumps({**a.details, **extra}, sort_keys=True, default=str)


ALERTS: Final[TableSpec[Alert]] = TableSpec(
    "alerts",
    (
        attr("alert_id", "String"),
        attr("type", _LC),
        attr("severity", _LC),
        attr("status", _LC),
        Column("station_id", _LC, _text("station_id")),
        Column("site_id", _LC, _text("site_id")),
        Column("opened_at", _TIME, _time("opened_at")),
        Column("updated_at", _TIME, _time("updated_at")),
        Column("details", "String", _alert_details),
        attr("version", "UInt32"),
        attr("connector_id", "Nullable(UInt16)"),
        Column("resolved_at", f"Nullable({_TIME})", _time("resolved_at")),
        Column("members", "String", lambda a: json.dumps([dict(m) for m in a.members], sort_keys=True)),
        attr("parent_id", "Nullable(String)"),
        attr("summary", "String"),
    ),
)


PORT_OUTAGES_TABLE: Final[TableSpec[PortOutage]] = TableSpec(
    "port_outages",
    (
        attr("outage_id", "String"),
        attr("station_id", _LC),
        Column("connector_id", "UInt16", lambda o: _connector(o.connector_id)),
        Column("site_id", _LC, _text("site_id")),
        Column("started_at", _TIME, _time("started_at")),
        Column("ended_at", f"Nullable({_TIME})", _time("ended_at")),
        attr("cause", _LC),
        attr("version", "UInt8"),
    ),
)


def _one(spec: TableSpec[R], source: R) -> Iterator[tuple[str, Row]]:
    yield spec.table, spec.row(source)


# -- the topic registry ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TopicMapping:
    wire: Literal["avro", "json"]
    rows: Callable[[dict[str, Any]], Iterator[tuple[str, Row]]]
    tables: tuple[TableSpec[Any], ...]


def _events(decoded: dict[str, Any]) -> Iterator[tuple[str, Row]]:
    ev = from_record(decoded)
    check_event(ev)  # OutOfBounds: a column would overflow or a value is no reading
    return event_rows(ev)


TOPICS: Final[dict[str, TopicMapping]] = {
    CHARGER_EVENTS: TopicMapping("avro", _events, (METER_VALUES, STATUS_CHANGES, STATION_EVENTS, TZ_OFFSETS)),
    SESSIONS: TopicMapping(
        "avro",
        lambda d: session_rows(SessionRecord.from_dict(d)),
        (SESSION_UPDATES, BILLING_RECORDS, BILLING_LEDGER),
    ),
    DRIVER_FEEDBACK: TopicMapping("avro", lambda d: _one(FEEDBACK, Feedback.from_dict(d)), (FEEDBACK,)),
    **{
        topic: TopicMapping("json", lambda d: _one(ALERTS, Alert.from_dict(d)), (ALERTS,))
        for topic in ALERT_TOPICS
    },
    PORT_OUTAGES: TopicMapping(
        "json", lambda d: _one(PORT_OUTAGES_TABLE, PortOutage.from_dict(d)), (PORT_OUTAGES_TABLE,)
    ),
}
TABLES: Final[dict[str, TableSpec[Any]]] = {spec.table: spec for m in TOPICS.values() for spec in m.tables}
COLUMNS: Final[dict[str, tuple[str, ...]]] = {name: tuple(spec.names) for name, spec in TABLES.items()}


def rows_for(topic: str, decoded: dict[str, Any]) -> list[tuple[str, Row]]:
    """Rows for one decoded record of a topic; RecordError for a record that cannot be stored (anything
    else raised here is a bug of ours, such as a topic the sink should not have subscribed to)."""
    mapping = TOPICS.get(topic)
    if mapping is None:
        raise KeyError(f"no table mapping for topic {topic!r}")  # a bug: the sink subscribed to it
    return list(mapping.rows(decoded))
