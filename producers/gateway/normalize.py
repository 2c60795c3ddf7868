"""OCPP payloads → canonical values. Pure: units, multipliers, phases, contexts and times.

Energy must stay exact to the Wh: values are parsed and scaled as Decimal ("1.2345" kWh is
1234.5 Wh, where float arithmetic would give 1234.4999…).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from schemas.events import ENERGY_REGISTER, SampledValue, StationBoot, to_ms
from schemas.network import StationMetadata

_EVENT_NS = uuid.UUID("4f8a3a1c-5b1e-4c8e-9f3e-6f6370702d67")

# unit → (canonical unit, factor)
_UNITS: dict[str, tuple[str, Decimal]] = {
    "Wh": ("Wh", Decimal(1)),
    "kWh": ("Wh", Decimal(1000)),
    "varh": ("varh", Decimal(1)),
    "kvarh": ("varh", Decimal(1000)),
    "W": ("W", Decimal(1)),
    "kW": ("W", Decimal(1000)),
    "VA": ("VA", Decimal(1)),
    "kVA": ("VA", Decimal(1000)),
    "var": ("var", Decimal(1)),
    "kvar": ("var", Decimal(1000)),
    "A": ("A", Decimal(1)),
    "V": ("V", Decimal(1)),
    "Percent": ("Percent", Decimal(1)),
    "Celsius": ("Celsius", Decimal(1)),
    "Fahrenheit": ("Fahrenheit", Decimal(1)),
    "K": ("K", Decimal(1)),
    "Hertz": ("Hertz", Decimal(1)),
}
_DEFAULT_UNIT_BY_PREFIX = (
    ("Energy.", "Wh"),
    ("Power.", "W"),
    ("Current.", "A"),
    ("Voltage", "V"),
    ("SoC", "Percent"),
)


MAX_MULTIPLIER = 9  # 2.0.1 unitOfMeasure.multiplier: giga at most


def _short(text: object, limit: int = 40) -> str:
    """A value quoted in an error (DLQ header, log line): bounded, whatever the station sent."""
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit]}… ({len(shown)} chars)"


class NormalizationError(ValueError):
    """A payload that passed the OCPP schema but makes no sense (unit, number, time)."""


def event_id(station_id: str, message_id: str) -> str:
    """Stable per OCPP message: a re-sent frame with the same id gives the same event id."""
    return str(uuid.uuid5(_EVENT_NS, f"{station_id}|{message_id}"))


def parse_time(text: str) -> int:
    """Epoch ms of an OCPP dateTime. A time without offset is read as UTC (as the spec requires)."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError as exc:
        raise NormalizationError(f"bad timestamp {_short(text)}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return to_ms(dt)


def default_unit(measurand: str) -> str:
    for prefix, unit in _DEFAULT_UNIT_BY_PREFIX:
        if measurand.startswith(prefix):
            return unit
    return "Wh"


def scale(raw: Decimal, unit: str, multiplier: int = 0) -> tuple[str, float]:
    """(canonical unit, value) of a reading in `unit` × 10^multiplier."""
    if unit not in _UNITS:
        raise NormalizationError(f"unknown unit {unit!r}")
    canonical, factor = _UNITS[unit]
    if not -MAX_MULTIPLIER <= multiplier <= MAX_MULTIPLIER:
        raise NormalizationError(f"multiplier {multiplier} is outside ±{MAX_MULTIPLIER}")
    try:
        value = raw * factor * (Decimal(10) ** multiplier)
    except ArithmeticError as exc:  # decimal overflow of an exponent no meter has
        raise NormalizationError(f"value {raw} × 10^{multiplier} {unit} is out of range") from exc
    return canonical, float(value)


def _decimal(text: str) -> Decimal:
    try:
        d = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise NormalizationError(f"value {_short(text)} is not a number") from exc
    if not d.is_finite():
        raise NormalizationError(f"value {_short(text)} is not finite")
    return d


def sampled_value_16(at: int, sv: dict[str, Any]) -> SampledValue:
    """A 1.6 sampledValue (snake_case keys): `value` is a string, unit defaults by measurand."""
    measurand = sv.get("measurand") or ENERGY_REGISTER
    unit = sv.get("unit") or default_unit(measurand)
    raw_value = str(sv["value"])
    if sv.get("format") == "SignedData":
        canonical, value = (_UNITS.get(unit, (unit, Decimal(1)))[0], math.nan)  # opaque signed blob
    else:
        canonical, value = scale(_decimal(raw_value), unit)
    return _sample(at, sv, measurand, canonical, value, raw_value, sv.get("unit"))


def sampled_value_201(at: int, sv: dict[str, Any]) -> SampledValue:
    """A 2.0.1 sampledValue: `value` is a number; actual = value × 10^unitOfMeasure.multiplier."""
    measurand = sv.get("measurand") or ENERGY_REGISTER
    uom = sv.get("unit_of_measure") or {}
    unit = uom.get("unit") or default_unit(measurand)
    multiplier = int(uom.get("multiplier") or 0)
    raw_value = repr(sv["value"]) if isinstance(sv["value"], float) else str(sv["value"])
    canonical, value = scale(_decimal(raw_value), unit, multiplier)
    raw_unit = unit if not multiplier else f"{unit}e{multiplier}"
    return _sample(at, sv, measurand, canonical, value, raw_value, raw_unit)


def _sample(
    at: int, sv: dict[str, Any], measurand: str, unit: str, value: float, raw_value: str, raw_unit: str | None
) -> SampledValue:
    return SampledValue(
        sampled_at=at,
        unit=unit,
        value=value,
        raw_value=raw_value,
        measurand=measurand,
        phase=sv.get("phase"),
        location=sv.get("location"),
        context=sv.get("context") or "Sample.Periodic",
        raw_unit=raw_unit,
    )


def meter_values(entries: list[dict[str, Any]], version: str) -> tuple[SampledValue, ...]:
    """All samples of a list of meterValue entries (each with its own timestamp)."""
    convert = sampled_value_16 if version == "1.6" else sampled_value_201
    out: list[SampledValue] = []
    for entry in entries or []:
        at = parse_time(entry["timestamp"])
        out.extend(convert(at, sv) for sv in entry.get("sampled_value") or [])
    return tuple(out)


def station_boot(
    vendor: str,
    model: str,
    firmware_version: str | None,
    serial_number: str | None,
    reason: str | None,
    md: StationMetadata,
) -> StationBoot:
    """What the charger said about itself plus what the stations file says about where it is."""
    return StationBoot(
        vendor,
        model,
        firmware_version,
        serial_number,
        reason,
        site_id=md.site_id,
        time_zone=md.time_zone,
        latitude=md.latitude,
        longitude=md.longitude,
        max_power_kw=md.max_power_kw,
        connectors=md.connectors,
    )
