"""Dundee replay: the real export, measured independently, and one synthetic row per defect."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from producers.replay import Defects, ReplaySession, load
from producers.replay.dundee import rated_power_kw
from tests.unit.test_replay_events import DATASETS, check_replay, event_digest

FILE = DATASETS / "dundee_sessions_2018.csv"
# The UK went from GMT to BST at 2018-03-25 01:00 local (01:00 UTC).
SPRING_FORWARD = datetime(2018, 3, 25, 1, 0)


def _local(date: str, time: str) -> datetime:
    return datetime.strptime(f"{date} {time}", "%d/%m/%Y %H:%M")


@pytest.fixture(scope="module")
def raw() -> list[dict[str, str]]:
    with FILE.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def replayed() -> tuple[list[ReplaySession], Defects]:
    return load(FILE, "dundee")


def test_every_row_is_accounted_for(raw: list[dict[str, str]], replayed: Any) -> None:
    sessions, defects = replayed
    assert defects.rows_read == len(raw) == 16_773
    assert len(sessions) + defects.dropped == len(raw)


def test_defect_counts_match_an_independent_count(raw: list[dict[str, str]], replayed: Any) -> None:
    sessions, defects = replayed
    test_site = [r for r in raw if "TEST SITE" in r["Site"]]
    real = [r for r in raw if "TEST SITE" not in r["Site"]]
    no_end = [r for r in real if not r["End Date"]]
    ended = [r for r in real if r["End Date"]]
    negative = [r for r in ended if Decimal(r["Total kWh"]) < 0]
    instant = [
        r
        for r in ended
        if Decimal(r["Total kWh"]) > 0
        and _local(r["Start Date"], r["Start Time"]) == _local(r["End Date"], r["End Time"])
    ]
    assert defects.counts["test_site"] == len(test_site) == 242
    assert defects.counts["no_end"] == len(no_end) == 114
    assert defects.counts["negative_energy"] == len(negative) == 12
    assert defects.counts["zero_duration_with_energy"] == len(instant) == 33
    usable = [r for r in ended if r not in negative and r not in instant]
    starts = Counter((r["CP ID"], r["Connector"], r["Start Date"], r["Start Time"]) for r in usable)
    assert defects.counts["duplicate_start"] == sum(n - 1 for n in starts.values()) == 6
    crossing = [
        r
        for r in usable
        if _local(r["Start Date"], r["Start Time"]) < SPRING_FORWARD <= _local(r["End Date"], r["End Time"])
    ]
    assert defects.counts["dst_crossing"] == len(crossing) == 35
    assert len(sessions) == len(usable) - 6


def test_times_are_uk_local_with_the_offset_of_their_day(replayed: Any) -> None:
    sessions, _ = replayed
    crossing = [s for s in sessions if "dst_crossing" in s.notes]
    # row 13406 (event 7124475): 25/03/2018 00:58 GMT → 02:27 BST is 29 minutes, not 1 h 29
    (short,) = [s for s in crossing if s.unplugged_at - s.plugged_in_at == 29 * 60_000]
    assert short.energy_wh == 18_290 and short.max_power_kw == 50.0
    assert short.plugged_in_at == 1_521_939_480_000  # 2018-03-25T00:58:00Z


def test_energy_is_exact(raw: list[dict[str, str]], replayed: Any) -> None:
    sessions, _ = replayed
    for s in sessions:
        assert s.energy_wh == round(Decimal(raw[s.source_row - 1]["Total kWh"]) * 1000)


def test_events_keep_every_invariant_and_are_deterministic(replayed: Any) -> None:
    sessions, defects = replayed
    first = check_replay(sessions, defects)
    assert event_digest(load(FILE, "dundee")[0]) == first.digest
    assert defects.counts["overlap_truncated"] == 3  # the rest of the overlaps were duplicates


# --- synthetic rows, one per defect reason -------------------------------------------------------

HEADER = (
    "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Cost,Site,Group,Model"
)
ROW = {
    "Charging event": "4259749",
    "CP ID": "50349",
    "Connector": "2",
    "Start Date": "05/03/2018",
    "Start Time": "00:00",
    "End Date": "05/03/2018",
    "End Time": "00:43",
    "Total kWh": "6.65",
    "Cost": "0",
    "Site": "Greenmarket Multi Car Park, Dundee",
    "Model": "APT Dual Rapid Charger",
}


def _parse(tmp_path: Path, *changes: dict[str, str]) -> tuple[list[ReplaySession], Defects]:
    path = tmp_path / "dundee.csv"
    names = HEADER.split(",")
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, names)
        w.writeheader()
        for c in changes:
            w.writerow({n: {**ROW, **c}.get(n, "") for n in names})
    return load(path, "dundee")


@pytest.mark.parametrize(
    ("change", "reason", "dropped"),
    [
        ({"Total kWh": "0"}, "zero_energy", False),
        ({"End Date": "08/03/2018"}, "over_24h", False),
        ({"Start Date": "25/03/2018", "End Date": "25/03/2018", "End Time": "02:27"}, "dst_crossing", False),
        (
            {
                "Start Date": "25/03/2018",
                "Start Time": "01:30",
                "End Date": "25/03/2018",
                "End Time": "03:00",
            },
            "dst_gap",
            False,
        ),
        ({"Site": "***TEST SITE*** Charge Your Car HQ"}, "test_site", True),
        ({"End Date": "", "End Time": "", "Total kWh": ""}, "no_end", True),
        ({"Total kWh": "-27.45"}, "negative_energy", True),
        ({"End Time": "00:00"}, "zero_duration_with_energy", True),
        ({"End Date": "04/03/2018"}, "end_before_start", True),
        ({"Start Date": "2018-03-05"}, "unparseable", True),
        ({"Connector": "A"}, "unparseable", True),
    ],
)
def test_each_defect_reason(tmp_path: Path, change: dict[str, str], reason: str, dropped: bool) -> None:
    sessions, defects = _parse(tmp_path, change)
    assert defects.counts[reason] == 1 and defects.samples[reason] == [1]
    assert (len(sessions), defects.dropped) == ((0, 1) if dropped else (1, 0))


def test_a_duplicate_start_keeps_the_row_with_the_energy(tmp_path: Path) -> None:
    stub = {"End Time": "00:05", "Total kWh": "0"}
    sessions, defects = _parse(tmp_path, stub, {})
    assert [s.source_row for s in sessions] == [2] and defects.samples["duplicate_start"] == [1]


def test_overlap_on_a_connector_moves_the_earlier_unplug(tmp_path: Path) -> None:
    long_stay = {"End Date": "06/03/2018", "End Time": "08:00", "Total kWh": "0"}
    next_car = {"Start Date": "05/03/2018", "Start Time": "09:00", "End Time": "10:00"}
    sessions, defects = _parse(tmp_path, long_stay, next_car)
    first, second = sorted(sessions, key=lambda s: s.plugged_in_at)
    assert first.unplugged_at == second.plugged_in_at and first.notes == ("overlap_truncated", "zero_energy")
    assert defects.counts["overlap_truncated"] == 1 and defects.dropped == 0


def test_rated_power_from_the_model() -> None:
    assert rated_power_kw("APT 7kW Dual Outlet") == 7.0
    assert rated_power_kw("APT 22kW Dual Outlet") == 22.0
    assert rated_power_kw("APT Triple Rapid Charger") == 50.0
    assert rated_power_kw("Mystery") is None
