"""The SDK's Kafka producer: canonical events as Confluent wire-format Avro on `charger.events`.

Idempotent and acks=all (producers.publisher underneath), keyed by station so each station's
order holds. Delivery is reported per event (`on_delivery`) and in total (`flush` returns the
delivered/failed counts and, by default, raises `DeliveryFailed` unless everything arrived).

    with ChargerEventProducer("127.0.0.1:9092") as producer:
        producer.send(builders.heartbeat("CS-1", datetime.now(UTC)))
    # leaving the block flushes: DeliveryFailed if any event was not acknowledged
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from producers.publisher import DeliveryFailed, DeliveryReport, EventCallback, EventPublisher
from schemas.bounds import OutOfBounds, check_event
from schemas.codec import Codec, make_codec
from schemas.events import ChargerEvent
from schemas.topics import CHARGER_EVENTS


class InvalidEvent(ValueError):
    """The event does not fit the Avro schema or is physically impossible; nothing was sent."""


class ChargerEventProducer:
    def __init__(
        self,
        bootstrap: str,
        *,
        registry_url: str | None = None,
        codec: Codec | None = None,
        topic: str = CHARGER_EVENTS,
        on_delivery: EventCallback | None = None,
        raise_on_failure: bool = True,
        kafka_config: Mapping[str, Any] | None = None,
    ) -> None:
        """`registry_url`: a Confluent schema registry (else ids from the embedded manifest);
        `kafka_config`: further librdkafka settings ({"message.timeout.ms": 30000, TLS, SASL, …})."""
        self._codec = codec or make_codec(registry_url)
        self._publisher = EventPublisher(
            bootstrap, self._codec, topic, on_delivery=on_delivery, **dict(kafka_config or {})
        )
        self._raise = raise_on_failure
        self.sent = 0

    def send(self, event: ChargerEvent, on_delivery: EventCallback | None = None) -> None:
        """Queue one event (returns at once; delivery is reported by the callbacks and `flush`).
        InvalidEvent, before anything is sent, for an event no charger can produce (schemas.bounds)."""
        try:
            check_event(event)
        except OutOfBounds as exc:
            raise InvalidEvent(f"{event.kind} {event.event_id}: out of bounds: {exc}") from exc
        try:
            self._publisher.publish(event, on_delivery)
        except (ValueError, TypeError, KeyError) as exc:  # fastavro's ways of saying "not this schema"
            raise InvalidEvent(f"{event.kind} {event.event_id}: {exc}") from exc
        self.sent += 1

    def poll(self, timeout: float = 0.0) -> None:
        """Serve pending delivery callbacks without flushing."""
        self._publisher.poll(timeout)

    def flush(self, timeout: float = 30.0) -> DeliveryReport:
        """Wait for every queued event; counts of all events sent so far."""
        report = self._publisher.drain(timeout)
        if self._raise and not report.ok:
            raise DeliveryFailed(f"not every event reached Kafka: {report}", report)
        return report

    def close(self, timeout: float = 30.0) -> DeliveryReport:
        return self.flush(timeout)

    def __enter__(self) -> ChargerEventProducer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._publisher.drain()  # deliver what can be, without hiding the original error
