"""The gateway's Prometheus metrics (README "Metrics"), on a loopback port of their own: the OCPP port
faces the chargers. The refusals are counted where they happen (limits.py)."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

CONNECTIONS: Final = Gauge(
    "chargestream_gateway_connections", "Stations connected now, by OCPP version", ["version"]
)
MESSAGES: Final = Counter(
    "chargestream_gateway_messages",
    "OCPP calls received from stations, by version and action",
    ["version", "action"],
)
EVENTS: Final = Counter(
    "chargestream_gateway_events", "Events published to charger.events, by kind", ["kind"]
)
DEAD_LETTERS: Final = Counter("chargestream_gateway_dead_letters", "Frames sent to charger.events.dlq")
FEEDBACK: Final = Counter("chargestream_gateway_feedback", "Driver reports accepted on /feedback")
