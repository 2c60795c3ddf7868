"""Boulder replay: the real export, measured independently, and one synthetic row per defect."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from producers.replay import Defects, ReplaySession, load
from tests.unit.test_replay_events import DATASETS, check_replay, event_digest

FILE = DATASETS / "boulder_sessions.csv"
OFFSET_H = {"MST": -7, "MDT": -6}


def _ms(text: str, label: str) -> int:
    local = datetime.strptime(text, "%Y/%m/%d %H:%M:%S").replace(
        tzinfo=timezone(timedelta(hours=OFFSET_H[label]))
    )
    return int(local.timestamp()) * 1000


@pytest.fixture(scope="module")
def raw() -> list[dict[str, str]]:
    with FILE.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def replayed() -> tuple[list[ReplaySession], Defects]:
    return load(FILE, "boulder")


def _span(r: dict[str, str]) -> tuple[int, int]:
    return _ms(r["Start_Date___Time"], r["Start_Time_Zone"]), _ms(r["End_Date___Time"], r["End_Time_Zone"])


def test_every_row_is_accounted_for(raw: list[dict[str, str]], replayed: Any) -> None:
    sessions, defects = replayed
    with FILE.open(encoding="utf-8-sig", newline="") as f:
        physical_rows = sum(1 for _ in csv.reader(f)) - 1
    assert defects.rows_read == len(raw) == physical_rows == 23_597
    assert len(sessions) + defects.dropped == len(raw)


def test_defect_counts_match_an_independent_count(raw: list[dict[str, str]], replayed: Any) -> None:
    sessions, defects = replayed
    before = [i for i, r in enumerate(raw) if _span(r)[1] < _span(r)[0]]
    seen: set[tuple[str, ...]] = set()
    duplicates = []
    for i, r in enumerate(raw):
        key = (r["Station_Name"], r["Start_Date___Time"], r["End_Date___Time"], r["Energy__kWh_"])
        if i not in before:
            duplicates += [i] if key in seen else []
            seen.add(key)
    dropped = set(before) | set(duplicates)
    kept = [r for i, r in enumerate(raw) if i not in dropped]
    assert defects.counts["end_before_start"] == len(before) == 1
    assert defects.counts["duplicate"] == len(duplicates) == 15
    assert defects.counts["zero_energy"] == sum(1 for r in kept if Decimal(r["Energy__kWh_"]) == 0) == 2_026
    assert defects.counts["end_equals_start"] == sum(1 for r in kept if _span(r)[0] == _span(r)[1]) == 192
    assert defects.counts["over_24h"] == sum(1 for r in kept if _span(r)[1] - _span(r)[0] > 86_400_000) == 415
    assert {s.source_row - 1 for s in sessions} == set(range(len(raw))) - dropped


def test_times_and_energy_are_exact(raw: list[dict[str, str]], replayed: Any) -> None:
    sessions, _ = replayed
    for s in sessions:
        r = raw[s.source_row - 1]
        start, end = _span(r)
        h, m, sec = (int(x) for x in r["Total_Duration__hh_mm_ss_"].split(":"))
        assert s.plugged_in_at == start
        assert s.unplugged_at == (end if end != start else start + (h * 3600 + m * 60 + sec) * 1000)
        assert s.energy_wh == round(Decimal(r["Energy__kWh_"]) * 1000)
    # the first row: 2018/01/02 00:49:00 MST is 07:49 UTC
    first = next(s for s in sessions if s.source_row == 1)
    assert first.plugged_in_at == 1_514_879_340_000 and first.time_zone == "America/Denver"


def test_connectors_never_hold_two_cars_and_match_peak_concurrency(replayed: Any) -> None:
    sessions, _ = replayed
    peak: dict[str, int] = {}
    for station in {s.station_id for s in sessions}:
        edges = sorted(
            (t, d)
            for s in sessions
            if s.station_id == station
            for t, d in ((s.plugged_in_at, 1), (s.unplugged_at, -1))  # an unplug frees before a plug-in
        )
        level = top = 0
        for _, d in edges:
            level += d
            top = max(top, level)
        peak[station] = top
    used = {st: max(s.connector_id for s in sessions if s.station_id == st) for st in peak}
    assert used == peak
    assert max(used.values()) >= 2  # the file has multi-port stations


def test_events_keep_every_invariant_and_are_deterministic(replayed: Any) -> None:
    sessions, defects = replayed
    first = check_replay(sessions, defects)
    assert event_digest(load(FILE, "boulder")[0]) == first.digest


# --- synthetic rows, one per defect reason -------------------------------------------------------

HEADER = (
    "Station_Name,Address,City,State_Province,Zip_Postal_Code,Start_Date___Time,Start_Time_Zone,"
    "End_Date___Time,End_Time_Zone,Total_Duration__hh_mm_ss_,Charging_Time__hh_mm_ss_,Energy__kWh_,"
    "GHG_Savings__kg_,Gasoline_Savings__gallons_,Port_Type,ObjectId"
)
ROW = {
    "Station_Name": "BOULDER / JUNCTION ST1",
    "Address": "2280 Junction Pl",
    "Start_Date___Time": "2018/01/02 00:49:00",
    "Start_Time_Zone": "MST",
    "End_Date___Time": "2018/01/02 02:52:00",
    "End_Time_Zone": "MST",
    "Total_Duration__hh_mm_ss_": "2:03:02",
    "Charging_Time__hh_mm_ss_": "2:02:44",
    "Energy__kWh_": "6.504",
    "Port_Type": "Level 2",
}


def _parse(tmp_path: Path, *changes: dict[str, str]) -> tuple[list[ReplaySession], Defects]:
    path = tmp_path / "boulder.csv"
    names = HEADER.split(",")
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, names)
        w.writeheader()
        for c in changes:
            w.writerow({n: {**ROW, **c}.get(n, "") for n in names})
    return load(path, "boulder")


@pytest.mark.parametrize(
    ("change", "reason", "dropped"),
    [
        ({"Energy__kWh_": "0", "Charging_Time__hh_mm_ss_": "0:00:00"}, "zero_energy", False),
        (
            {"End_Date___Time": "2018/01/02 00:49:00", "Total_Duration__hh_mm_ss_": "0:00:25"},
            "end_equals_start",
            False,
        ),
        (
            {"End_Date___Time": "2018/01/04 02:52:00", "Total_Duration__hh_mm_ss_": "50:03:02"},
            "over_24h",
            False,
        ),
        ({"Total_Duration__hh_mm_ss_": "0:02:00"}, "duration_mismatch", False),
        ({"Start_Time_Zone": "MDT", "End_Time_Zone": "MDT"}, "zone_label_mismatch", False),
        ({"Charging_Time__hh_mm_ss_": "3:00:00"}, "charging_exceeds_total", False),
        (
            {"End_Date___Time": "1970/01/01 00:00:00", "Total_Duration__hh_mm_ss_": "838:59:59"},
            "end_before_start",
            True,
        ),
        (
            {"End_Date___Time": "2018/01/02 00:49:00", "Total_Duration__hh_mm_ss_": "0:00:00"},
            "zero_duration_with_energy",
            True,
        ),
        ({"Start_Time_Zone": "CET"}, "unparseable", True),
        ({"Energy__kWh_": ""}, "unparseable", True),
        ({"Total_Duration__hh_mm_ss_": "2h03"}, "unparseable", True),
    ],
)
def test_each_defect_reason(tmp_path: Path, change: dict[str, str], reason: str, dropped: bool) -> None:
    sessions, defects = _parse(tmp_path, change)
    assert defects.counts[reason] == 1 and defects.samples[reason] == [1]
    assert (len(sessions), defects.dropped) == ((0, 1) if dropped else (1, 0))


def test_duplicate_rows_are_dropped_once(tmp_path: Path) -> None:
    sessions, defects = _parse(
        tmp_path, {}, {"Total_Duration__hh_mm_ss_": "2:03:01"}, {"Energy__kWh_": "1.0"}
    )
    assert defects.counts == {"duplicate": 1, "extra_connector": 1} and defects.samples["duplicate"] == [2]
    assert sorted(s.connector_id for s in sessions) == [1, 2]


def test_overlapping_sessions_of_a_station_get_separate_connectors(tmp_path: Path) -> None:
    later = {"Start_Date___Time": "2018/01/02 02:00:00", "End_Date___Time": "2018/01/02 03:00:00"}
    after = {"Start_Date___Time": "2018/01/02 03:00:00", "End_Date___Time": "2018/01/02 04:00:00"}
    sessions, defects = _parse(tmp_path, {}, later, after)
    assert {s.source_row: s.connector_id for s in sessions} == {1: 1, 2: 2, 3: 1}
    assert defects.counts["extra_connector"] == 1


def test_charging_time_sets_the_end_of_charging(tmp_path: Path) -> None:
    (s,), _ = _parse(tmp_path, {})
    assert s.charging_s == 2 * 3600 + 2 * 60 + 44 and s.charging_ended_at is None
