"""Producer SDK for gateways that do not speak OCPP: typed builders of the canonical charger events,
stable event ids, and an idempotent Kafka producer writing Confluent wire-format Avro.

    from producers import sdk
    with sdk.ChargerEventProducer("127.0.0.1:9092") as producer:
        producer.send(sdk.status("CS-1", 1, datetime.now(UTC), "Preparing", message_id="m-1"))
"""

from producers.publisher import DeliveryFailed, DeliveryReport
from producers.sdk.builders import (
    boot,
    connection,
    fault,
    hash_id_token,
    heartbeat,
    meter_values,
    status,
    transaction_ended,
    transaction_started,
    transaction_updated,
)
from producers.sdk.ids import event_id
from producers.sdk.producer import ChargerEventProducer, InvalidEvent
from producers.sdk.samples import at_ms, sample
from schemas.events import ChargerEvent

__all__ = [
    "ChargerEvent",
    "ChargerEventProducer",
    "DeliveryFailed",
    "DeliveryReport",
    "InvalidEvent",
    "at_ms",
    "boot",
    "connection",
    "event_id",
    "fault",
    "hash_id_token",
    "heartbeat",
    "meter_values",
    "sample",
    "status",
    "transaction_ended",
    "transaction_started",
    "transaction_updated",
]
