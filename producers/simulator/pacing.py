"""Real-time-ish release: an item due at simulated time t goes out at start + (t − origin) / speed."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Iterator

from producers.simulator.feedback import FeedbackReport
from producers.simulator.simulation import Simulation
from schemas.events import ChargerEvent


class Pacer:
    """speed None or 0: as fast as possible; 1: real time; 60: a simulated hour per minute."""

    def __init__(self, speed: float | None, origin_ms: int) -> None:
        if speed is not None and speed < 0:
            raise ValueError("speed must be positive")
        self.speed = speed or None
        self.origin_ms = origin_ms
        self._t0 = time.monotonic()

    def delay(self, due_ms: int) -> float:
        """Seconds until an item due at simulated `due_ms` is released (0 when it is late)."""
        if self.speed is None:
            return 0.0
        return max(0.0, self._t0 + (due_ms - self.origin_ms) / 1000 / self.speed - time.monotonic())

    def wait(self, due_ms: int) -> None:
        if (d := self.delay(due_ms)) > 0:
            time.sleep(d)

    async def wait_async(self, due_ms: int) -> None:
        if (d := self.delay(due_ms)) > 0:
            await asyncio.sleep(d)


def releases(sim: Simulation) -> Iterator[ChargerEvent | FeedbackReport]:
    """Events and feedback together, in the order the gateway receives them."""
    items: list[list[ChargerEvent | FeedbackReport]] = [list(sim.events), list(sim.feedback)]
    yield from heapq.merge(*items, key=lambda x: x.received_at)


def origin(sim: Simulation) -> int:
    return sim.events[0].received_at if sim.events else 0
