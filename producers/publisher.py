"""Idempotent, acks=all publishing of canonical events (used by the simulator and the SDK)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from chargestream.topics import CHARGER_EVENTS
from schemas.codec import Codec
from schemas.events import ChargerEvent, to_record


class DeliveryFailed(RuntimeError):
    pass


def producer_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,  # implies acks=all and ordered retries
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        **extra,
    }


class EventPublisher:
    """Publishes charger events keyed by station_id, so one station's order is kept."""

    def __init__(self, bootstrap: str, codec: Codec, topic: str = CHARGER_EVENTS) -> None:
        self._producer = Producer(producer_config(bootstrap))
        self._codec = codec
        self._topic = topic
        self.delivered = 0
        self.errors: list[str] = []

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self.errors.append(str(err))
        else:
            self.delivered += 1

    def publish(self, ev: ChargerEvent) -> None:
        value = self._codec.encode(self._topic, to_record(ev))
        while True:
            try:
                self._producer.produce(
                    self._topic, key=ev.station_id.encode(), value=value, on_delivery=self._on_delivery
                )
                break
            except BufferError:
                self._producer.poll(0.1)  # back-pressure: wait for deliveries, never drop
        self._producer.poll(0)

    def publish_all(
        self, events: Iterable[ChargerEvent], progress: Callable[[int], None] | None = None
    ) -> int:
        n = 0
        for ev in events:
            self.publish(ev)
            n += 1
            if progress is not None and n % 1000 == 0:
                progress(n)
        self.flush()
        return n

    def flush(self, timeout: float = 60.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DeliveryFailed(f"{remaining} events not acknowledged by Kafka within {timeout:.0f} s")
        if self.errors:
            raise DeliveryFailed(f"{len(self.errors)} events failed delivery, first: {self.errors[0]}")
