"""UTC-offset transitions of a time zone, for ClickHouse to read local time from a column. Pure.

ClickHouse takes a time zone only as a constant (`toHour(t, 'Europe/Berlin')`), but analysts' figures
are in each site's own zone. The `tz_offsets` table holds, per zone, the instants its offset changes;
views find the offset in force with an ASOF JOIN and add it. Python's zoneinfo (the IANA database) is
the source; offsets are probed daily and each change found to the minute, so half-hour zones and
one-off changes are right too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FIRST_YEAR: Final = 2000  # sessions before this get the zone's offset of 2000 (and the rows stay few)
LAST_YEAR: Final = 2045
_DAY: Final = timedelta(days=1)
_MINUTE: Final = timedelta(minutes=1)


def _offset(zone: ZoneInfo, t: datetime) -> int:
    off = t.astimezone(zone).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


@lru_cache(maxsize=1024)
def transitions(name: str) -> tuple[tuple[int, int], ...]:
    """``(from_utc_ms, offset_s)`` in time order, the first from the epoch; () for an unknown zone."""
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ()
    t = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
    stop = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
    current = _offset(zone, t)
    out = [(0, current)]
    while t < stop:
        nxt = t + _DAY
        if (after := _offset(zone, nxt)) != current:
            lo, hi = t, nxt  # the change is in (lo, hi]: halve to the minute
            while hi - lo > _MINUTE:
                mid = lo + (hi - lo) / 2
                if _offset(zone, mid) == current:
                    lo = mid
                else:
                    hi = mid
            hi = hi.replace(second=0, microsecond=0)
            out.append((int(hi.timestamp() * 1000), after))
            current = after
        t = nxt
    return tuple(out)
