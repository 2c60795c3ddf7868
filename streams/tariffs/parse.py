"""Parse OCPI 2.2.1 tariff JSON (already decoded to dicts) into :mod:`streams.tariffs.model`.

Every structural problem raises :class:`TariffParseError` (a ``ValueError``) naming the JSON path.
Numbers may come as ``int``, ``float``, ``str`` or ``Decimal``; floats are converted through
their shortest ``repr`` so ``0.25`` becomes ``Decimal("0.25")``, never the binary expansion.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from streams.tariffs.model import (
    NO_RESTRICTIONS,
    DayOfWeek,
    Price,
    PriceComponent,
    ReservationRestrictionType,
    Tariff,
    TariffDimensionType,
    TariffElement,
    TariffRestrictions,
)

_TIME_OF_DAY = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class TariffParseError(ValueError):
    """The JSON is not a valid OCPI 2.2.1 tariff."""


def to_decimal(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise TariffParseError(f"{where}: expected a number, got {value!r}")
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation as exc:
        raise TariffParseError(f"{where}: not a number: {value!r}") from exc
    if not result.is_finite():
        raise TariffParseError(f"{where}: not a finite number: {value!r}")
    return result


def parse_datetime(value: object, where: str) -> datetime:
    """An OCPI DateTime; a value without offset is UTC, as OCPI requires."""
    if not isinstance(value, str):
        raise TariffParseError(f"{where}: expected an RFC 3339 date-time string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TariffParseError(f"{where}: invalid date-time {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _opt_decimal(
    raw: Mapping[str, Any], key: str, where: str, *, non_negative: bool = True
) -> Decimal | None:
    if raw.get(key) is None:
        return None
    value = to_decimal(raw[key], f"{where}.{key}")
    if non_negative and value < 0:
        raise TariffParseError(f"{where}.{key}: must not be negative, got {value}")
    return value


def _price(raw: object, where: str) -> Price | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or "excl_vat" not in raw:
        raise TariffParseError(f"{where}: expected a Price object with excl_vat, got {raw!r}")
    excl = _opt_decimal(raw, "excl_vat", where)
    assert excl is not None
    return Price(excl, _opt_decimal(raw, "incl_vat", where))


def _time_of_day(raw: Mapping[str, Any], key: str, where: str) -> time | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _TIME_OF_DAY.match(value):
        raise TariffParseError(f"{where}.{key}: expected HH:MM (24 h), got {value!r}")
    return time(int(value[:2]), int(value[3:]))


def _date(raw: Mapping[str, Any], key: str, where: str) -> date | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE.match(value):
        raise TariffParseError(f"{where}.{key}: expected YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise TariffParseError(f"{where}.{key}: invalid date {value!r}") from exc


def _seconds(raw: Mapping[str, Any], key: str, where: str) -> int | None:
    value = _opt_decimal(raw, key, where)
    if value is None:
        return None
    if value != value.to_integral_value():
        raise TariffParseError(f"{where}.{key}: expected whole seconds, got {value}")
    return int(value)


_E = TypeVar("_E", DayOfWeek, ReservationRestrictionType, TariffDimensionType)


def _enum_value(kind: type[_E], value: object, where: str) -> _E:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except ValueError as exc:
        allowed = ", ".join(m.value for m in kind)
        raise TariffParseError(f"{where}: {value!r} is not one of {allowed}") from exc


def parse_restrictions(raw: object, where: str = "restrictions") -> TariffRestrictions:
    if raw is None:
        return NO_RESTRICTIONS
    if not isinstance(raw, Mapping):
        raise TariffParseError(f"{where}: expected an object, got {raw!r}")
    days_raw = raw.get("day_of_week") or []
    if not isinstance(days_raw, Sequence) or isinstance(days_raw, str):
        raise TariffParseError(f"{where}.day_of_week: expected a list, got {days_raw!r}")
    days = frozenset(_enum_value(DayOfWeek, d, f"{where}.day_of_week[{i}]") for i, d in enumerate(days_raw))
    reservation_raw = raw.get("reservation")
    restrictions = TariffRestrictions(
        start_time=_time_of_day(raw, "start_time", where),
        end_time=_time_of_day(raw, "end_time", where),
        start_date=_date(raw, "start_date", where),
        end_date=_date(raw, "end_date", where),
        min_kwh=_opt_decimal(raw, "min_kwh", where),
        max_kwh=_opt_decimal(raw, "max_kwh", where),
        min_current=_opt_decimal(raw, "min_current", where),
        max_current=_opt_decimal(raw, "max_current", where),
        min_power=_opt_decimal(raw, "min_power", where),
        max_power=_opt_decimal(raw, "max_power", where),
        min_duration=_seconds(raw, "min_duration", where),
        max_duration=_seconds(raw, "max_duration", where),
        day_of_week=days,
        reservation=(
            None
            if reservation_raw is None
            else _enum_value(ReservationRestrictionType, reservation_raw, f"{where}.reservation")
        ),
    )
    return restrictions


def parse_price_component(raw: object, where: str = "price_component") -> PriceComponent:
    if not isinstance(raw, Mapping):
        raise TariffParseError(f"{where}: expected an object, got {raw!r}")
    for key in ("type", "price", "step_size"):
        if raw.get(key) is None:
            raise TariffParseError(f"{where}: missing required field {key!r}")
    price = _opt_decimal(raw, "price", where)
    step_size = _seconds(raw, "step_size", where)
    assert price is not None and step_size is not None
    return PriceComponent(
        type=_enum_value(TariffDimensionType, raw["type"], f"{where}.type"),
        price=price,
        vat=_opt_decimal(raw, "vat", where),
        step_size=step_size,
    )


def parse_element(raw: object, where: str = "element") -> TariffElement:
    if not isinstance(raw, Mapping):
        raise TariffParseError(f"{where}: expected an object, got {raw!r}")
    components_raw = raw.get("price_components")
    if not isinstance(components_raw, Sequence) or isinstance(components_raw, str) or not components_raw:
        raise TariffParseError(f"{where}.price_components: expected a non-empty list")
    components = tuple(
        parse_price_component(c, f"{where}.price_components[{i}]") for i, c in enumerate(components_raw)
    )
    return TariffElement(components, parse_restrictions(raw.get("restrictions"), f"{where}.restrictions"))


def parse_tariff(raw: object) -> Tariff:
    """Parse a decoded OCPI 2.2.1 ``Tariff`` object; raises :class:`TariffParseError` if invalid."""
    if not isinstance(raw, Mapping):
        raise TariffParseError(f"tariff: expected an object, got {type(raw).__name__}")
    tariff_id = raw.get("id")
    if not isinstance(tariff_id, str) or not tariff_id:
        raise TariffParseError("tariff.id: missing or not a string")
    currency = raw.get("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise TariffParseError(f"tariff.currency: expected an ISO 4217 code, got {currency!r}")
    elements_raw = raw.get("elements")
    if not isinstance(elements_raw, Sequence) or isinstance(elements_raw, str) or not elements_raw:
        raise TariffParseError("tariff.elements: expected a non-empty list")
    elements = tuple(parse_element(e, f"tariff.elements[{i}]") for i, e in enumerate(elements_raw))
    tariff_type = raw.get("type")
    min_price = _price(raw.get("min_price"), "tariff.min_price")
    max_price = _price(raw.get("max_price"), "tariff.max_price")
    if min_price and max_price and min_price.excl_vat > max_price.excl_vat:
        raise TariffParseError("tariff: min_price is greater than max_price")
    start = raw.get("start_date_time")
    end = raw.get("end_date_time")
    return Tariff(
        id=tariff_id,
        currency=currency,
        elements=elements,
        min_price=min_price,
        max_price=max_price,
        start_date_time=None if start is None else parse_datetime(start, "tariff.start_date_time"),
        end_date_time=None if end is None else parse_datetime(end, "tariff.end_date_time"),
        type=tariff_type if isinstance(tariff_type, str) else None,
    )
