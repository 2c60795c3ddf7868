"""A charging session as OCPI CDR ``charging_periods``: the input of the pricer.

Each period starts at ``start_date_time`` (UTC) and ends where the next one starts; the last one
ends at the session's end. Volumes: ENERGY in kWh, TIME / PARKING_TIME / RESERVATION_TIME in hours,
currents in A, powers in kW.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from streams.tariffs.parse import TariffParseError, parse_datetime, to_decimal


class CdrDimensionType(StrEnum):
    CURRENT = "CURRENT"
    ENERGY = "ENERGY"
    ENERGY_EXPORT = "ENERGY_EXPORT"
    ENERGY_IMPORT = "ENERGY_IMPORT"
    FLAT = "FLAT"  # OCPI 2.1.1 only; accepted and ignored (FLAT is charged once per session)
    MAX_CURRENT = "MAX_CURRENT"
    MIN_CURRENT = "MIN_CURRENT"
    MAX_POWER = "MAX_POWER"
    MIN_POWER = "MIN_POWER"
    PARKING_TIME = "PARKING_TIME"
    POWER = "POWER"
    RESERVATION_TIME = "RESERVATION_TIME"
    STATE_OF_CHARGE = "STATE_OF_CHARGE"
    TIME = "TIME"


ADDITIVE_DIMENSIONS = frozenset(
    {
        CdrDimensionType.ENERGY,
        CdrDimensionType.ENERGY_EXPORT,
        CdrDimensionType.ENERGY_IMPORT,
        CdrDimensionType.PARKING_TIME,
        CdrDimensionType.RESERVATION_TIME,
        CdrDimensionType.TIME,
    }
)
"""Dimensions whose volume is an amount over the period (split proportionally when a period is cut);
the others (currents, powers, state of charge) are levels and are copied to every part."""


@dataclass(frozen=True, slots=True)
class CdrDimension:
    type: CdrDimensionType
    volume: Decimal


@dataclass(frozen=True, slots=True)
class ChargingPeriod:
    start_date_time: datetime
    dimensions: tuple[CdrDimension, ...]

    def volume(self, dimension: CdrDimensionType) -> Decimal | None:
        for d in self.dimensions:
            if d.type is dimension:
                return d.volume
        return None

    @classmethod
    def of(cls, start_date_time: datetime, **volumes: Decimal | int | str) -> ChargingPeriod:
        """Shorthand: ``ChargingPeriod.of(t, ENERGY=Decimal("5"), TIME=Decimal("0.5"))``."""
        dims = tuple(
            CdrDimension(CdrDimensionType(name), to_decimal(value, name)) for name, value in volumes.items()
        )
        return cls(start_date_time, dims)


def parse_charging_periods(raw: object) -> tuple[ChargingPeriod, ...]:
    """Parse an OCPI CDR ``charging_periods`` list; raises ``ValueError`` when malformed."""
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise TariffParseError("charging_periods: expected a list")
    periods: list[ChargingPeriod] = []
    for i, period in enumerate(raw):
        where = f"charging_periods[{i}]"
        if not isinstance(period, Mapping):
            raise TariffParseError(f"{where}: expected an object")
        dims_raw = period.get("dimensions")
        if not isinstance(dims_raw, Sequence) or isinstance(dims_raw, str):
            raise TariffParseError(f"{where}.dimensions: expected a list")
        dims: list[CdrDimension] = []
        for j, dim in enumerate(dims_raw):
            dwhere = f"{where}.dimensions[{j}]"
            if not isinstance(dim, Mapping):
                raise TariffParseError(f"{dwhere}: expected an object")
            try:
                kind = CdrDimensionType(str(dim.get("type")))
            except ValueError as exc:
                raise TariffParseError(f"{dwhere}.type: unknown dimension {dim.get('type')!r}") from exc
            dims.append(CdrDimension(kind, to_decimal(dim.get("volume"), f"{dwhere}.volume")))
        periods.append(
            ChargingPeriod(
                parse_datetime(period.get("start_date_time"), f"{where}.start_date_time"), tuple(dims)
            )
        )
    return tuple(periods)


def validate_session(periods: Sequence[ChargingPeriod], end_date_time: datetime) -> None:
    """Periods must be time-ordered, time-zone aware, end no earlier than the last start, and
    carry no negative amounts."""
    if not periods:
        raise ValueError("a session needs at least one charging period")
    previous: datetime | None = None
    for i, period in enumerate(periods):
        if period.start_date_time.tzinfo is None:
            raise ValueError(f"charging period {i}: start_date_time must be time-zone aware")
        if previous is not None and period.start_date_time < previous:
            raise ValueError(f"charging period {i} starts before the previous one")
        for dim in period.dimensions:
            if dim.type in ADDITIVE_DIMENSIONS and dim.volume < 0:
                raise ValueError(f"charging period {i}: negative {dim.type.value} volume {dim.volume}")
        previous = period.start_date_time
    if end_date_time.tzinfo is None:
        raise ValueError("end_date_time must be time-zone aware")
    if previous is not None and end_date_time < previous:
        raise ValueError("the session ends before its last charging period starts")
