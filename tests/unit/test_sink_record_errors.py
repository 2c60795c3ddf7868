"""The sink's mappers tell a bad record (RecordError: to the DLQ) from a bug of ours (anything else)."""

from __future__ import annotations

import pytest

from schemas.errors import RecordError
from schemas.topics import ALERTS_IDLE, CHARGER_EVENTS
from sinks.rows import rows_for

GOOD_ALERT = {
    "alert_id": "a1",
    "type": "idle",
    "status": "opened",
    "station_id": "ST",
    "opened_at": 1_796_000_000_000,
    "updated_at": "2026-12-01T10:00:00+00:00",
}


def test_a_good_alert_maps() -> None:
    ((table, row),) = rows_for(ALERTS_IDLE, GOOD_ALERT)
    assert table == "alerts" and row[0] == "a1"


@pytest.mark.parametrize(
    "bad",
    [
        {k: v for k, v in GOOD_ALERT.items() if k != "alert_id"},
        {**GOOD_ALERT, "opened_at": "yesterday"},
        {**GOOD_ALERT, "updated_at": 10**30},
        {**GOOD_ALERT, "details": ["not", "an", "object"]},
    ],
)
def test_bad_alert_json_is_a_record_error(bad: dict[str, object]) -> None:
    with pytest.raises(RecordError):
        rows_for(ALERTS_IDLE, bad)


def test_an_event_record_of_another_shape_is_a_record_error() -> None:
    with pytest.raises(RecordError):
        rows_for(CHARGER_EVENTS, {"payload": None, "event_id": "x"})


def test_a_topic_without_mapping_is_a_bug_not_a_dead_letter() -> None:
    with pytest.raises(Exception) as raised:
        rows_for("no.such.topic", {})
    assert not isinstance(raised.value, RecordError)
