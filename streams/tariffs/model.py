"""Typed, immutable model of an OCPI 2.2.1 Tariff (module *tariffs*, object ``Tariff``).

Only the fields that take part in pricing are kept; display-only fields (``tariff_alt_text``,
``energy_mix``, ...) are dropped by the parser. All money and volumes are ``Decimal``.
Build instances with :func:`streams.tariffs.parse.parse_tariff`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum


class TariffDimensionType(StrEnum):
    """What a price component prices. ``step_size`` units: ENERGY 1 Wh, TIME/PARKING_TIME 1 s."""

    ENERGY = "ENERGY"
    FLAT = "FLAT"
    PARKING_TIME = "PARKING_TIME"
    TIME = "TIME"


class DayOfWeek(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"

    @property
    def iso_index(self) -> int:
        """0 for Monday … 6 for Sunday, as ``date.weekday()``."""
        return list(DayOfWeek).index(self)


class ReservationRestrictionType(StrEnum):
    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


@dataclass(frozen=True, slots=True)
class Price:
    """An OCPI ``Price``: ``excl_vat`` is required, ``incl_vat`` optional."""

    excl_vat: Decimal
    incl_vat: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PriceComponent:
    type: TariffDimensionType
    price: Decimal
    """Price per unit excl. VAT: per kWh (ENERGY), per hour (TIME, PARKING_TIME), per session (FLAT)."""
    vat: Decimal | None
    """VAT percentage; ``None`` means no VAT applies (incl = excl)."""
    step_size: int

    def incl_vat(self, amount_excl_vat: Decimal) -> Decimal:
        if self.vat is None:
            return amount_excl_vat
        return amount_excl_vat * (1 + self.vat / 100)


@dataclass(frozen=True, slots=True)
class TariffRestrictions:
    """Conditions under which a tariff element applies; ``None``/empty means "no condition".

    Times of day, dates and days of week are in the local time of the location.
    Durations are in seconds; ``min_*`` bounds are inclusive, ``max_*`` bounds exclusive.
    """

    start_time: time | None = None
    end_time: time | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: frozenset[DayOfWeek] = frozenset()
    reservation: ReservationRestrictionType | None = None


NO_RESTRICTIONS = TariffRestrictions()


@dataclass(frozen=True, slots=True)
class TariffElement:
    price_components: tuple[PriceComponent, ...]
    restrictions: TariffRestrictions = NO_RESTRICTIONS

    def component(self, dimension: TariffDimensionType) -> PriceComponent | None:
        """The first component of this element for ``dimension`` (OCPI: one per type is expected)."""
        for component in self.price_components:
            if component.type is dimension:
                return component
        return None


@dataclass(frozen=True, slots=True)
class Tariff:
    id: str
    currency: str
    elements: tuple[TariffElement, ...]
    min_price: Price | None = None
    max_price: Price | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    type: str | None = None

    def is_active_at(self, instant: datetime) -> bool:
        """Whether the tariff is in force at ``instant`` (start inclusive, end exclusive)."""
        if self.start_date_time is not None and instant < self.start_date_time:
            return False
        return self.end_date_time is None or instant < self.end_date_time
