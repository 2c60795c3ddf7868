"""Typed records: the wire form round-trips through the codec, older schema versions read with their
defaults, and a record that cannot be read is a RecordError (a DLQ), never a crash."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas.codec import EmbeddedCodec
from schemas.errors import RecordError
from schemas.records import COST_FIELDS, Alert, Costs, Feedback, SessionRecord

T0 = 1_800_000_000_000
BILL = SessionRecord(
    session_id="s1",
    station_id="ST",
    connector_id=1,
    plugged_in_at=T0,
    emitted_at=T0 + 1,
    state="closed",
    record_type="bill",
    is_final=True,
    energy_wh=1_001,
    costs=Costs(energy=Decimal("0.3003"), total=Decimal("0.3003"), total_incl_vat=Decimal("0.3574")),
    quality_flags=("late",),
)


def test_a_session_record_round_trips_through_avro_exactly() -> None:
    codec = EmbeddedCodec()
    wire = codec.decode("sessions", codec.encode("sessions", BILL.to_dict()))
    assert SessionRecord.from_dict(wire) == BILL
    assert set(COST_FIELDS) <= set(BILL.to_dict())


def test_a_credit_negates_money_and_energy_and_names_the_bill() -> None:
    credit = BILL.credit(version=2, at=T0 + 5)
    assert credit.kind == "credit" and credit.corrects_version == BILL.version
    assert credit.energy_wh == -1_001 and credit.costs.total_incl_vat == Decimal("-0.3574")
    assert credit.bill_key() != BILL.bill_key()


def test_a_v1_session_record_reads_with_defaults() -> None:
    v1 = {
        k: v for k, v in BILL.to_dict().items() if k not in ("record_type", "priced_with", "corrects_version")
    }
    v1["cost_total_incl_vat"] = None
    rec = SessionRecord.from_dict(v1)
    assert rec.kind == "bill" and rec.priced_with == "" and rec.costs.total_incl_vat == Decimal(0)


def test_unreadable_records_are_record_errors() -> None:
    with pytest.raises(RecordError, match="without session_id"):
        SessionRecord.from_dict({k: v for k, v in BILL.to_dict().items() if k != "session_id"})
    with pytest.raises(RecordError):
        SessionRecord.from_dict({**BILL.to_dict(), "cost_total": "lots"})
    with pytest.raises(RecordError, match="members"):
        Alert.from_dict(
            {"alert_id": "a", "type": "x", "status": "opened", "opened_at": 1, "updated_at": 1, "members": 5}
        )
    with pytest.raises(RecordError, match="without category"):
        Feedback.from_dict({"feedback_id": "f", "station_id": "ST", "submitted_at": T0, "received_at": T0})


def test_an_alert_round_trips_through_json_and_reads_iso_times() -> None:
    alert = Alert("a1", "idle", "opened", T0, T0 + 1, members=({"station_id": "ST", "connector_id": 1},))
    assert Alert.from_dict(alert.to_dict()) == alert
    iso = Alert.from_dict({**alert.to_dict(), "updated_at": "2027-01-15T08:00:00+00:00"})
    assert iso.updated_at == T0
