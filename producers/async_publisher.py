"""Await Kafka's acknowledgement from asyncio: the gateway answers a charger only after it."""

from __future__ import annotations

import asyncio
import threading

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from schemas.clients import producer_config

_BY_KEY = -1  # librdkafka's RD_KAFKA_PARTITION_UA: the partitioner picks from the key


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
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def done(err: KafkaError | None, _msg: Message) -> None:
            loop.call_soon_threadsafe(_resolve, fut, err)

        while True:
            try:
                self._producer.produce(
                    topic,
                    key=key,
                    value=value,
                    headers=headers,  # type: ignore[arg-type]
                    on_delivery=done,
                    partition=_BY_KEY if partition is None else partition,
                )
                break
            except BufferError:
                await asyncio.sleep(0.01)  # back-pressure: the charger waits, nothing is dropped
        await fut

    async def partitions(self, topic: str, timeout: float = 10.0) -> list[int]:
        """The topic's partitions, from the cluster's metadata (a blocking call: run in a thread)."""
        meta = await asyncio.to_thread(self._producer.list_topics, topic, timeout)
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            raise KafkaException(found.error if found is not None else f"topic {topic} not found")
        return sorted(found.partitions)

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
