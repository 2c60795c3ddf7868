"""Meter samples with exact unit conversion: canonical values are Wh and W (kWh × 1000 exactly)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from producers.gateway.normalize import default_unit, scale
from schemas.events import ENERGY_REGISTER, SampledValue, to_ms

Time = datetime | int  # an aware datetime, or epoch milliseconds
Number = int | float | Decimal | str


def at_ms(t: Time) -> int:
    """Epoch ms of an aware datetime or an int; naive datetimes are refused (which zone?)."""
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError(f"naive datetime {t.isoformat()}: give a time zone (e.g. tzinfo=UTC)")
        return to_ms(t.astimezone(UTC))
    if isinstance(t, bool) or not isinstance(t, int):
        raise TypeError(f"time must be an aware datetime or epoch milliseconds, not {type(t).__name__}")
    return t


def _decimal(value: Number) -> Decimal:
    try:
        d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"value {value!r} is not a number") from exc
    if not d.is_finite():
        raise ValueError(f"value {value!r} is not finite")
    return d


def sample(
    at: Time,
    value: Number,
    *,
    unit: str | None = None,
    measurand: str = ENERGY_REGISTER,
    phase: str | None = None,
    context: str = "Sample.Periodic",
    location: str | None = None,
) -> SampledValue:
    """One reading as sent (raw value and unit kept); kWh/kW/… become Wh/W/… exactly."""
    unit = unit or default_unit(measurand)
    raw = _decimal(value)
    canonical, scaled = scale(raw, unit)
    return SampledValue(
        sampled_at=at_ms(at),
        unit=canonical,
        value=scaled,
        raw_value=str(value),
        measurand=measurand,
        phase=phase,
        location=location,
        context=context,
        raw_unit=unit,
    )
