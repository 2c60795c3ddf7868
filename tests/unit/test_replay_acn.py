"""ACN (Caltech) replay: the real export, measured independently, and one synthetic row per defect."""

from __future__ import annotations

import json
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from producers.replay import Defects, ReplaySession, events_for, load, truth_lines
from tests.unit.test_replay_events import DATASETS, check_replay, event_digest

FILE = DATASETS / "acn_caltech_sessions.json"


def _ms(text: str) -> int:
    return int(parsedate_to_datetime(text).timestamp()) * 1000


@pytest.fixture(scope="module")
def raw() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(FILE.read_text(), parse_float=str)["_items"]  # kWh as text
    return items


@pytest.fixture(scope="module")
def replayed() -> tuple[list[ReplaySession], Defects]:
    return load(FILE, "acn")


def test_every_row_is_accounted_for(raw: list[dict[str, Any]], replayed: Any) -> None:
    sessions, defects = replayed
    assert defects.rows_read == len(raw) == 3_235
    assert len(sessions) + defects.dropped == len(raw)
    assert defects.dropped == 0  # nothing in this export is unusable


def test_defect_counts_match_an_independent_count(raw: list[dict[str, Any]], replayed: Any) -> None:
    _, defects = replayed
    null_done = sum(1 for it in raw if it["doneChargingTime"] is None)
    late_done = sum(
        1 for it in raw if it["doneChargingTime"] and _ms(it["doneChargingTime"]) > _ms(it["disconnectTime"])
    )
    over_day = sum(1 for it in raw if _ms(it["disconnectTime"]) - _ms(it["connectionTime"]) > 86_400_000)
    assert defects.counts["done_charging_missing"] == null_done == 1_246
    assert defects.counts["done_after_disconnect"] == late_done == 33
    assert defects.counts["over_24h"] == over_day == 4


def test_times_and_energy_are_exact(raw: list[dict[str, Any]], replayed: Any) -> None:
    sessions, _ = replayed
    for s in sessions:
        it = raw[s.source_row - 1]
        assert s.plugged_in_at == _ms(it["connectionTime"]) and s.unplugged_at == _ms(it["disconnectTime"])
        assert s.energy_wh == round(Decimal(it["kWhDelivered"]) * 1000)
        done = it["doneChargingTime"]
        assert s.charging_ended_at == (_ms(done) if done and _ms(done) <= s.unplugged_at else None)
        assert s.station_id == f"ACN-{it['stationID']}" and s.time_zone == "America/Los_Angeles"


def test_events_keep_every_invariant_and_are_deterministic(replayed: Any) -> None:
    sessions, defects = replayed
    first = check_replay(sessions, defects)
    assert event_digest(load(FILE, "acn")[0]) == first.digest
    assert first.kinds["TransactionEvent"] == 2 * len(sessions)
    # SuspendedEV exactly for the sessions whose charging-done time is known and before unplug
    suspended = sum(
        1
        for e in events_for(sessions)
        if e.kind == "StatusChange" and getattr(e.payload, "status", None) == "SuspendedEV"
    )
    known = [s for s in sessions if s.charging_ended_at is not None and s.charging_ended_at < s.unplugged_at]
    assert suspended == len(known)


def test_truth_idle_matches_the_file(raw: list[dict[str, Any]], replayed: Any) -> None:
    sessions, _ = replayed
    lines = list(truth_lines(sessions))
    idle = [x["expected_idle_minutes"] for x in lines if x["expected_idle_minutes"] is not None]
    assert len(idle) == 3_235 - 1_246 - 33
    plugged = sum(
        (x["unplugged_at"] - x["plugged_in_at"]) / 60_000 for x in lines if x["charging_done_known"]
    )
    assert 0.5 < sum(idle) / plugged < 0.65  # README: idle ≈ 57 % of plugged-in time


def test_limit_reads_the_first_rows_only() -> None:
    sessions, defects = load(FILE, "acn", limit=50)
    assert defects.rows_read == 50 and max(s.source_row for s in sessions) <= 50


# --- synthetic rows, one per defect reason -------------------------------------------------------

ROW = {
    "connectionTime": "Tue, 01 Dec 2020 13:59:06 GMT",
    "disconnectTime": "Tue, 01 Dec 2020 19:33:50 GMT",
    "doneChargingTime": "Tue, 01 Dec 2020 15:20:41 GMT",
    "kWhDelivered": 7.877,
    "siteID": "0002",
    "stationID": "2-39-131-30",
    "spaceID": "CA-305",
    "timezone": "America/Los_Angeles",
    "userID": "000008677",
}


def _parse(tmp_path: Path, *changes: dict[str, Any]) -> tuple[list[ReplaySession], Defects]:
    path = tmp_path / "acn.json"
    path.write_text(json.dumps({"_meta": {}, "_items": [{**ROW, **c} for c in changes]}))
    return load(path, "acn")


@pytest.mark.parametrize(
    ("change", "reason", "dropped"),
    [
        ({"doneChargingTime": None}, "done_charging_missing", False),
        ({"doneChargingTime": "Tue, 01 Dec 2020 20:00:00 GMT"}, "done_after_disconnect", False),
        ({"doneChargingTime": "Tue, 01 Dec 2020 13:00:00 GMT"}, "done_before_connection", False),
        ({"disconnectTime": "Fri, 04 Dec 2020 19:33:50 GMT"}, "over_24h", False),
        ({"kWhDelivered": 0}, "zero_energy", False),
        ({"disconnectTime": "Tue, 01 Dec 2020 12:00:00 GMT"}, "end_before_start", True),
        (
            {"disconnectTime": ROW["connectionTime"], "doneChargingTime": None},
            "zero_duration_with_energy",
            True,
        ),
        ({"kWhDelivered": -1.5}, "negative_energy", True),
        ({"connectionTime": "yesterday"}, "unparseable", True),
        ({"kWhDelivered": None}, "unparseable", True),
        ({"kWhDelivered": "NaN"}, "unparseable", True),
        ({"stationID": None}, "unparseable", True),
    ],
)
def test_each_defect_reason(tmp_path: Path, change: dict[str, Any], reason: str, dropped: bool) -> None:
    sessions, defects = _parse(tmp_path, change)
    assert defects.counts[reason] == 1 and defects.samples[reason] == [1]
    assert (len(sessions), defects.dropped) == ((0, 1) if dropped else (1, 0))
    if not dropped and reason.startswith("done_"):
        assert sessions[0].charging_ended_at is None  # charging lasts until unplug


def test_a_clean_row_has_no_notes(tmp_path: Path) -> None:
    (s,), defects = _parse(tmp_path, {})
    assert not defects.counts and s.notes == ()
    assert s.energy_wh == 7_877 and s.user_ref is not None and "8677" not in s.user_ref
