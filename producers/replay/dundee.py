"""Dundee City Council / ChargePlace Scotland sessions (CSV) → ReplaySessions. Pure.

Times are UK wall-clock times without offset, printed to the minute: each is read in
Europe/London with its own offset, which fixes sessions across the 2018-03-25 change (kept,
noted `dst_crossing`; reading both ends as one offset would be off by an hour). There is no
charging-done time, so charging lasts until unplug.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

from producers.replay.common import (
    collect,
    csv_rows,
    finalize,
    resolve_overlaps,
    slug,
    time_problem,
    wh_from_kwh,
    zone_local,
)
from producers.replay.model import Defects, ReplaySession
from schemas.events import to_ms

DATASET = "dundee"
TIME_ZONE = "Europe/London"
_ZONE = ZoneInfo(TIME_ZONE)
_FMT = "%d/%m/%Y %H:%M"
_KW = re.compile(r"(\d+(?:\.\d+)?)\s*kW", re.IGNORECASE)
RAPID_KW = 50.0  # "APT Triple/Dual Rapid Charger": 50 kW DC units

REQUIRED = (
    "CP ID",
    "Connector",
    "Start Date",
    "Start Time",
    "End Date",
    "End Time",
    "Total kWh",
    "Site",
    "Model",
)


def rated_power_kw(model: str) -> float | None:
    m = _KW.search(model)
    if m:
        return float(m.group(1))
    return RAPID_KW if "rapid" in model.lower() else None


def is_test_site(site: str) -> bool:
    return "TEST SITE" in site.upper()


def parse_row(record: dict[str, str], row: int, defects: Defects) -> ReplaySession | None:
    """One CSV row; None (counted) when it cannot be replayed."""
    try:
        site = record["Site"].strip()
        if is_test_site(site):
            defects.count("test_site", row)
            return None
        if not record["End Date"].strip() or not record["Total kWh"].strip():
            defects.count("no_end", row)
            return None
        t0, gap0 = zone_local(f"{record['Start Date']} {record['Start Time']}", _FMT, _ZONE)
        t1, gap1 = zone_local(f"{record['End Date']} {record['End Time']}", _FMT, _ZONE)
        wh = wh_from_kwh(record["Total kWh"])
        cp = record["CP ID"].strip()
        connector = int(record["Connector"])
        model = record["Model"].strip()
    except (KeyError, TypeError, ValueError, AttributeError):
        defects.count("unparseable", row)
        return None
    if not cp or connector < 1:
        defects.count("unparseable", row)
        return None
    plugged, unplugged = to_ms(t0), to_ms(t1)
    problem = time_problem(plugged, unplugged, wh)
    if problem:
        defects.count(problem, row)
        return None
    notes = []
    if gap0 or gap1:
        notes.append("dst_gap")
    if t0.utcoffset() != t1.utcoffset():
        notes.append("dst_crossing")
    return ReplaySession(
        dataset=DATASET,
        source_row=row,
        station_id=f"DUN-{cp}",
        connector_id=connector,
        site_id=slug("DUN", site),
        time_zone=TIME_ZONE,
        plugged_in_at=plugged,
        unplugged_at=unplugged,
        energy_wh=wh,
        notes=tuple(notes),
        station_model=model or None,
        max_power_kw=rated_power_kw(model),
    )


def drop_duplicate_starts(sessions: list[ReplaySession], defects: Defects) -> list[ReplaySession]:
    """Rows sharing (CP, connector, start) are one plug-in recorded twice (a stub with little or no
    energy next to the real session): keep the one with the most energy, then the longest."""
    groups: dict[tuple[str, int, int], list[ReplaySession]] = defaultdict(list)
    for s in sessions:
        groups[(s.station_id, s.connector_id, s.plugged_in_at)].append(s)
    kept: list[ReplaySession] = []
    for group in groups.values():
        group.sort(key=lambda s: (-s.energy_wh, -s.unplugged_at, s.source_row))
        kept.append(group[0])
        for s in group[1:]:
            defects.count("duplicate_start", s.source_row)
    return kept


def parse(path: Path, limit: int | None = None) -> tuple[list[ReplaySession], Defects]:
    defects = Defects()
    sessions = collect(csv_rows(path, REQUIRED, limit), parse_row, defects)
    unique = drop_duplicate_starts(sessions, defects)
    return finalize(resolve_overlaps(unique, defects), defects), defects
