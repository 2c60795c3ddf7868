"""When a tariff element applies: evaluating ``TariffRestrictions`` for a (part of a) charging period.

Readings of OCPI 2.2.1 chosen here (each checked against the tandemdrive/ocpi-tariffs cases):

* Restrictions are evaluated at the *start* of a period. The pricer first cuts periods at every
  instant where a restriction can flip (see :func:`cut_points`), so "at the start" holds for the
  whole (sub-)period.
* ``start_time`` is inclusive, ``end_time`` exclusive, both local time of the location.
  ``end_time < start_time`` wraps past midnight (``22:00``–``06:00``); ``end_time == start_time``
  is read as the whole day (a window that can never hold would be pointless).
* ``start_date`` inclusive, ``end_date`` exclusive ("valid until this day, excluding this day").
* ``day_of_week`` is the local weekday of the period start.
* ``min_kwh``/``max_kwh`` compare the energy charged in the session *before* the period
  (``min`` inclusive, ``max`` exclusive); ``min_duration``/``max_duration`` compare the wall-clock
  time since the session start, charging and parking alike (the ``grace_period_parking_time``
  reference case only prices right with wall-clock duration).
* ``min/max_current`` compare the period's ``MIN_CURRENT``/``MAX_CURRENT`` dimension,
  ``min/max_power`` its ``MIN_POWER``/``MAX_POWER`` (min inclusive, max exclusive). A period that
  does not report the value does not violate the restriction (as the reference implementation).
* ``reservation``: elements restricted to reservations price reservation time, which this engine
  does not price; such elements never match a charging period, so they cannot leak into charging.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from streams.tariffs.model import Tariff, TariffRestrictions
from streams.tariffs.session import CdrDimensionType, ChargingPeriod


@dataclass(frozen=True, slots=True)
class Instant:
    """The session's state at the start of a (sub-)period."""

    at: datetime
    local: datetime
    seconds_since_start: Decimal
    energy_before: Decimal


def instant(at: datetime, session_start: datetime, energy_before: Decimal, tz: ZoneInfo) -> Instant:
    return Instant(at, at.astimezone(tz), seconds_between(session_start, at), energy_before)


def seconds_between(start: datetime, end: datetime) -> Decimal:
    return Decimal((end - start) // timedelta(microseconds=1)) / Decimal(1_000_000)


def _time_window_holds(r: TariffRestrictions, now: time) -> bool:
    start, end = r.start_time, r.end_time
    if start is not None and end is not None:
        if start == end:
            return True
        if end < start:
            return now >= start or now < end
        return start <= now < end
    if start is not None and now < start:
        return False
    return not (end is not None and now >= end)


def _level_holds(value: Decimal | None, low: Decimal | None, high: Decimal | None) -> bool:
    if value is None:
        return True
    if low is not None and value < low:
        return False
    return not (high is not None and value >= high)


def restrictions_hold(r: TariffRestrictions, state: Instant, period: ChargingPeriod) -> bool:
    if r.reservation is not None:
        return False
    if not _time_window_holds(r, state.local.time().replace(tzinfo=None)):
        return False
    today = state.local.date()
    if r.start_date is not None and today < r.start_date:
        return False
    if r.end_date is not None and today >= r.end_date:
        return False
    if r.day_of_week and not any(d.iso_index == today.weekday() for d in r.day_of_week):
        return False
    if r.min_kwh is not None and state.energy_before < r.min_kwh:
        return False
    if r.max_kwh is not None and state.energy_before >= r.max_kwh:
        return False
    if r.min_duration is not None and state.seconds_since_start < r.min_duration:
        return False
    if r.max_duration is not None and state.seconds_since_start >= r.max_duration:
        return False
    return (
        _level_holds(period.volume(CdrDimensionType.MIN_CURRENT), r.min_current, None)
        and _level_holds(period.volume(CdrDimensionType.MAX_CURRENT), None, r.max_current)
        and _level_holds(period.volume(CdrDimensionType.MIN_POWER), r.min_power, None)
        and _level_holds(period.volume(CdrDimensionType.MAX_POWER), None, r.max_power)
    )


@dataclass(frozen=True, slots=True)
class CutPoint:
    """Where to cut a period: at ``fraction`` of its wall-clock length (0 < fraction < 1).

    ``energy_at`` is the exact session energy at the cut when the cut comes from a kWh bound
    (energy is spread linearly over the period); ``None`` for time-based cuts.
    """

    fraction: Decimal
    energy_at: Decimal | None = None


def _local_times(tariff: Tariff) -> set[time]:
    times: set[time] = set()
    for element in tariff.elements:
        r = element.restrictions
        times.update(t for t in (r.start_time, r.end_time) if t is not None)
        if r.day_of_week or r.start_date is not None or r.end_date is not None:
            times.add(time(0, 0))
    return times


def _local_occurrences(times: Iterable[time], start: datetime, end: datetime, tz: ZoneInfo) -> set[datetime]:
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    found: set[datetime] = set()
    day: date = first - timedelta(days=1)
    while day <= last + timedelta(days=1):
        for t in times:
            found.add(datetime.combine(day, t, tzinfo=tz).astimezone(UTC))
        day += timedelta(days=1)
    return found


def cut_points(
    tariff: Tariff,
    tz: ZoneInfo,
    session_start: datetime,
    start: datetime,
    end: datetime,
    energy_before: Decimal,
    energy: Decimal,
) -> list[CutPoint]:
    """Every point strictly inside ``[start, end)`` where some restriction of ``tariff`` can flip:
    local times of day (and midnights when dates/weekdays matter), duration bounds, kWh bounds."""
    length = seconds_between(start, end)
    if length <= 0:
        return []
    instants = _local_occurrences(_local_times(tariff), start, end, tz)
    for element in tariff.elements:
        r = element.restrictions
        for bound in (r.min_duration, r.max_duration):
            if bound is not None:
                instants.add(session_start + timedelta(seconds=bound))
    cuts = [CutPoint(seconds_between(start, at) / length) for at in instants if start < at < end]
    if energy > 0:
        for element in tariff.elements:
            r = element.restrictions
            for kwh in (r.min_kwh, r.max_kwh):
                if kwh is not None and energy_before < kwh < energy_before + energy:
                    cuts.append(CutPoint((kwh - energy_before) / energy, kwh))
    return sorted(cuts, key=lambda c: c.fraction)
