"""City of Palo Alto sessions (CSV) → ReplaySessions. Pure.

Start/end are Pacific local times printed to the minute with a PST/PDT label (its offset is
used); durations are to the second. Ports are named (`Port Number`), so overlapping sessions on
one port are resolved (`common.resolve_overlaps`), not reassigned.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from producers.replay.common import (
    collect,
    csv_rows,
    finalize,
    hms_seconds,
    labelled_span,
    resolve_overlaps,
    slug,
    time_problem,
    user_ref,
    wh_from_kwh,
)
from producers.replay.model import Defects, ReplaySession

DATASET = "paloalto"
TIME_ZONE = "America/Los_Angeles"
_ZONE = ZoneInfo(TIME_ZONE)
_OFFSETS_H = {"PST": -8, "PDT": -7}
_FMT = "%m/%d/%Y %H:%M"

REQUIRED = (
    "Station Name",
    "Start Date",
    "Start Time Zone",
    "End Date",
    "End Time Zone",
    "Total Duration (hh:mm:ss)",
    "Charging Time (hh:mm:ss)",
    "Energy (kWh)",
    "Port Number",
    "Address 1",
    "User ID",
)


# `Ended By` as OCPP 2.0.1 stop reasons: what ended the session, as the station's back end recorded it.
# A GFCI trip is a ground fault that ends charging: a fault figure the file holds without any status.
ENDED_BY: dict[str, str] = {
    "Plug Out at Vehicle": "EVDisconnected",
    "Plug Out at Station": "EVDisconnected",
    "Customer": "Local",
    "Holster Plugin": "Local",
    "CPS Server": "Remote",
    "Final GFCI Tripped": "GroundFault",
    "Plug Removed While Rebooting": "Reboot",
    "Outlet Unreachable": "PowerLoss",
    "Door Open": "Other",
    "Door": "Other",
    "Door Closed": "Other",
}


def _coordinate(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def parse_row(record: dict[str, str], row: int, defects: Defects) -> ReplaySession | None:
    """One CSV row; None (counted) when it cannot be replayed."""
    try:
        name = record["Station Name"].strip()
        total_s = hms_seconds(record["Total Duration (hh:mm:ss)"])
        charging_s = hms_seconds(record["Charging Time (hh:mm:ss)"])
        wh = wh_from_kwh(record["Energy (kWh)"])
        plugged, unplugged, notes = labelled_span(
            (record["Start Date"], record["Start Time Zone"]),
            (record["End Date"], record["End Time Zone"]),
            total_s,
            _FMT,
            _OFFSETS_H,
            _ZONE,
        )
        port = int(record["Port Number"])
        address = record["Address 1"]
        user = record["User ID"]
    except (KeyError, TypeError, ValueError, AttributeError):
        defects.count("unparseable", row)
        return None
    problem = time_problem(plugged, unplugged, wh)
    if problem:
        defects.count(problem, row)
        return None
    if charging_s > total_s:
        notes.append("charging_exceeds_total")
    if not user.strip():
        notes.append("missing_user")
    return ReplaySession(
        dataset=DATASET,
        source_row=row,
        station_id=slug("PAL", name),
        connector_id=port,
        site_id=slug("PAL", address),
        time_zone=TIME_ZONE,
        plugged_in_at=plugged,
        unplugged_at=unplugged,
        energy_wh=wh,
        charging_s=charging_s,
        user_ref=user_ref(DATASET, user),
        notes=tuple(notes),
        station_model=(record.get("Port Type") or "").strip() or None,
        latitude=_coordinate(record.get("Latitude")),
        longitude=_coordinate(record.get("Longitude")),
        stop_reason=ENDED_BY.get((record.get("Ended By") or "").strip()),
    )


def parse(path: Path, limit: int | None = None) -> tuple[list[ReplaySession], Defects]:
    defects = Defects()
    sessions = collect(csv_rows(path, REQUIRED, limit), parse_row, defects)
    return finalize(resolve_overlaps(sessions, defects), defects), defects
