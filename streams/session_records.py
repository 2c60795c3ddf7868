"""The deterministic session id."""

from __future__ import annotations

import uuid

_SESSION_NS = uuid.UUID("5b0f3c1e-4a52-4d0e-9a57-6368617267e5")


def session_id_for(station_id: str, connector_id: int, plugged_in_at: int) -> str:
    """Same connector and plug-in time, same id: replays and restarts agree without coordination."""
    return str(uuid.uuid5(_SESSION_NS, f"{station_id}|{connector_id}|{plugged_in_at}"))
