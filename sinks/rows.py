"""Decoded topic records → ClickHouse rows, per table. Pure: no Kafka, no ClickHouse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from schemas.bounds import MAX_CONNECTOR_ID, OutOfBounds, check_event
from schemas.errors import RecordError
from schemas.events import ChargerEvent, MeterValues, StatusChange, from_ms, from_record, to_ms
from schemas.topics import ALERT_TOPICS, CHARGER_EVENTS, DRIVER_FEEDBACK, SESSIONS

Row = tuple[Any, ...]

COLUMNS: dict[str, tuple[str, ...]] = {
    "meter_values": (
        "station_id",
        "connector_id",
        "transaction_id",
        "sampled_at",
        "measurand",
        "phase",
        "location",
        "context",
        "unit",
        "value",
        "raw_value",
        "event_id",
        "received_at",
    ),
    "status_changes": (
        "station_id",
        "connector_id",
        "station_time",
        "received_at",
        "status",
        "error_code",
        "vendor_error_code",
        "info",
        "event_id",
    ),
    "station_events": (
        "station_id",
        "connector_id",
        "station_time",
        "received_at",
        "kind",
        "source",
        "details",
        "event_id",
    ),
    "billing_records": (
        "session_id",
        "station_id",
        "connector_id",
        "site_id",
        "id_token_hash",
        "tariff_id",
        "transaction_id",
        "plugged_in_at",
        "charging_started_at",
        "charging_ended_at",
        "unplugged_at",
        "energy_wh",
        "charging_minutes",
        "idle_minutes",
        "max_power_kw",
        "cost_energy",
        "cost_time",
        "cost_parking",
        "cost_flat",
        "cost_total",
        "cost_total_incl_vat",
        "currency",
        "stop_reason",
        "quality_flags",
        "charging_periods",
        "priced_with",
        "version",
        "emitted_at",
        "is_deleted",
    ),
    "billing_ledger": (
        "session_id",
        "version",
        "record_type",
        "corrects_version",
        "station_id",
        "site_id",
        "tariff_id",
        "energy_wh",
        "cost_energy",
        "cost_time",
        "cost_parking",
        "cost_flat",
        "cost_total",
        "cost_total_incl_vat",
        "currency",
        "quality_flags",
        "emitted_at",
    ),
    "session_updates": (
        "session_id",
        "version",
        "state",
        "is_final",
        "station_id",
        "connector_id",
        "energy_wh",
        "emitted_at",
        "record_type",
    ),
    "feedback": (
        "feedback_id",
        "station_id",
        "connector_id",
        "rating",
        "category",
        "comment",
        "user_ref_hash",
        "submitted_at",
        "received_at",
    ),
    "alerts": (
        "alert_id",
        "type",
        "severity",
        "status",
        "station_id",
        "site_id",
        "opened_at",
        "updated_at",
        "details",
    ),
}


def _connector(value: int | None) -> int | None:
    """A connector id for a UInt16 column: out of range is a bad record (DLQ), not a dead sink."""
    if value is not None and not 0 <= value <= MAX_CONNECTOR_ID:
        raise OutOfBounds(f"connector id {value} is outside 0..{MAX_CONNECTOR_ID}")
    return value


def _dt(value: datetime | int | None) -> datetime | None:
    if value is None:
        return None
    return from_ms(to_ms(value))


def event_rows(ev: ChargerEvent) -> Iterator[tuple[str, Row]]:
    p = ev.payload
    received = from_ms(ev.received_at)
    if isinstance(p, MeterValues):
        for s in p.samples:
            yield (
                "meter_values",
                (
                    ev.station_id,
                    ev.connector_id,
                    p.transaction_id or "",
                    from_ms(s.sampled_at),
                    s.measurand,
                    s.phase or "",
                    s.location or "",
                    s.context,
                    s.unit,
                    s.value,
                    s.raw_value,
                    ev.event_id,
                    received,
                ),
            )
        return
    if isinstance(p, StatusChange):
        yield (
            "status_changes",
            (
                ev.station_id,
                ev.connector_id,
                from_ms(ev.station_time),
                received,
                p.status,
                p.error_code or "",
                p.vendor_error_code or "",
                p.info or "",
                ev.event_id,
            ),
        )
        return
    details = asdict(p)
    yield (
        "station_events",
        (
            ev.station_id,
            ev.connector_id,
            from_ms(ev.station_time),
            received,
            ev.kind,
            ev.source,
            json.dumps(details, default=str, sort_keys=True),
            ev.event_id,
        ),
    )


def _costs(rec: dict[str, Any], zero: Decimal) -> tuple[Decimal, ...]:
    return (
        rec["cost_energy"],
        rec["cost_time"],
        rec["cost_parking"],
        rec["cost_flat"],
        rec["cost_total"],
        rec.get("cost_total_incl_vat") or zero,
    )


def session_rows(rec: dict[str, Any]) -> Iterator[tuple[str, Row]]:
    # is_final decides what a bill is: v1 records have no type, and a writer that leaves the v2 field
    # out gets its default "update".
    kind = "bill" if rec["is_final"] else rec.get("record_type") or "update"
    _connector(rec["connector_id"])
    yield (
        "session_updates",
        (
            rec["session_id"],
            rec["version"],
            rec["state"],
            rec["is_final"],
            rec["station_id"],
            rec["connector_id"],
            rec["energy_wh"],
            _dt(rec["emitted_at"]),
            kind,
        ),
    )
    zero = Decimal(0)
    if kind in ("bill", "credit"):
        # A credit cancels the session's bill: a deleted row of its (higher) version, which
        # billing_records FINAL drops; a new bill, of a higher version still, brings the session back.
        credit = kind == "credit"
        yield (
            "billing_records",
            (
                rec["session_id"],
                rec["station_id"],
                rec["connector_id"],
                rec.get("site_id") or "",
                rec.get("id_token_hash") or "",
                rec.get("tariff_id") or "",
                rec.get("transaction_id") or "",
                _dt(rec["plugged_in_at"]),
                _dt(rec.get("charging_started_at")),
                _dt(rec.get("charging_ended_at")),
                _dt(rec.get("unplugged_at")),
                0 if credit else rec["energy_wh"],
                rec["charging_minutes"],
                rec["idle_minutes"],
                rec["max_power_kw"],
                *((zero,) * 6 if credit else _costs(rec, zero)),
                rec["currency"],
                rec.get("stop_reason") or "",
                rec.get("quality_flags") or [],
                rec.get("charging_periods") or "[]",
                rec.get("priced_with") or "",
                rec["version"],
                _dt(rec["emitted_at"]),
                1 if credit else 0,
            ),
        )
    if kind in ("bill", "credit"):
        yield (
            "billing_ledger",
            (
                rec["session_id"],
                rec["version"],
                kind,
                rec.get("corrects_version"),
                rec["station_id"],
                rec.get("site_id") or "",
                rec.get("tariff_id") or "",
                rec["energy_wh"],
                rec["cost_energy"],
                rec["cost_time"],
                rec["cost_parking"],
                rec["cost_flat"],
                rec["cost_total"],
                rec.get("cost_total_incl_vat") or zero,
                rec["currency"],
                rec.get("quality_flags") or [],
                _dt(rec["emitted_at"]),
            ),
        )


def feedback_rows(rec: dict[str, Any]) -> Iterator[tuple[str, Row]]:
    yield (
        "feedback",
        (
            rec["feedback_id"],
            rec["station_id"],
            _connector(rec.get("connector_id")),
            rec.get("rating"),
            rec["category"],
            rec.get("comment") or "",
            rec.get("user_ref_hash") or "",
            _dt(rec["submitted_at"]),
            _dt(rec["received_at"]),
        ),
    )


ALERT_REQUIRED = ("alert_id", "type", "status", "opened_at", "updated_at")


def alert_rows(rec: dict[str, Any]) -> Iterator[tuple[str, Row]]:
    # Alerts are JSON, which any producer can get wrong: a missing or unreadable field is a record
    # error (DLQ), not a bug of ours.
    missing = [k for k in ALERT_REQUIRED if k not in rec]
    if missing:
        raise RecordError(f"alert without {', '.join(missing)}")
    if not isinstance(rec.get("details", {}), dict):
        raise RecordError("alert details is not an object")

    def ts(key: str) -> datetime:
        v = rec[key]
        try:
            return from_ms(int(v)) if isinstance(v, int | float) else datetime.fromisoformat(str(v))
        except (ValueError, OverflowError) as exc:
            raise RecordError(f"alert {key} {str(v)[:40]!r} is not a time") from exc

    yield (
        "alerts",
        (
            rec["alert_id"],
            rec["type"],
            rec.get("severity", ""),
            rec["status"],
            rec.get("station_id", ""),
            rec.get("site_id") or "",
            ts("opened_at"),
            ts("updated_at"),
            json.dumps(
                {
                    **rec.get("details", {}),
                    **{k: rec[k] for k in ("connector_id", "session_id", "version") if k in rec},
                },
                sort_keys=True,
                default=str,
            ),
        ),
    )


def rows_for(topic: str, decoded: dict[str, Any]) -> list[tuple[str, Row]]:
    """Rows for one decoded record of a topic; RecordError for a record that cannot be stored (anything
    else raised here is a bug of ours)."""
    if topic == CHARGER_EVENTS:
        ev = from_record(decoded)
        check_event(ev)  # OutOfBounds: a column would overflow or a value is no reading
        return list(event_rows(ev))
    if topic == SESSIONS:
        return list(session_rows(decoded))
    if topic == DRIVER_FEEDBACK:
        return list(feedback_rows(decoded))
    if topic in ALERT_TOPICS:
        return list(alert_rows(decoded))
    raise KeyError(f"no table mapping for topic {topic!r}")  # a bug: the sink subscribed to it
