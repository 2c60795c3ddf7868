"""Await Kafka's acknowledgement from asyncio: the gateway answers a charger only after it."""

from __future__ import annotations

import asyncio
import threading

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from schemas.clients import producer_config


class AsyncPublisher:
    """An idempotent acks=all producer whose `publish` returns once the record is durable."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = Producer(producer_config(bootstrap, **{"linger.ms": 2}))
        self._closed = threading.Event()
        # librdkafka calls delivery callbacks from poll(); a thread keeps polling so the loop never blocks.
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    async def publish(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def done(err: KafkaError | None, _msg: Message) -> None:
            loop.call_soon_threadsafe(_resolve, fut, err)

        while True:
            try:
                self._producer.produce(topic, key=key, value=value, headers=headers, on_delivery=done)  # type: ignore[arg-type]
                break
            except BufferError:
                await asyncio.sleep(0.01)  # back-pressure: the charger waits, nothing is dropped
        await fut

    def close(self, timeout: float = 10.0) -> None:
        self._closed.set()
        self._poller.join()
        self._producer.flush(timeout)


def _resolve(fut: asyncio.Future[None], err: KafkaError | None) -> None:
    if fut.done():
        return
    if err is None:
        fut.set_result(None)
    else:
        fut.set_exception(KafkaException(err))
