"""`chargestream alerts resolve` and the resolution record: refusals say what to do, bad input is a
record error (to the DLQ), never a crash."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from chargestream.cli import app
from schemas.errors import RecordError
from schemas.records import Resolution
from streams.agents.resolutions import read_resolution


def test_resolve_refuses_what_is_not_an_alert_id() -> None:
    result = CliRunner().invoke(app, ["alerts", "resolve", "x' OR 1=1 --", "--wait", "0"])
    assert result.exit_code == 1
    assert "is not an alert id" in result.output


def test_resolve_help_teaches() -> None:
    result = CliRunner().invoke(app, ["alerts", "resolve", "--help"])
    assert result.exit_code == 0
    assert "maintenance_dispatch" in result.output and "--note" in result.output


def test_a_resolution_round_trips_and_bad_ones_are_record_errors() -> None:
    res = Resolution("3f2c5a1e-0000-5000-8000-000000000001", "ST-1", 1_800_000_000_000, "fixed", "kim")
    assert read_resolution(str(res.to_dict()).replace("'", '"').encode()) == res
    for bad in (b"not json", b"[1, 2]", b'{"alert_id": "a"}', b'{"alert_id": 1, "station_id": "s", "at": 1}'):
        with pytest.raises(RecordError):
            read_resolution(bad)
    with pytest.raises(RecordError, match="not a time"):
        Resolution.from_dict({"alert_id": "a", "station_id": "s", "at": "yesterday"})
