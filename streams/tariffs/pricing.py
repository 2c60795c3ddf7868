"""Price a charging session (OCPI CDR ``charging_periods``) with an OCPI 2.2.1 tariff.

Pure and exact: ``Decimal`` throughout, nothing rounded until :func:`streams.tariffs.totals.cdr_totals`.

Readings of OCPI 2.2.1 chosen here (see also :mod:`streams.tariffs.restrictions` and
:mod:`streams.tariffs.periods`):

* The tariff must be in force at the session start (``start_date_time`` inclusive,
  ``end_date_time`` exclusive), else :class:`TariffNotActiveError`; it then governs the whole session.
* Per dimension and period, the first element that has a component for that dimension and whose
  restrictions all hold wins; none → the dimension is free in that period.
* ENERGY prices the period's ENERGY volume (kWh), TIME its TIME volume (hours charging),
  PARKING_TIME its PARKING_TIME volume (hours not charging). A period without the volume pays nothing
  for that dimension (a CDR period with only ENERGY pays no TIME).
* FLAT is charged once per session: the FLAT component of the first period in which one is active
  (the ``multiple_flat_fees`` reference case: three periods, one fee).
* ``step_size`` rounds *up* the session total of a dimension (ENERGY in Wh, TIME and PARKING_TIME in
  seconds, exact — no truncation to whole seconds first) to a multiple of the step of the component
  active in the *last* period that has that dimension priced; the extra volume is billed at that
  component's price and VAT. ``step_size`` 0 means no rounding.
* TIME is not rounded when it is followed by PARKING_TIME, i.e. when a priced PARKING_TIME period
  comes after the last priced TIME period: then only parking is rounded (OCPI 2.2.1 step_size note;
  the ``step_size`` reference case only matches this way).
* VAT: incl = excl × (1 + vat/100) per component; no ``vat`` means incl = excl.
* ``min_price``/``max_price`` clamp ``total_cost`` only (compared on ``excl_vat``); the per-dimension
  costs stay as computed. A clamped total takes the bound's ``incl_vat`` when given, else the
  computed total's VAT ratio. (The reference implementation parses but never applies these.)
* ``total_time`` is wall-clock time from the first period's start to the session end, in hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

from streams.tariffs.model import Price, PriceComponent, Tariff, TariffDimensionType
from streams.tariffs.periods import PRICED_DIMENSIONS, ActivePeriod, activate
from streams.tariffs.restrictions import seconds_between
from streams.tariffs.session import CdrDimensionType, ChargingPeriod, validate_session

ZERO = Decimal(0)

_VOLUME_OF = {
    TariffDimensionType.ENERGY: CdrDimensionType.ENERGY,
    TariffDimensionType.TIME: CdrDimensionType.TIME,
    TariffDimensionType.PARKING_TIME: CdrDimensionType.PARKING_TIME,
}
_STEP_UNITS = {  # step_size units per volume unit
    TariffDimensionType.ENERGY: Decimal(1000),  # Wh per kWh
    TariffDimensionType.TIME: Decimal(3600),  # s per h
    TariffDimensionType.PARKING_TIME: Decimal(3600),
}


class TariffNotActiveError(ValueError):
    """The tariff is not in force at the session start."""


@dataclass(frozen=True, slots=True)
class Cost:
    excl_vat: Decimal = ZERO
    incl_vat: Decimal = ZERO

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.excl_vat + other.excl_vat, self.incl_vat + other.incl_vat)


@dataclass(frozen=True, slots=True)
class DimensionCharge:
    """One dimension of one priced period."""

    dimension: TariffDimensionType
    element_index: int | None
    component: PriceComponent | None
    volume: Decimal
    """As reported (kWh / hours); for FLAT 1 when the fee is charged in this period, else 0."""
    billed_volume: Decimal
    """After step_size rounding (only the last period of a dimension can grow)."""
    cost: Cost


@dataclass(frozen=True, slots=True)
class PricedPeriod:
    start_date_time: datetime
    end_date_time: datetime
    source_index: int
    """Index of the input charging period this one was cut from."""
    period: ChargingPeriod
    charges: tuple[DimensionCharge, ...]
    """ENERGY, TIME, PARKING_TIME, FLAT, in that order."""

    def charge(self, dimension: TariffDimensionType) -> DimensionCharge:
        return self.charges[PRICED_DIMENSIONS.index(dimension)]

    def element_for(self, dimension: TariffDimensionType) -> int | None:
        return self.charge(dimension).element_index

    @property
    def cost(self) -> Cost:
        total = Cost()
        for charge in self.charges:
            total += charge.cost
        return total


@dataclass(frozen=True, slots=True)
class PricingResult:
    tariff_id: str
    currency: str
    periods: tuple[PricedPeriod, ...]
    energy_cost: Cost
    time_cost: Cost
    parking_cost: Cost
    flat_cost: Cost
    cost_before_limits: Cost
    total_cost: Cost
    price_limit: str | None
    """``"min_price"`` / ``"max_price"`` when the total was clamped, else ``None``."""
    total_energy: Decimal
    total_time: Decimal
    total_charging_time: Decimal
    total_parking_time: Decimal
    billed_energy: Decimal
    billed_charging_time: Decimal
    billed_parking_time: Decimal


def _cost(component: PriceComponent | None, volume: Decimal) -> Cost:
    if component is None:
        return Cost()
    excl = volume * component.price
    return Cost(excl, component.incl_vat(excl))


def _round_up(total: Decimal, step_size: int, units: Decimal) -> Decimal:
    if step_size <= 0:
        return total
    steps = (total * units / step_size).to_integral_value(rounding=ROUND_CEILING)
    return steps * step_size / units


def _last_priced(periods: Sequence[ActivePeriod], dim: TariffDimensionType) -> int | None:
    for i in range(len(periods) - 1, -1, -1):
        if periods[i].element_for(dim) is not None and periods[i].period.volume(_VOLUME_OF[dim]) is not None:
            return i
    return None


def _apply_limits(tariff: Tariff, total: Cost) -> tuple[Cost, str | None]:
    def clamp_to(bound: Price) -> Cost:
        if bound.incl_vat is not None:
            return Cost(bound.excl_vat, bound.incl_vat)
        ratio = total.incl_vat / total.excl_vat if total.excl_vat else Decimal(1)
        return Cost(bound.excl_vat, bound.excl_vat * ratio)

    if tariff.min_price is not None and total.excl_vat < tariff.min_price.excl_vat:
        return clamp_to(tariff.min_price), "min_price"
    if tariff.max_price is not None and total.excl_vat > tariff.max_price.excl_vat:
        return clamp_to(tariff.max_price), "max_price"
    return total, None


def price_session(
    tariff: Tariff,
    periods: Sequence[ChargingPeriod],
    end_date_time: datetime,
    time_zone: ZoneInfo | str,
) -> PricingResult:
    """Price ``periods`` (ending at ``end_date_time``) with ``tariff``; restrictions' times of day and
    weekdays are read in ``time_zone``, the location's time zone."""
    tz = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    validate_session(periods, end_date_time)
    if not tariff.is_active_at(periods[0].start_date_time):
        raise TariffNotActiveError(f"tariff {tariff.id} is not in force at {periods[0].start_date_time}")
    active = activate(tariff, periods, end_date_time, tz)

    totals = {
        dim: sum((p.period.volume(vol) or ZERO for p in active), ZERO) for dim, vol in _VOLUME_OF.items()
    }
    last = {dim: _last_priced(active, dim) for dim in _VOLUME_OF}
    time_last, parking_last = last[TariffDimensionType.TIME], last[TariffDimensionType.PARKING_TIME]
    parking_follows = time_last is not None and parking_last is not None and parking_last > time_last
    extra: dict[TariffDimensionType, tuple[int, Decimal]] = {}
    billed = dict(totals)
    for dim, index in last.items():
        if index is None or (dim is TariffDimensionType.TIME and parking_follows):
            continue
        component = _component(tariff, active[index], dim)
        assert component is not None
        billed[dim] = _round_up(totals[dim], component.step_size, _STEP_UNITS[dim])
        extra[dim] = (index, billed[dim] - totals[dim])

    flat_index = next(
        (i for i, p in enumerate(active) if p.element_for(TariffDimensionType.FLAT) is not None), None
    )
    priced: list[PricedPeriod] = []
    sums = dict.fromkeys(PRICED_DIMENSIONS, Cost())
    for i, p in enumerate(active):
        charges: list[DimensionCharge] = []
        for dim in PRICED_DIMENSIONS:
            component = _component(tariff, p, dim)
            if dim is TariffDimensionType.FLAT:
                volume = Decimal(1) if i == flat_index else ZERO
                billed_volume = volume
            else:
                volume = p.period.volume(_VOLUME_OF[dim]) or ZERO
                billed_volume = volume + (extra[dim][1] if dim in extra and extra[dim][0] == i else ZERO)
            cost = _cost(component, billed_volume)
            sums[dim] += cost
            charges.append(DimensionCharge(dim, p.element_for(dim), component, volume, billed_volume, cost))
        priced.append(
            PricedPeriod(p.period.start_date_time, p.end_date_time, p.source_index, p.period, tuple(charges))
        )

    before = Cost()
    for cost in sums.values():
        before += cost
    total, limit = _apply_limits(tariff, before)
    return PricingResult(
        tariff_id=tariff.id,
        currency=tariff.currency,
        periods=tuple(priced),
        energy_cost=sums[TariffDimensionType.ENERGY],
        time_cost=sums[TariffDimensionType.TIME],
        parking_cost=sums[TariffDimensionType.PARKING_TIME],
        flat_cost=sums[TariffDimensionType.FLAT],
        cost_before_limits=before,
        total_cost=total,
        price_limit=limit,
        total_energy=totals[TariffDimensionType.ENERGY],
        total_time=seconds_between(periods[0].start_date_time, end_date_time) / 3600,
        total_charging_time=totals[TariffDimensionType.TIME],
        total_parking_time=totals[TariffDimensionType.PARKING_TIME],
        billed_energy=billed[TariffDimensionType.ENERGY],
        billed_charging_time=billed[TariffDimensionType.TIME],
        billed_parking_time=billed[TariffDimensionType.PARKING_TIME],
    )


def _component(tariff: Tariff, period: ActivePeriod, dim: TariffDimensionType) -> PriceComponent | None:
    index = period.element_for(dim)
    return None if index is None else tariff.elements[index].component(dim)
