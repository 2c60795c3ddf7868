"""Helpers every dataset parser shares: exact numbers and times, ids, connector clean-up. Pure."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from producers.replay.model import Defects, ReplayFileError, ReplaySession
from schemas.events import DAY_MS, to_ms

R = TypeVar("R")  # one row of a file, as its reader gives it

# Boulder and Palo Alto print start/end to the minute but durations to the second.
TRUNCATION_TOLERANCE_S = 120


def wh_from_kwh(text: str | Decimal) -> int:
    """round(kWh × 1000) from the decimal text itself; ties to even, like Python's round."""
    try:
        kwh = text if isinstance(text, Decimal) else Decimal(text.strip())
        return round(kwh * 1000)
    except (InvalidOperation, ValueError, OverflowError) as exc:  # NaN/Infinity cannot round
        raise ValueError(f"not a kWh number: {text!r}") from exc


def hms_seconds(text: str) -> int:
    """'h:mm:ss' (hours may exceed 24) → seconds."""
    h, m, s = text.strip().split(":")
    if not (h.isdigit() and m.isdigit() and s.isdigit()) or int(m) > 59 or int(s) > 59:
        raise ValueError(f"not h:mm:ss: {text!r}")
    return int(h) * 3600 + int(m) * 60 + int(s)


def labelled_local(text: str, fmt: str, label: str, offsets_h: dict[str, int]) -> datetime:
    """A local time whose zone abbreviation (MST, PDT, …) says its UTC offset."""
    offset = offsets_h.get(label.strip())
    if offset is None:
        raise ValueError(f"unknown zone label {label!r}")
    return datetime.strptime(text.strip(), fmt).replace(tzinfo=timezone(timedelta(hours=offset)))


def label_agrees_with_zone(dt: datetime, zone: ZoneInfo) -> bool:
    """Whether the labelled offset is one the zone's rules allow at that wall time (either fold)."""
    naive = dt.replace(tzinfo=None)
    return dt.utcoffset() in {naive.replace(tzinfo=zone, fold=f).utcoffset() for f in (0, 1)}


def zone_local(text: str, fmt: str, zone: ZoneInfo) -> tuple[datetime, bool]:
    """A wall time in a zone without offset; True when it falls in the spring-forward gap.

    Gap times keep fold=0, i.e. the pre-change offset (a clock not yet moved on); ambiguous
    autumn times take the first (summer) reading.
    """
    naive = datetime.strptime(text.strip(), fmt)
    aware = naive.replace(tzinfo=zone)
    round_trip = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return aware, round_trip != naive


_NON_ALNUM = re.compile(r"[^A-Z0-9]+")


def slug(prefix: str, text: str) -> str:
    """A stable id from free text: 'BOULDER / JUNCTION ST1' → 'BLD-BOULDER-JUNCTION-ST1'."""
    body = _NON_ALNUM.sub("-", text.upper()).strip("-")
    return f"{prefix}-{body}" if body else prefix


def user_ref(dataset: str, user_id: str | None) -> str | None:
    """A pseudonymous reference: the same user gives the same hash, the raw id never leaves."""
    if user_id is None or not str(user_id).strip():
        return None
    return hashlib.sha256(f"{dataset}:{str(user_id).strip()}".encode()).hexdigest()[:32]


def time_problem(plugged_in_at: int, unplugged_at: int, energy_wh: int) -> str | None:
    """The drop reason of times or energy no charger could have reported, or None."""
    if energy_wh < 0:
        return "negative_energy"
    if unplugged_at < plugged_in_at:
        return "end_before_start"
    if unplugged_at == plugged_in_at and energy_wh > 0:
        return "zero_duration_with_energy"
    return None


def assign_connectors(sessions: Iterable[ReplaySession]) -> list[ReplaySession]:
    """Greedy interval assignment for stations without port ids.

    By plug-in time, each session takes the lowest-numbered connector that is free (its last car
    has left); a new connector opens only when all are busy. For intervals this uses the fewest
    connectors possible (the station's peak concurrency) and no connector ever holds two cars.
    """
    by_station: dict[str, list[ReplaySession]] = defaultdict(list)
    for s in sessions:
        by_station[s.station_id].append(s)
    out: list[ReplaySession] = []
    for station_sessions in by_station.values():
        free_at: list[int] = []  # per connector (index + 1): when its last car left
        for s in sorted(station_sessions, key=lambda x: (x.plugged_in_at, x.source_row)):
            idx = next((i for i, t in enumerate(free_at) if t <= s.plugged_in_at), len(free_at))
            if idx == len(free_at):
                free_at.append(s.unplugged_at)
            free_at[idx] = s.unplugged_at
            notes = (*s.notes, "extra_connector") if idx > 0 else s.notes
            out.append(replace(s, connector_id=idx + 1, notes=notes))
    return out


