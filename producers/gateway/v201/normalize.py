"""OCPP 2.0.1 payloads → canonical events: transactions, EVSEs and NotifyEvent faults. Pure."""

from __future__ import annotations

from typing import Any

from producers.gateway.normalize import meter_values, parse_time
from schemas.events import FaultNotice, TransactionEvent


def transaction_event_key_201(transaction_id: str, seq_no: int) -> str:
    """The event key of a 2.0.1 TransactionEvent: (transaction, seqNo) names one message of a transaction,
    so a station that re-sends it from its offline queue under a new message id still gets the same
    event id."""
    return f"tx:{transaction_id}:{seq_no}"


def transaction_event_201(p: dict[str, Any], id_token_hash: str | None) -> TransactionEvent:
    """A 2.0.1 TransactionEventRequest (snake_case keys). The caller hashes the idToken: raw tokens
    never reach this record. An Ended without stoppedReason means Local (the spec's only omission)."""
    info = p["transaction_info"]
    stopped = info.get("stopped_reason")
    if stopped is None and p["event_type"] == "Ended":
        stopped = "Local"
    return TransactionEvent(
        p["event_type"],
        info["transaction_id"],
        seq_no=p["seq_no"],
        trigger_reason=p.get("trigger_reason"),
        charging_state=info.get("charging_state"),
        stopped_reason=stopped,
        id_token_hash=id_token_hash,
        offline=bool(p.get("offline", False)),
        samples=meter_values(p.get("meter_value") or [], "2.0.1"),
    )


def evse_of_201(p: dict[str, Any]) -> int | None:
    evse = p.get("evse")
    return None if evse is None else int(evse["id"])


def fault_notices_201(event_data: list[dict[str, Any]]) -> list[tuple[int, int | None, FaultNotice]]:
    """(station time, EVSE or None, notice) per NotifyEvent eventData. 2.0.1 EventData has no severity
    (monitors carry it); a station may send one in customData.severity, which is kept."""
    out = []
    for ed in event_data:
        component = ed["component"]
        evse = component.get("evse")
        severity = (ed.get("custom_data") or {}).get("severity")
        out.append(
            (
                parse_time(ed["timestamp"]),
                None if evse is None else int(evse["id"]),
                FaultNotice(
                    component["name"],
                    ed["variable"]["name"],
                    trigger=ed.get("trigger"),
                    actual_value=ed.get("actual_value"),
                    tech_code=ed.get("tech_code"),
                    tech_info=ed.get("tech_info"),
                    severity=severity
                    if isinstance(severity, int) and not isinstance(severity, bool)
                    else None,
                    cleared=bool(ed.get("cleared", False)),
                ),
            )
        )
    return out
