"""What every station connection shares: the Kafka publisher, the codec, id hashing, the DLQ."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import zlib

from chargestream.dlq import dlq_headers
from chargestream.topics import CHARGER_EVENTS, dlq
from producers.async_publisher import AsyncPublisher
from producers.gateway.normalize import event_id
from schemas.codec import Codec
from schemas.events import ChargerEvent, Payload, to_record

log = logging.getLogger("chargestream.gateway")


class GatewayContext:
    def __init__(self, publisher: AsyncPublisher, codec: Codec, id_token_key: bytes) -> None:
        self.publisher = publisher
        self.codec = codec
        self._id_token_key = id_token_key
        self.published = 0
        self.dead_letters = 0

    def hash_id_token(self, token: str | None) -> str | None:
        """Raw idTags never leave the gateway: a keyed HMAC stands in for them."""
        if not token:
            return None
        return hmac.new(self._id_token_key, token.encode(), hashlib.sha256).hexdigest()[:32]

    async def emit(
        self,
        station_id: str,
        connector_id: int,
        station_time: int,
        message_id: str,
        payload: Payload,
        source: str,
        evse_id: int | None = None,
    ) -> ChargerEvent:
        ev = ChargerEvent(
            event_id(station_id, message_id),
            station_id,
            connector_id,
            station_time,
            int(time.time() * 1000),
            source,
            payload,
            evse_id=evse_id,
            message_id=message_id,
        )
        await self.publisher.publish(
            CHARGER_EVENTS, station_id.encode(), self.codec.encode(CHARGER_EVENTS, to_record(ev))
        )
        self.published += 1
        return ev

    async def dead_letter(self, station_id: str, raw: str | bytes, reason: str) -> None:
        data = raw.encode() if isinstance(raw, str) else raw
        log.warning("%s: frame to DLQ: %s", station_id, reason)
        await self.publisher.publish(
            dlq(CHARGER_EVENTS),
            station_id.encode(),
            data,
            headers=dlq_headers(reason, "ocpp-gateway", -1, -1, "gateway"),
        )
        self.dead_letters += 1


def transaction_id_16(station_id: str, connector_id: int, timestamp: str, meter_start: int) -> int:
    """A stable OCPP 1.6 transactionId (int32 > 0): a re-sent StartTransaction gets the same id,
    and every gateway instance computes the same one without coordination. The low 8 bits carry
    the connector, so a StopTransaction (which names no connector) can be attributed after a restart."""
    h = zlib.crc32(f"{station_id}|{connector_id}|{timestamp}|{meter_start}".encode()) & 0x7FFFFF
    return ((h or 1) << 8) | (connector_id & 0xFF)


def connector_of_transaction_16(transaction_id: int) -> int:
    return transaction_id & 0xFF
