"""Caltech ACN-Data sessions (JSON, `_items`) → ReplaySessions. Pure.

Times are RFC-1123 GMT strings; kWh are read as the JSON text (Decimal), never as a float.
One space per station in this export, so the connector is 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from producers.replay.common import collect, finalize, resolve_overlaps, time_problem, user_ref, wh_from_kwh
from producers.replay.model import Defects, ReplayFileError, ReplaySession
from schemas.events import to_ms

DATASET = "acn"
_RFC1123 = "%a, %d %b %Y %H:%M:%S GMT"


def parse_time(text: str) -> int:
    """'Tue, 01 Dec 2020 13:59:06 GMT' → epoch ms."""
    return to_ms(datetime.strptime(text.strip(), _RFC1123).replace(tzinfo=UTC))


def _text(item: dict[str, Any], key: str) -> str:
    value = item[key]
    if value is None or not str(value).strip():
        raise ValueError(f"{key} is empty")
    return str(value).strip()


def read_items(path: Path) -> list[Any]:
    """The `_items` list (or a bare list); kWh stay decimal text (Decimal), never floats."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReplayFileError(f"{path.name}: not JSON ({exc})") from exc
    items = data.get("_items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ReplayFileError(f"{path.name}: no list of sessions (`_items`)")
    return items


def parse_item(item: dict[str, Any], row: int, defects: Defects) -> ReplaySession | None:
    """One `_items` entry; None (counted) when it cannot be replayed."""
    try:
        plugged = parse_time(item["connectionTime"])
        unplugged = parse_time(item["disconnectTime"])
        wh = wh_from_kwh(str(item["kWhDelivered"]))
        station = _text(item, "stationID")
        site = _text(item, "siteID")
        tz = str(item.get("timezone") or "America/Los_Angeles")
        done_text = item.get("doneChargingTime")
        done = parse_time(done_text) if done_text else None
    except (KeyError, TypeError, ValueError):
        defects.count("unparseable", row)
        return None
    problem = time_problem(plugged, unplugged, wh)
    if problem:
        defects.count(problem, row)
        return None
    notes: list[str] = []
    if done is None:
        notes.append("done_charging_missing")
    elif done > unplugged:
        notes.append("done_after_disconnect")
        done = None
    elif done < plugged:
        notes.append("done_before_connection")
        done = None
    return ReplaySession(
        dataset=DATASET,
        source_row=row,
        station_id=f"ACN-{station}",
        connector_id=1,
        site_id=f"ACN-{site}",
        time_zone=tz,
        plugged_in_at=plugged,
        unplugged_at=unplugged,
        energy_wh=wh,
        charging_ended_at=done,
        user_ref=user_ref(DATASET, item.get("userID")),
        notes=tuple(notes),
        station_model=f"space {item.get('spaceID') or '?'}",
    )


def _parse_any(item: Any, row: int, defects: Defects) -> ReplaySession | None:
    if not isinstance(item, dict):
        defects.count("unparseable", row)
        return None
    return parse_item(item, row, defects)


def parse(path: Path, limit: int | None = None) -> tuple[list[ReplaySession], Defects]:
    defects = Defects()
    sessions = collect(enumerate(read_items(path)[:limit], start=1), _parse_any, defects)
    return finalize(resolve_overlaps(sessions, defects), defects), defects
