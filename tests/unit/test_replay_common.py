"""Replay helpers shared by the parsers, the format guess and the CLI's dry run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from chargestream.cli import app
from producers.replay import Defects, ReplayFileError, guess_format, load
from producers.replay.common import (
    assign_connectors,
    hms_seconds,
    labelled_span,
    resolve_overlaps,
    wh_from_kwh,
    zone_local,
)
from schemas.events import to_ms
from tests.cli_text import plain
from tests.unit.test_replay_events import T0, H, session


@pytest.mark.parametrize(
    ("text", "wh"),
    [
        ("7.877", 7_877),
        ("9.999999999999999", 10_000),  # a float artefact in ACN: the decimal text, not a double
        ("6.249457", 6_249),
        ("8.1305", 8_130),  # ties go to even, like Python's round
        ("10.5635", 10_564),
        ("0", 0),
        ("-27.45", -27_450),
    ],
)
def test_wh_from_kwh_text_is_exact(text: str, wh: int) -> None:
    assert wh_from_kwh(text) == wh


@pytest.mark.parametrize("text", ["", "abc", "NaN", "1,5"])
def test_wh_from_kwh_refuses_non_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        wh_from_kwh(text)


def test_hms_allows_more_than_24_hours() -> None:
    assert hms_seconds("838:59:59") == 838 * 3600 + 59 * 60 + 59
    for bad in ("1:2", "1:60:00", "a:00:00"):
        with pytest.raises(ValueError):
            hms_seconds(bad)


def test_labelled_times_use_the_labels_offset() -> None:
    denver = ZoneInfo("America/Denver")
    offsets = {"MST": -7, "MDT": -6}
    fmt = "%Y/%m/%d %H:%M:%S"
    # across the spring change: 67 h 30 min really elapsed, the printed total says 68:30:20
    t0, t1, notes = labelled_span(
        ("2018/03/09 20:58:00", "MST"), ("2018/03/12 17:28:00", "MDT"), 68 * 3600 + 1820, fmt, offsets, denver
    )
    assert t0 == to_ms(datetime(2018, 3, 10, 3, 58, tzinfo=UTC))
    assert t1 - t0 == (67 * 60 + 30) * 60_000
    assert notes == ["duration_mismatch"]
    # MDT printed a week before the change: the label wins, and it is noted
    _t0, _t1, notes = labelled_span(
        ("2019/03/07 03:21:00", "MDT"), ("2019/03/07 05:19:00", "MDT"), 7080, fmt, offsets, denver
    )
    assert notes == ["zone_label_mismatch"]
    # start = end to the minute: the total duration gives the unplug
    t0, t1, notes = labelled_span(
        ("2018/01/09 18:02:00", "MST"), ("2018/01/09 18:02:00", "MST"), 25, fmt, offsets, denver
    )
    assert (t1 - t0, notes) == (25_000, ["end_equals_start"])


def test_zone_local_reads_each_time_in_its_own_offset_and_flags_the_gap() -> None:
    london = ZoneInfo("Europe/London")
    before, gap = zone_local("25/03/2018 00:58", "%d/%m/%Y %H:%M", london)
    after, _ = zone_local("25/03/2018 02:27", "%d/%m/%Y %H:%M", london)
    assert not gap and to_ms(after) - to_ms(before) == 29 * 60_000
    _, gap = zone_local("25/03/2018 01:30", "%d/%m/%Y %H:%M", london)
    assert gap


def test_greedy_assignment_uses_the_fewest_connectors_and_never_doubles_up() -> None:
    spans = [(0, 4), (1, 3), (2, 5), (3, 6), (5, 7), (7, 8)]  # hours; peak concurrency 3
    sessions = [
        session(source_row=i, plugged_in_at=T0 + a * H, unplugged_at=T0 + b * H)
        for i, (a, b) in enumerate(spans)
    ]
    assigned = {s.source_row: s for s in assign_connectors(reversed(sessions))}
    assert [assigned[i].connector_id for i in range(6)] == [1, 2, 3, 2, 1, 1]
    assert [i for i, s in assigned.items() if "extra_connector" in s.notes] == [1, 2, 3]


def test_overlaps_on_a_named_connector_truncate_the_earlier_or_drop_a_same_time_plug_in() -> None:
    a = session(source_row=1, plugged_in_at=T0, unplugged_at=T0 + 5 * H, charging_ended_at=T0 + 3 * H)
    b = session(source_row=2, plugged_in_at=T0 + 2 * H, unplugged_at=T0 + 6 * H)
    c = session(source_row=3, plugged_in_at=T0 + 2 * H, unplugged_at=T0 + 7 * H)
    defects = Defects()
    kept = {s.source_row: s for s in resolve_overlaps([c, b, a], defects)}
    assert set(kept) == {1, 2} and defects.counts == {"overlap_same_start": 1}
    assert kept[1].unplugged_at == T0 + 2 * H and kept[1].notes == ("overlap_truncated",)
    assert kept[1].charging_ended_at is None  # done after the new unplug: no longer plausible


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("acn_caltech_sessions.json", "acn"),
        ("boulder_sessions.csv", "boulder"),
        ("dundee_sessions_2018.csv", "dundee"),
        ("paloalto_sessions_subset.csv", "paloalto"),
        ("Palo-Alto-2012.csv", "paloalto"),
        ("sessions.csv", None),
    ],
)
def test_format_is_guessed_from_the_file_name(name: str, fmt: str | None) -> None:
    assert guess_format(Path(name)) == fmt


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format 'xls'"):
        load(tmp_path / "x", "xls")


def _acn_file(tmp_path: Path) -> Path:
    item = {
        "connectionTime": "Tue, 01 Dec 2020 13:59:06 GMT",
        "disconnectTime": "Tue, 01 Dec 2020 19:33:50 GMT",
        "doneChargingTime": "Tue, 01 Dec 2020 15:20:41 GMT",
        "kWhDelivered": 7.877,
        "siteID": "0002",
        "stationID": "2-39-131-30",
        "timezone": "America/Los_Angeles",
        "userID": "000008677",
    }
    path = tmp_path / "my_acn_export.json"
    path.write_text(json.dumps({"_meta": {}, "_items": [item, {**item, "kWhDelivered": "x"}]}))
    return path


def test_cli_dry_run_reports_and_writes_truth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGESTREAM_STATE_DIR", str(tmp_path / "state"))
    truth = tmp_path / "truth.jsonl"
    result = CliRunner().invoke(app, ["replay", str(_acn_file(tmp_path)), "--dry-run", "--truth", str(truth)])
    assert result.exit_code == 0, result.output
    assert "format acn (guessed" in plain(result.output) and "sessions replayed" in plain(result.output)
    assert "unparseable" in plain(result.output) and "dropped" in plain(result.output)
    (line,) = [json.loads(x) for x in truth.read_text().splitlines()]
    assert line["energy_wh"] == 7_877 and line["expected_idle_minutes"] == pytest.approx(253.15)


def test_cli_refuses_an_unknown_format_and_a_missing_file(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["replay", str(_acn_file(tmp_path)), "--format", "xls", "--dry-run"])
    assert bad.exit_code == 2 and "unknown format" in plain(bad.output)
    unnamed = tmp_path / "sessions.json"
    unnamed.write_text("{}")
    guess = runner.invoke(app, ["replay", str(unnamed), "--dry-run"])
    assert guess.exit_code == 2 and "--format" in plain(guess.output)
    missing = runner.invoke(app, ["replay", str(tmp_path / "nope.csv"), "--dry-run"])
    assert missing.exit_code == 2 and "does not exist" in plain(missing.output)
    # whatever the terminal's width and the path's length
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 6) / "nope.csv"
    for columns in ("40", "200"):
        narrow = CliRunner(env={"COLUMNS": columns}).invoke(app, ["replay", str(deep), "--dry-run"])
        assert narrow.exit_code == 2 and "does not exist" in plain(narrow.output)


@pytest.mark.parametrize("fmt", ["acn", "boulder", "dundee", "paloalto"])
def test_a_file_of_another_kind_is_one_clear_error(tmp_path: Path, fmt: str) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n" if fmt == "acn" else '{"_items": []}')
    with pytest.raises(ReplayFileError, match="not JSON" if fmt == "acn" else "no column"):
        load(other, fmt)
    result = CliRunner().invoke(app, ["replay", str(other), "--format", fmt, "--dry-run"])
    assert result.exit_code == 2 and f"--format {fmt} right?" in plain(result.output)
