"""OCPI 2.2.1 tariff engine: parse tariffs, price charging sessions, build CDR totals.

Pure Python (no Kafka, Faust or ClickHouse); money is ``decimal.Decimal`` throughout.
"""

from streams.tariffs.model import (
    DayOfWeek,
    Price,
    PriceComponent,
    ReservationRestrictionType,
    Tariff,
    TariffDimensionType,
    TariffElement,
    TariffRestrictions,
)
from streams.tariffs.parse import TariffParseError, parse_tariff
from streams.tariffs.pricing import (
    Cost,
    DimensionCharge,
    PricedPeriod,
    PricingResult,
    TariffNotActiveError,
    price_session,
)
from streams.tariffs.session import CdrDimension, CdrDimensionType, ChargingPeriod, parse_charging_periods
from streams.tariffs.totals import cdr_totals

__all__ = [
    "CdrDimension",
    "CdrDimensionType",
    "ChargingPeriod",
    "Cost",
    "DayOfWeek",
    "DimensionCharge",
    "Price",
    "PriceComponent",
    "PricedPeriod",
    "PricingResult",
    "ReservationRestrictionType",
    "Tariff",
    "TariffDimensionType",
    "TariffElement",
    "TariffNotActiveError",
    "TariffParseError",
    "TariffRestrictions",
    "cdr_totals",
    "parse_charging_periods",
    "parse_tariff",
    "price_session",
]
