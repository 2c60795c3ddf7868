"""What every station connection shares: the Kafka publisher, the codec, id hashing, the DLQ, the network."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Protocol

from producers.gateway import metrics
from producers.gateway.limits import FRAMES_PER_SECOND
from producers.gateway.normalize import event_id
from producers.gateway.redact import RecentTokens, redact_tokens
from schemas.codec import Codec
from schemas.dlq import dlq_headers
from schemas.events import ChargerEvent, Payload, to_record
from schemas.identity import id_token_hash
from schemas.network import NetworkConfig
from schemas.topics import CHARGER_EVENTS, dlq

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Returns once the record is durable in Kafka (producers.async_publisher.AsyncPublisher)."""

    async def publish(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None: ...


class RecentMap:
    """A bounded map, oldest entries dropped first: which EVSE/connector a recent transaction is on.

    Kept per gateway (not per connection) so a station that reconnects mid-transaction still gets its
    Updated/Ended attributed; bounded because transactions never announce that they are forgotten."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._items: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._capacity = capacity

    def put(self, station_id: str, transaction_id: str, value: int) -> None:
        key = (station_id, transaction_id)
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def get(self, station_id: str, transaction_id: str) -> int | None:
        return self._items.get((station_id, transaction_id))


HEARTBEAT_INTERVAL_S = 300  # what BootNotification tells a station, in both OCPP versions


def now_ms() -> int:
    return int(time.time() * 1000)


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class GatewayContext:
    def __init__(
        self,
        publisher: Publisher,
        codec: Codec,
        id_token_key: bytes,
        network: NetworkConfig | None = None,
    ) -> None:
        self.publisher = publisher
        self.codec = codec
        self._id_token_key = id_token_key
        # No network file means no station is known and dev mode is off: nobody gets in.
        self.network = network if network is not None else NetworkConfig()
        self.transactions = RecentMap()
        self.tokens = RecentTokens(self.hash_id_token)  # for error text that quotes a token
        self.frames_per_second = (
            FRAMES_PER_SECOND  # per station, sustained (CHARGESTREAM_GATEWAY_STATION_RATE)
        )
        self.published = 0
        self.dead_letters = 0

    def hash_id_token(self, token: str | None) -> str | None:
        """Raw idTags (and driver references) never leave the gateway: a keyed HMAC stands in for them."""
        if not token:
            return None
        return id_token_hash(token, self._id_token_key)

    async def emit(
        self,
        station_id: str,
        connector_id: int,
        station_time: int,
        message_id: str | None,
        payload: Payload,
        source: str,
        evse_id: int | None = None,
        *,
        event_key: str | None = None,
        received_at: int | None = None,
    ) -> ChargerEvent:
        """Publish one canonical event and return once Kafka has it. `event_key` (default: the message
        id) makes the event id; `received_at` (default: now) is when the frame reached the gateway."""
        key = event_key or message_id
        assert key is not None, "an event needs a message id or an event key"
        ev = ChargerEvent(
            event_id(station_id, key),
            station_id,
            connector_id,
            station_time,
            received_at if received_at is not None else now_ms(),
            source,
            payload,
            evse_id=evse_id,
            message_id=message_id,
        )
        await self.publisher.publish(
            CHARGER_EVENTS, station_id.encode(), self.codec.encode(CHARGER_EVENTS, to_record(ev))
        )
        self.published += 1
        metrics.EVENTS.labels(ev.kind).inc()
        return ev

    async def dead_letter(self, station_id: str, raw: str | bytes, reason: str) -> None:
        data = redact_tokens(raw.encode() if isinstance(raw, str) else raw, self.hash_id_token)
        text = raw if isinstance(raw, str) else raw.decode(errors="replace")
        self.tokens.note(text)  # already noted when the frame came in through a connection
        reason = self.tokens.redact(reason)
        log.warning("%s: frame to DLQ: %s", station_id, reason)
        await self.publisher.publish(
            dlq(CHARGER_EVENTS),
            station_id.encode(),
            data,
            headers=dlq_headers(reason, "ocpp-gateway", -1, -1, "gateway"),
        )
        self.dead_letters += 1
        metrics.DEAD_LETTERS.inc()
