"""Session output records (the `sessions` topic value) and the deterministic session id."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

_SESSION_NS = uuid.UUID("5b0f3c1e-4a52-4d0e-9a57-6368617267e5")
ZERO = Decimal("0.0000")


def session_id_for(station_id: str, connector_id: int, plugged_in_at: int) -> str:
    """Same connector and plug-in time, same id: replays and restarts agree without coordination."""
    return str(uuid.uuid5(_SESSION_NS, f"{station_id}|{connector_id}|{plugged_in_at}"))


def empty_costs() -> dict[str, Any]:
    return {
        "cost_energy": ZERO,
        "cost_time": ZERO,
        "cost_parking": ZERO,
        "cost_flat": ZERO,
        "cost_total": ZERO,
    }