def resolve_overlaps(sessions: Iterable[ReplaySession], defects: Defects) -> list[ReplaySession]:
    """Sessions on one connector that overlap (the data names the port).

    A later plug-in proves the earlier car had left, so the earlier session's unplug moves to that
    plug-in (kept, noted); its energy stays exact. Two plug-ins at the same moment cannot both be
    real: the later row is dropped.
    """
    by_connector: dict[tuple[str, int], list[ReplaySession]] = defaultdict(list)
    for s in sessions:
        by_connector[(s.station_id, s.connector_id)].append(s)
    out: list[ReplaySession] = []
    for group in by_connector.values():
        kept: list[ReplaySession] = []
        for s in sorted(group, key=lambda x: (x.plugged_in_at, x.source_row)):
            prev = kept[-1] if kept else None
            if prev is not None and s.plugged_in_at < prev.unplugged_at:
                if s.plugged_in_at == prev.plugged_in_at:
                    defects.count("overlap_same_start", s.source_row)
                    continue
                done = prev.charging_ended_at
                kept[-1] = replace(
                    prev,
                    unplugged_at=s.plugged_in_at,
                    charging_ended_at=done if done is not None and done <= s.plugged_in_at else None,
                    notes=_with(prev.notes, "overlap_truncated"),
                )
            kept.append(s)
        out.extend(kept)
    return out


def _with(notes: tuple[str, ...], note: str) -> tuple[str, ...]:
    return notes if note in notes else (*notes, note)


def finalize(sessions: Iterable[ReplaySession], defects: Defects) -> list[ReplaySession]:
    """Add the notes every dataset shares, count every replayed session's notes, sort by station time.

    Notes are counted here, once the rows to replay are settled, so a kept-reason count never
    includes a row that a later step dropped.
    """
    out: list[ReplaySession] = []
    for s in sessions:
        notes = s.notes
        duration_ms = s.unplugged_at - s.plugged_in_at
        if duration_ms > DAY_MS:
            notes = _with(notes, "over_24h")
        if s.energy_wh == 0:
            notes = _with(notes, "zero_energy")
        for n in notes:
            defects.count(n, s.source_row)
        out.append(replace(s, notes=notes))
    out.sort(key=lambda x: (x.station_id, x.plugged_in_at, x.connector_id, x.source_row))
    return out


def collect(
    rows: Iterable[tuple[int, R]],
    convert: Callable[[R, int, Defects], ReplaySession | None],
    defects: Defects,
) -> list[ReplaySession]:
    """The sessions of a file's rows: each row counted, converted, or (None) left to `defects`."""
    sessions: list[ReplaySession] = []
    for row, record in rows:
        defects.rows_read += 1
        s = convert(record, row, defects)
        if s is not None:
            sessions.append(s)
    return sessions


def csv_rows(
    path: Path, required: Iterable[str], limit: int | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """(1-based data row, row) of a CSV export (a UTF-8 BOM, if any, is not part of the first name).

    A header without the `required` columns means another kind of file: ReplayFileError, not a
    file full of unparseable rows.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = sorted(set(required) - set(reader.fieldnames or ()))
            if missing:
                raise ReplayFileError(f"{path.name}: no column {', '.join(map(repr, missing))}")
            for row, record in enumerate(reader, start=1):
                if limit is not None and row > limit:
                    return
                yield row, record
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ReplayFileError(f"{path.name}: not a readable CSV file ({exc})") from exc


def labelled_span(
    start: tuple[str, str],
    end: tuple[str, str],
    total_s: int,
    fmt: str,
    offsets_h: dict[str, int],
    zone: ZoneInfo,
) -> tuple[int, int, list[str]]:
    """Plug-in and unplug (epoch ms) from (text, zone label) pairs printed to the minute.

    The label's offset is used even when it disagrees with the zone's rules (noted). An end equal
    to the start is a minute-truncation artefact: the printed total duration gives the unplug.
    """
    t0 = labelled_local(start[0], fmt, start[1], offsets_h)
    t1 = labelled_local(end[0], fmt, end[1], offsets_h)
    notes = (
        []
        if label_agrees_with_zone(t0, zone) and label_agrees_with_zone(t1, zone)
        else ["zone_label_mismatch"]
    )
    plugged, unplugged = to_ms(t0), to_ms(t1)
    if unplugged == plugged:
        unplugged = plugged + total_s * 1000
        notes.append("end_equals_start")
    elif unplugged > plugged and abs(unplugged - plugged - total_s * 1000) >= TRUNCATION_TOLERANCE_S * 1000:
        notes.append("duration_mismatch")
    return plugged, unplugged, notes
