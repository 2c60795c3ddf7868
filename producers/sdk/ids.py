"""Stable event ids: the same (station, message id) always gives the same event id, so a gateway that
re-sends a message after a crash produces a duplicate that downstream dedup recognises."""

from __future__ import annotations

import uuid

SDK_NS = uuid.UUID("5a9e2c1d-8b7f-4d6e-a3c2-73646b2d6576")


def event_id(station_id: str, message_id: str | None = None) -> str:
    """uuid5 of (station, message id) when the caller has a message id; else a random uuid4."""
    if message_id is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(SDK_NS, f"{station_id}|{message_id}"))
