"""Palo Alto replay: the real export, measured independently, and one synthetic row per defect."""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from producers.replay import Defects, ReplaySession, load
from tests.unit.test_replay_events import DATASETS, check_replay, event_digest

FILE = DATASETS / "paloalto_sessions_subset.csv"
OFFSET_H = {"PST": -8, "PDT": -7}


def _ms(text: str, label: str) -> int:
    local = datetime.strptime(text, "%m/%d/%Y %H:%M").replace(
        tzinfo=timezone(timedelta(hours=OFFSET_H[label]))
    )
    return int(local.timestamp()) * 1000


def _s(hms: str) -> int:
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s


@pytest.fixture(scope="module")
def raw() -> list[dict[str, str]]:
    with FILE.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def replayed() -> tuple[list[ReplaySession], Defects]:
    return load(FILE, "paloalto")


def test_every_row_is_accounted_for(raw: list[dict[str, str]], replayed: Any) -> None:
    sessions, defects = replayed
    assert defects.rows_read == len(raw) == 9_999
    assert len(sessions) + defects.dropped == len(raw) and defects.dropped == 0


def test_defect_counts_match_an_independent_count(raw: list[dict[str, str]], replayed: Any) -> None:
    _, defects = replayed
    total = [_s(r["Total Duration (hh:mm:ss)"]) for r in raw]
    charging = [_s(r["Charging Time (hh:mm:ss)"]) for r in raw]
    spans = [
        (_ms(r["Start Date"], r["Start Time Zone"]), _ms(r["End Date"], r["End Time Zone"])) for r in raw
    ]
    mismatch = [
        i for i, (a, b) in enumerate(spans) if b != a and abs((b - a) / 1000 - total[i]) >= 120
    ]  # minute-truncated times vs a to-the-second duration
    assert defects.counts["missing_user"] == sum(1 for r in raw if not r["User ID"].strip()) == 179
    assert (
        defects.counts["charging_exceeds_total"]
        == sum(c > t for c, t in zip(charging, total, strict=True))
        == 5
    )
    assert defects.counts["duration_mismatch"] == len(mismatch) == 33
    assert defects.counts["end_equals_start"] == sum(1 for a, b in spans if a == b) == 1


def test_overlaps_on_a_port_are_resolved_by_moving_the_earlier_unplug(replayed: Any) -> None:
    sessions, defects = replayed
    by_port: dict[tuple[str, int], list[ReplaySession]] = defaultdict(list)
    for s in sessions:
        by_port[(s.station_id, s.connector_id)].append(s)
    truncated = 0
    for group in by_port.values():
        group.sort(key=lambda s: s.plugged_in_at)
        for a, b in itertools.pairwise(group):
            assert a.unplugged_at <= b.plugged_in_at
            if "overlap_truncated" in a.notes:
                truncated += 1
                assert a.unplugged_at == b.plugged_in_at
    assert truncated == defects.counts["overlap_truncated"] == 10


def test_times_and_energy_are_exact(raw: list[dict[str, str]], replayed: Any) -> None:
    sessions, _ = replayed
    for s in sessions:
        r = raw[s.source_row - 1]
        assert s.plugged_in_at == _ms(r["Start Date"], r["Start Time Zone"])
        assert s.energy_wh == round(Decimal(r["Energy (kWh)"]) * 1000)
        assert s.connector_id == int(r["Port Number"]) and s.charging_s == _s(r["Charging Time (hh:mm:ss)"])


def test_events_keep_every_invariant_and_are_deterministic(replayed: Any) -> None:
    sessions, defects = replayed
    first = check_replay(sessions, defects)
    assert event_digest(load(FILE, "paloalto")[0]) == first.digest


# --- synthetic rows, one per defect reason -------------------------------------------------------

HEADER = (
    "Station Name,MAC Address,Org Name,Start Date,Start Time Zone,End Date,End Time Zone,"
    "Transaction Date (Pacific Time),Total Duration (hh:mm:ss),Charging Time (hh:mm:ss),Energy (kWh),"
    "GHG Savings (kg),Gasoline Savings (gallons),Port Type,Port Number,Plug Type,EVSE ID,Address 1,City,"
    "State/Province,Postal Code,Country,Latitude,Longitude,Currency,Fee,Ended By,Plug In Event Id,"
    "Driver Postal Code,User ID,County,System S/N,Model Number"
)
ROW = {
    "Station Name": "PALO ALTO CA / HAMILTON #1",
    "Start Date": "7/29/2011 20:17",
    "Start Time Zone": "PDT",
    "End Date": "7/29/2011 23:20",
    "End Time Zone": "PDT",
    "Total Duration (hh:mm:ss)": "3:03:32",
    "Charging Time (hh:mm:ss)": "1:54:03",
    "Energy (kWh)": "6.249457",
    "Port Type": "Level 2",
    "Port Number": "2",
    "Address 1": "250 Hamilton Ave",
    "Latitude": "37.444572",
    "Longitude": "-122.160309",
    "User ID": "3284",
}


def _parse(tmp_path: Path, *changes: dict[str, str]) -> tuple[list[ReplaySession], Defects]:
    path = tmp_path / "paloalto.csv"
    names = HEADER.split(",")
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, names)
        w.writeheader()
        for c in changes:
            w.writerow({n: {**ROW, **c}.get(n, "") for n in names})
    return load(path, "paloalto")


@pytest.mark.parametrize(
    ("change", "reason", "dropped"),
    [
        ({"User ID": ""}, "missing_user", False),
        ({"Charging Time (hh:mm:ss)": "3:10:00"}, "charging_exceeds_total", False),
        ({"Total Duration (hh:mm:ss)": "2:00:00"}, "duration_mismatch", False),
        ({"End Date": "7/29/2011 20:17", "Total Duration (hh:mm:ss)": "4:34:38"}, "end_equals_start", False),
        ({"End Date": "7/31/2011 23:20", "Total Duration (hh:mm:ss)": "51:03:32"}, "over_24h", False),
        ({"Energy (kWh)": "0"}, "zero_energy", False),
        ({"End Date": "7/29/2011 20:00"}, "end_before_start", True),
        ({"Energy (kWh)": "-0.5"}, "negative_energy", True),
        ({"Start Time Zone": "EST"}, "unparseable", True),
        ({"Port Number": ""}, "unparseable", True),
    ],
)
def test_each_defect_reason(tmp_path: Path, change: dict[str, str], reason: str, dropped: bool) -> None:
    sessions, defects = _parse(tmp_path, change)
    assert defects.counts[reason] == 1 and defects.samples[reason] == [1]
    assert (len(sessions), defects.dropped) == ((0, 1) if dropped else (1, 0))


def test_overlap_on_a_port(tmp_path: Path) -> None:
    next_car = {
        "Start Date": "7/29/2011 22:00",
        "End Date": "7/29/2011 23:50",
        "Total Duration (hh:mm:ss)": "1:50:00",
    }
    same_time = {
        "Start Date": "7/29/2011 22:00",
        "End Date": "7/29/2011 22:30",
        "Total Duration (hh:mm:ss)": "0:30:00",
    }
    sessions, defects = _parse(tmp_path, {}, next_car, same_time)
    assert [s.source_row for s in sorted(sessions, key=lambda s: s.plugged_in_at)] == [1, 2]
    assert defects.counts["overlap_truncated"] == 1 and defects.samples["overlap_same_start"] == [3]
    first = next(s for s in sessions if s.source_row == 1)
    assert first.unplugged_at - first.plugged_in_at == (60 + 43) * 60_000
