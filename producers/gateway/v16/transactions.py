"""OCPP 1.6 transaction ids: made by the gateway, stable for a re-sent StartTransaction, unique per station.

1.6 wants an int32 from the central system. The id is derived from what the station sent, so a
re-sent StartTransaction (lost response, reconnect, another gateway instance) gets the same id
without any shared state:

    time-based  id = 2^28 + 8 × ((start second − 2025-01-01) mod CYCLE) + connector
    fallback    id = 8 × (1 + hash(station, connector, start, meterStart) mod (2^25 − 1)) + slot

One connector cannot start two transactions in the same second, so time-based ids never collide
within a cycle (CYCLE_S ≈ 7.4 years; after that they repeat, long after any transaction closed).
The station's clock is used when it is plausible (from 2025 on, at most 90 days behind and 1 day
ahead of the gateway): a 1970 or far-future clock, or a connector ≥ 8, falls back to a hash in the
range below 2^28 (2^25 buckets per connector slot: a collision needs two such starts with the same
bucket on one station, ~1.5 % over 1000 broken-clock sessions). The low 3 bits carry the connector
(1-7; 0 = not encoded), because StopTransaction names none.
"""

from __future__ import annotations

import hashlib

EPOCH_S = 1_735_689_600  # 2025-01-01T00:00:00Z: no earlier start is plausible for this gateway
CONNECTOR_BITS = 3
CONNECTOR_MASK = (1 << CONNECTOR_BITS) - 1  # connectors 1..7 are encoded; 0 = "see the transaction"
FALLBACK_LIMIT = 1 << 28  # ids below are hashed, ids from here on are time-based
INT32_MAX = (1 << 31) - 1
CYCLE_S = (INT32_MAX + 1 - FALLBACK_LIMIT) >> CONNECTOR_BITS  # 234,881,024 s ≈ 7.44 years
MAX_AHEAD_MS = 24 * 3600 * 1000
MAX_BEHIND_MS = 90 * 24 * 3600 * 1000
_BUCKETS = (FALLBACK_LIMIT >> CONNECTOR_BITS) - 1


def clock_plausible(start_ms: int, now_ms: int) -> bool:
    return start_ms >= EPOCH_S * 1000 and now_ms - MAX_BEHIND_MS <= start_ms <= now_ms + MAX_AHEAD_MS


def transaction_id_16(
    station_id: str, connector_id: int, start_ms: int, meter_start: int, now_ms: int
) -> int:
    """The transactionId (0 < id ≤ int32 max) for a StartTransaction; `now_ms` is the gateway's clock,
    used only to judge the station's (a re-sent message gets the same id unless it crosses a bound)."""
    if 1 <= connector_id <= CONNECTOR_MASK and clock_plausible(start_ms, now_ms):
        second = start_ms // 1000 - EPOCH_S
        return FALLBACK_LIMIT + ((second % CYCLE_S) << CONNECTOR_BITS) + connector_id
    digest = hashlib.sha256(f"{station_id}|{connector_id}|{start_ms}|{meter_start}".encode()).digest()
    bucket = 1 + int.from_bytes(digest[:8], "big") % _BUCKETS
    return (bucket << CONNECTOR_BITS) + _slot(connector_id)


def connector_of_transaction_16(transaction_id: int) -> int:
    """The connector a gateway-made transaction id names; 0 when it names none (connector ≥ 8)."""
    return transaction_id & CONNECTOR_MASK


def is_time_based(transaction_id: int) -> bool:
    return transaction_id >= FALLBACK_LIMIT


def _slot(connector_id: int) -> int:
    return connector_id if 1 <= connector_id <= CONNECTOR_MASK else 0
