"""OCPI CDR-style totals of a :class:`~streams.tariffs.pricing.PricingResult`.

Money is rounded half-up to 4 decimals, the precision OCPI prices are exchanged with (rounding of
the invoice itself is left to contracts and law, as the OCPI spec says). Volumes are not rounded:
they are exact sums of the reported ones (``total_time`` is exact wall-clock time).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from streams.tariffs.pricing import Cost, PricingResult

MONEY_PLACES = Decimal("0.0001")


def _money(cost: Cost, places: Decimal) -> dict[str, Decimal]:
    return {
        "excl_vat": cost.excl_vat.quantize(places, rounding=ROUND_HALF_UP),
        "incl_vat": cost.incl_vat.quantize(places, rounding=ROUND_HALF_UP),
    }


def cdr_totals(result: PricingResult, places: Decimal = MONEY_PLACES) -> dict[str, object]:
    """The CDR fields ``total_cost``, ``total_energy_cost``, ``total_time_cost``,
    ``total_parking_cost``, ``total_fixed_cost``, ``total_energy``, ``total_time``,
    ``total_parking_time``; the cost fields are ``{"excl_vat": Decimal, "incl_vat": Decimal}``."""
    return {
        "total_cost": _money(result.total_cost, places),
        "total_energy_cost": _money(result.energy_cost, places),
        "total_time_cost": _money(result.time_cost, places),
        "total_parking_cost": _money(result.parking_cost, places),
        "total_fixed_cost": _money(result.flat_cost, places),
        "total_energy": result.total_energy,
        "total_time": result.total_time,
        "total_parking_time": result.total_parking_time,
    }
