"""The gateway's own limits: who may connect, how many, how fast. Pure (no aiohttp, no Kafka).

Each limit answers clearly (HTTP 400/503 before the upgrade, a CallError after it) and counts what it
refused, so an operator sees a flood or a probe in the counters rather than in a slow gateway.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import Counter

# OCPP's charging station identity (2.0.1 part 4, security profiles): at most 48 characters from a
# small printable set. No ':' (it separates user from password in HTTP Basic), no '/', no spaces or
# control characters: the id ends up in URLs, log lines and Kafka keys.
STATION_ID: Final = re.compile(r"[A-Za-z0-9*_=+|@.\-]{1,48}")
MAX_CONNECTIONS: Final = 10_000  # one gateway process; beyond, chargers should find another instance
FRAMES_PER_SECOND: Final = 20.0  # sustained, per station: a charger sends a few per minute
FRAME_BURST: Final = 200  # what an offline queue sends at once after a reconnect

REFUSED = Counter(
    "chargestream_gateway_refused_total",
    "Connections and frames the gateway refused, by reason",
    ["reason"],
)
DROPPED_RESULTS = Counter(
    "chargestream_gateway_unsolicited_results_total",
    "CallResult/CallError frames that answered no call of the gateway (dropped, never queued)",
)


def valid_station_id(station_id: str) -> bool:
    return STATION_ID.fullmatch(station_id) is not None


def shown(station_id: str, limit: int = 60) -> str:
    """A station id that failed validation, safe for a log line (escaped, bounded)."""
    text = station_id[:limit].encode("unicode_escape").decode("ascii")
    return text + ("…" if len(station_id) > limit else "")


@dataclass
class TokenBucket:
    """`rate` frames per second on average, `burst` at once; `clock` is injectable for tests."""

    rate: float = FRAMES_PER_SECOND
    burst: float = FRAME_BURST
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    at: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.at = self.clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class ConnectionSlots:
    """A cap on live connections; `acquire` is False when the gateway is full."""

    limit: int = MAX_CONNECTIONS
    used: int = 0

    def acquire(self) -> bool:
        if self.used >= self.limit:
            REFUSED.labels("connection_cap").inc()
            return False
        self.used += 1
        return True

    def release(self) -> None:
        self.used = max(0, self.used - 1)
