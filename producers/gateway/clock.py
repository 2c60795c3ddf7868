"""The gateway's clock: a tick on every partition of charger.events at a fixed interval of its wall
clock, so a station's silence is noticed in event time even when a whole fleet is dark (why:
schemas.events.GATEWAY_CLOCK_SOURCE; how the worker weighs it against replayed history:
streams/gateway_clock.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from confluent_kafka import KafkaException

from producers.gateway.context import now_ms
from schemas.codec import Codec
from schemas.events import GATEWAY_CLOCK_STATION, clock_tick, to_record
from schemas.topics import CHARGER_EVENTS

log = logging.getLogger(__name__)


class TickPublisher(Protocol):
    async def publish(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None: ...

    async def partitions(self, topic: str, timeout: float = 10.0) -> list[int]: ...


async def tick_once(publisher: TickPublisher, codec: Codec, at: int) -> int:
    """One tick at ``at`` on every partition (looked up each time: partitions can be added)."""
    value = codec.encode(CHARGER_EVENTS, to_record(clock_tick(at)))
    parts = await publisher.partitions(CHARGER_EVENTS)
    key = GATEWAY_CLOCK_STATION.encode()
    await asyncio.gather(*(publisher.publish(CHARGER_EVENTS, key, value, partition=p) for p in parts))
    return len(parts)


async def tick_until(publisher: TickPublisher, codec: Codec, interval_s: float, stop: asyncio.Event) -> None:
    """Tick every ``interval_s`` until ``stop``; a tick Kafka refuses is logged and the next one tried
    (a tick is only a time: the next one says as much)."""
    failing = False
    while not stop.is_set():
        try:
            await tick_once(publisher, codec, now_ms())
            if failing:
                log.info("gateway clock ticks reach Kafka again")
            failing = False
        except KafkaException as exc:
            if not failing:
                log.warning("gateway clock tick not written (%s); retrying every %.0f s", exc, interval_s)
            failing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
