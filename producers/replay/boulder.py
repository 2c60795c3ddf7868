"""City of Boulder sessions (CSV) → ReplaySessions. Pure.

Start/end are Mountain local times printed to the minute with an MST/MDT label (its offset is
used); durations are to the second. The data names stations but not ports, so connectors are
assigned by greedy interval assignment (`common.assign_connectors`).
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from producers.replay.common import (
    assign_connectors,
    collect,
    csv_rows,
    finalize,
    hms_seconds,
    labelled_span,
    slug,
    time_problem,
    wh_from_kwh,
)
from producers.replay.model import Defects, ReplaySession

DATASET = "boulder"
TIME_ZONE = "America/Denver"
_ZONE = ZoneInfo(TIME_ZONE)
_OFFSETS_H = {"MST": -7, "MDT": -6}
_FMT = "%Y/%m/%d %H:%M:%S"

REQUIRED = (
    "Station_Name",
    "Address",
    "Start_Date___Time",
    "Start_Time_Zone",
    "End_Date___Time",
    "End_Time_Zone",
    "Total_Duration__hh_mm_ss_",
    "Charging_Time__hh_mm_ss_",
    "Energy__kWh_",
)


def parse_row(
    record: dict[str, str], row: int, defects: Defects, seen: set[tuple[str, ...]]
) -> ReplaySession | None:
    """One CSV row; None (counted) when it cannot be replayed. `seen` holds the duplicate keys so far."""
    try:
        name = record["Station_Name"].strip()
        total_s = hms_seconds(record["Total_Duration__hh_mm_ss_"])
        charging_s = hms_seconds(record["Charging_Time__hh_mm_ss_"])
        wh = wh_from_kwh(record["Energy__kWh_"])
        plugged, unplugged, notes = labelled_span(
            (record["Start_Date___Time"], record["Start_Time_Zone"]),
            (record["End_Date___Time"], record["End_Time_Zone"]),
            total_s,
            _FMT,
            _OFFSETS_H,
            _ZONE,
        )
        address = record["Address"]
    except (KeyError, TypeError, ValueError, AttributeError):
        defects.count("unparseable", row)
        return None
    problem = time_problem(plugged, unplugged, wh)
    if problem:
        defects.count(problem, row)
        return None
    if charging_s > total_s:
        notes.append("charging_exceeds_total")
    # Exported twice: same station, same printed start and end, same kWh (durations differ by a second).
    key = (name, record["Start_Date___Time"], record["End_Date___Time"], record["Energy__kWh_"])
    if key in seen:
        defects.count("duplicate", row)
        return None
    seen.add(key)
    return ReplaySession(
        dataset=DATASET,
        source_row=row,
        station_id=slug("BLD", name),
        connector_id=1,
        site_id=slug("BLD", address),
        time_zone=TIME_ZONE,
        plugged_in_at=plugged,
        unplugged_at=unplugged,
        energy_wh=wh,
        charging_s=charging_s,
        notes=tuple(notes),
        station_model=(record.get("Port_Type") or "").strip() or None,
    )


def parse(path: Path, limit: int | None = None) -> tuple[list[ReplaySession], Defects]:
    defects = Defects()
    seen: set[tuple[str, ...]] = set()
    sessions = collect(csv_rows(path, REQUIRED, limit), lambda r, n, d: parse_row(r, n, d, seen), defects)
    return finalize(assign_connectors(sessions), defects), defects
