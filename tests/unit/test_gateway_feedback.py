"""Feedback intake, the pure parts: validation naming fields, idempotent ids, the Avro record."""

from __future__ import annotations

import json
import uuid

import pytest

from producers.gateway.feedback import FeedbackError, feedback_id_for, feedback_record, parse_feedback
from schemas.codec import EmbeddedCodec
from schemas.topics import DRIVER_FEEDBACK

GOOD = {"station_id": "CP1", "category": "slow"}


def _fields(body: object) -> list[str]:
    with pytest.raises(FeedbackError) as err:
        parse_feedback(json.dumps(body).encode() if not isinstance(body, bytes) else body)
    return err.value.fields


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**GOOD, "rating": 0}, ["rating"]),
        ({**GOOD, "rating": 4.5}, ["rating"]),
        ({**GOOD, "rating": True}, ["rating"]),
        ({**GOOD, "connector_id": -1}, ["connector_id"]),
        ({**GOOD, "category": "Slow"}, ["category"]),
        ({"category": "slow"}, ["station_id"]),
        ({**GOOD, "station_id": "  "}, ["station_id"]),
        ({**GOOD, "submitted_at": "last tuesday"}, ["submitted_at"]),
        ({**GOOD, "feedback_id": "has spaces"}, ["feedback_id"]),
        ({**GOOD, "comment": "x" * 2001}, ["comment"]),
        ({**GOOD, "extra": 1}, ["extra"]),
        ({"rating": 9}, ["station_id", "rating", "category"]),
        ([1, 2], ["body"]),
        (b"{not json", ["body"]),
    ],
)
def test_errors_name_the_field(body: object, fields: list[str]) -> None:
    assert _fields(body) == fields


def test_a_valid_body() -> None:
    inp = parse_feedback(b'{"station_id":" CP1 ","category":"payment","rating":5,"connector_id":0}')
    assert (inp.station_id, inp.category, inp.rating, inp.connector_id) == ("CP1", "payment", 5, 0)


def test_feedback_ids() -> None:
    inp = parse_feedback(json.dumps(GOOD).encode())
    assert feedback_id_for(inp, "key-1") == feedback_id_for(inp, " key-1 ") != feedback_id_for(inp, "key-2")
    assert uuid.UUID(feedback_id_for(inp, None)) != uuid.UUID(feedback_id_for(inp, None))  # no key: fresh
    own = parse_feedback(json.dumps({**GOOD, "feedback_id": "app-123"}).encode())
    assert feedback_id_for(own, None) == feedback_id_for(own, "app-123") == "app-123"
    with pytest.raises(FeedbackError) as err:
        feedback_id_for(own, "something-else")
    assert err.value.fields == ["feedback_id"]


def test_the_record_hashes_the_user_and_encodes_as_avro() -> None:
    inp = parse_feedback(
        json.dumps(
            {**GOOD, "user_ref": "driver-1", "submitted_at": "2026-11-24T10:00:00", "comment": "slow"}
        ).encode()
    )
    rec = feedback_record(inp, "fb-1", 1_795_000_000_000, lambda ref: f"h({ref})" if ref else None)
    assert rec["user_ref_hash"] == "h(driver-1)" and "driver-1" not in json.dumps(
        {**rec, "user_ref_hash": ""}
    )
    assert rec["submitted_at"] == 1_795_514_400_000  # no offset: UTC
    codec = EmbeddedCodec()
    back = codec.decode(DRIVER_FEEDBACK, codec.encode(DRIVER_FEEDBACK, rec))
    assert back["feedback_id"] == "fb-1" and back["category"] == "slow"
    bare = feedback_record(parse_feedback(json.dumps(GOOD).encode()), "fb-2", 1234, lambda _r: None)
    assert bare["submitted_at"] == bare["received_at"] == 1234 and bare["user_ref_hash"] is None
