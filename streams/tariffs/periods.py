"""Cut charging periods where the active tariff element changes.

A CDR needs a new charging period whenever the active element changes (e.g. at 17:00 or at midnight
inside a period). The input periods are cut at every instant where a restriction can flip, the
active element per dimension is looked up for each part, and adjacent parts of the same input period
with the same active elements are merged back, so a cut survives only where something changed.

Amounts (ENERGY, TIME, PARKING_TIME, …) are spread over a period in proportion to wall-clock time,
i.e. constant power and a constant charging/parking mix within one reported period; that is the
only information a CDR period carries. Cuts at a kWh bound are placed where the linearly spread
energy reaches the bound, and the energy on either side is exact. Parts always sum exactly to the
input volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from streams.tariffs.model import Tariff, TariffDimensionType
from streams.tariffs.restrictions import CutPoint, cut_points, instant, restrictions_hold
from streams.tariffs.session import ADDITIVE_DIMENSIONS, CdrDimension, CdrDimensionType, ChargingPeriod

PRICED_DIMENSIONS = (
    TariffDimensionType.ENERGY,
    TariffDimensionType.TIME,
    TariffDimensionType.PARKING_TIME,
    TariffDimensionType.FLAT,
)

ActiveElements = tuple[int | None, ...]
"""Index of the active element per dimension, in the order of ``PRICED_DIMENSIONS``."""


@dataclass(frozen=True, slots=True)
class ActivePeriod:
    """A (possibly cut) charging period with the tariff element active for each dimension."""

    source_index: int
    period: ChargingPeriod
    end_date_time: datetime
    active: ActiveElements

    def element_for(self, dimension: TariffDimensionType) -> int | None:
        return self.active[PRICED_DIMENSIONS.index(dimension)]


def active_elements(
    tariff: Tariff, period: ChargingPeriod, tz: ZoneInfo, session_start: datetime, energy_before: Decimal
) -> ActiveElements:
    """Per dimension, the index of the first element that prices it and whose restrictions all hold."""
    state = instant(period.start_date_time, session_start, energy_before, tz)
    holds = [restrictions_hold(e.restrictions, state, period) for e in tariff.elements]
    return tuple(
        next(
            (i for i, e in enumerate(tariff.elements) if holds[i] and e.component(dim) is not None),
            None,
        )
        for dim in PRICED_DIMENSIONS
    )


def _dedupe(cuts: list[CutPoint]) -> list[CutPoint]:
    out: list[CutPoint] = []
    for cut in cuts:
        if out and out[-1].fraction == cut.fraction:
            if cut.energy_at is not None:
                out[-1] = cut
            continue
        out.append(cut)
    return out


def _split(
    period: ChargingPeriod, end: datetime, cuts: list[CutPoint], energy_before: Decimal
) -> list[tuple[ChargingPeriod, datetime]]:
    if not cuts:
        return [(period, end)]
    total_us = (end - period.start_date_time) // timedelta(microseconds=1)
    fractions = [Decimal(0), *(c.fraction for c in cuts), Decimal(1)]
    starts = [
        period.start_date_time + timedelta(microseconds=int((f * total_us).to_integral_value()))
        for f in fractions
    ]
    cumulative: dict[CdrDimensionType, list[Decimal]] = {}
    for dim in period.dimensions:
        if dim.type not in ADDITIVE_DIMENSIONS:
            continue
        marks = [dim.volume * f for f in fractions]
        marks[0], marks[-1] = Decimal(0), dim.volume
        if dim.type is CdrDimensionType.ENERGY:
            for j, cut in enumerate(cuts, start=1):
                if cut.energy_at is not None:
                    marks[j] = cut.energy_at - energy_before
        cumulative[dim.type] = marks
    parts: list[tuple[ChargingPeriod, datetime]] = []
    for j in range(len(fractions) - 1):
        dims = tuple(
            CdrDimension(d.type, cumulative[d.type][j + 1] - cumulative[d.type][j])
            if d.type in cumulative
            else d
            for d in period.dimensions
        )
        parts.append((ChargingPeriod(starts[j], dims), starts[j + 1]))
    return parts


def _merge(a: ActivePeriod, b: ActivePeriod) -> ActivePeriod:
    dims = tuple(
        CdrDimension(d.type, d.volume + (b.period.volume(d.type) or Decimal(0)))
        if d.type in ADDITIVE_DIMENSIONS
        else d
        for d in a.period.dimensions
    )
    return ActivePeriod(
        a.source_index, ChargingPeriod(a.period.start_date_time, dims), b.end_date_time, a.active
    )


def activate(
    tariff: Tariff, periods: Sequence[ChargingPeriod], end_date_time: datetime, tz: ZoneInfo
) -> list[ActivePeriod]:
    """Cut ``periods`` where the active element changes and tag each part with its active elements."""
    session_start = periods[0].start_date_time
    energy_before = Decimal(0)
    out: list[ActivePeriod] = []
    for index, period in enumerate(periods):
        end = periods[index + 1].start_date_time if index + 1 < len(periods) else end_date_time
        energy = period.volume(CdrDimensionType.ENERGY) or Decimal(0)
        cuts = _dedupe(
            cut_points(tariff, tz, session_start, period.start_date_time, end, energy_before, energy)
        )
        parts: list[ActivePeriod] = []
        running = energy_before
        for part, part_end in _split(period, end, cuts, energy_before):
            tagged = ActivePeriod(
                index, part, part_end, active_elements(tariff, part, tz, session_start, running)
            )
            running += part.volume(CdrDimensionType.ENERGY) or Decimal(0)
            if parts and parts[-1].active == tagged.active:
                parts[-1] = _merge(parts[-1], tagged)
            else:
                parts.append(tagged)
        if len(parts) == 1:  # nothing changed inside: keep the reported volumes untouched
            parts = [ActivePeriod(index, period, end, parts[0].active)]
        out.extend(parts)
        energy_before += energy
    return out
