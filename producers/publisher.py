"""Idempotent, acks=all publishing of Avro records (used by the simulator, replay and the producer SDK).

Nothing is lost silently: every record's delivery is counted as delivered or failed (with the
error), `drain` reports the counts, and `flush` raises `DeliveryFailed` unless all were delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from schemas.clients import producer_config
from schemas.codec import Codec
from schemas.events import GATEWAY_CLOCK_STATION, ChargerEvent, clock_tick, to_record
from schemas.topics import CHARGER_EVENTS

MAX_KEPT_ERRORS = 100  # the count is exact; only the first messages are kept

EventCallback = Callable[[ChargerEvent, str | None], None]  # (event, None or the delivery error)
RecordCallback = Callable[[dict[str, Any], str | None], None]


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    pending: int = 0  # not acknowledged (yet): after a flush timeout these count as not delivered
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.pending == 0

    def __str__(self) -> str:
        text = f"{self.delivered} delivered, {self.failed} failed, {self.pending} unacknowledged"
        return f"{text}; first error: {self.errors[0]}" if self.errors else text


class DeliveryFailed(RuntimeError):
    def __init__(self, message: str, report: DeliveryReport | None = None) -> None:
        super().__init__(message)
        self.report = report or DeliveryReport()


class EventPublisher:
    """Publishes charger events keyed by station_id (so one station's order is kept), and other
    Avro records (driver feedback) keyed as the caller says."""

    def __init__(
        self,
        bootstrap: str,
        codec: Codec,
        topic: str = CHARGER_EVENTS,
        *,
        on_delivery: EventCallback | None = None,
        **config: Any,
    ) -> None:
        self._producer = Producer(producer_config(bootstrap, **config))
        self._codec = codec
        self._topic = topic
        self._on_delivery = on_delivery
        self._report = DeliveryReport()
        self._partitions: list[int] | None = None  # of the topic, for the clock ticks

    @property
    def codec(self) -> Codec:
        return self._codec

    @property
    def delivered(self) -> int:
        return self._report.delivered

    @property
    def errors(self) -> list[str]:
        return self._report.errors

    def _count(self, err: KafkaError | None) -> str | None:
        if err is None:
            self._report.delivered += 1
            return None
        self._report.failed += 1
        if len(self._report.errors) < MAX_KEPT_ERRORS:
            self._report.errors.append(str(err))
        return str(err)

    def _produce(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        done: Callable[[KafkaError | None], None],
        partition: int | None = None,
    ) -> None:
        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            done(err)

        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                else:
                    self._producer.produce(
                        topic, key=key, value=value, partition=partition, on_delivery=on_delivery
                    )
                break
            except BufferError:
                self._producer.poll(0.1)  # back-pressure: wait for deliveries, never drop
        self._producer.poll(0)

    def publish(self, ev: ChargerEvent, on_delivery: EventCallback | None = None) -> None:
        """Queue one event; raises at once (ValueError & co.) when it does not fit the schema."""
        value = self._codec.encode(self._topic, to_record(ev))
        callback = on_delivery or self._on_delivery

        def done(err: KafkaError | None) -> None:
            error = self._count(err)
            if callback is not None:
                callback(ev, error)

        self._produce(self._topic, ev.station_id.encode(), value, done)

    def publish_record(
        self, topic: str, key: str, record: dict[str, Any], on_delivery: RecordCallback | None = None
    ) -> None:
        value = self._codec.encode(topic, record)

        def done(err: KafkaError | None) -> None:
            error = self._count(err)
            if on_delivery is not None:
                on_delivery(record, error)

        self._produce(topic, key.encode(), value, done)

    def _tick_done(self, err: KafkaError | None) -> None:
        self._count(err)

    def publish_tick(self, at: int) -> None:
        """The gateway's clock at ``at`` on every partition (schemas.events.GATEWAY_CLOCK_SOURCE)."""
        if self._partitions is None:
            meta = self._producer.list_topics(self._topic, timeout=10).topics[self._topic]
            self._partitions = sorted(meta.partitions)
        value = self._codec.encode(self._topic, to_record(clock_tick(at)))
        for p in self._partitions:
            self._produce(
                self._topic,
                GATEWAY_CLOCK_STATION.encode(),
                value,
                self._tick_done,
                p,
            )

    def publish_all(
        self,
        events: Iterable[ChargerEvent],
        progress: Callable[[int], None] | None = None,
        *,
        clock_every_ms: int | None = None,
    ) -> int:
        """Every event, in order. ``clock_every_ms``: the gateway's clock as well, a tick on every
        partition at each multiple of it the events' receive times pass (as a live gateway sends)."""
        n = 0
        next_tick: int | None = None
        for ev in events:
            if clock_every_ms:
                if next_tick is None:
                    next_tick = (ev.received_at // clock_every_ms + 1) * clock_every_ms
                while ev.received_at >= next_tick:
                    self.publish_tick(next_tick)
                    next_tick += clock_every_ms
            self.publish(ev)
            n += 1
            if progress is not None and n % 1000 == 0:
                progress(n)
        self.flush()
        return n

    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery callbacks (publishing does it too)."""
        self._producer.poll(timeout)

    def report(self) -> DeliveryReport:
        r = self._report
        return DeliveryReport(r.delivered, r.failed, len(self._producer), list(r.errors))

    def drain(self, timeout: float = 60.0) -> DeliveryReport:
        """Wait up to `timeout` for every queued record; the counts so far (never raises)."""
        self._producer.flush(timeout)
        return self.report()

    def flush(self, timeout: float = 60.0) -> None:
        """Like drain, but raises DeliveryFailed unless every record so far was delivered."""
        report = self.drain(timeout)
        if report.pending:
            raise DeliveryFailed(
                f"{report.pending} records not acknowledged by Kafka within {timeout:.0f} s", report
            )
        if report.failed:
            raise DeliveryFailed(
                f"{report.failed} records failed delivery, first: {report.errors[0]}", report
            )

    def close(self, timeout: float = 60.0) -> None:
        self.flush(timeout)

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.drain()  # deliver what can be, without hiding the original error
