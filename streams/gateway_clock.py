"""The gateway's clock as the worker hears it, per partition of charger.events. Pure.

A gateway writes a tick (schemas.events.GATEWAY_CLOCK_SOURCE) on every partition at its own wall
clock: a whole fleet dark still moves event time, so its stations are found offline. But the same
topic may also carry history (a dataset replayed, a fleet simulated in the past, with or without a
clock of its own): a live tick at today's time would make every replayed station look silent for
years. So a tick counts only when it follows on from what the partition's traffic vouches for — its
stations' receipt times, and the ticks that came after them at most LIVE_LAG_MS apart. A live
gateway's ticks over a dark fleet follow on from its stations' last words, one after another; over
replayed history they jump ahead of it and are left out. Read in log order, the same log gives the
same clock in a replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from schemas.events import MINUTE_MS

LIVE_LAG_MS: Final = 10 * MINUTE_MS
"""Ticks and receipts this far apart still belong to one clock (a gateway ticks every minute by
default: chargestream.settings gateway_clock_seconds)."""


@dataclass(slots=True)
class GatewayClock:
    anchor: dict[int, int] = field(
        default_factory=dict
    )  # the newest time the partition's traffic vouches for
    counted: dict[int, int] = field(default_factory=dict)  # the newest tick that counted

    def tick(self, partition: int, at: int) -> None:
        anchor = self.anchor.get(partition)
        if anchor is not None and at > anchor + LIVE_LAG_MS:
            return  # another clock than the one the stations here keep (live ticks over history)
        self.anchor[partition] = at if anchor is None else max(anchor, at)
        self.counted[partition] = max(self.counted.get(partition, 0), at)

    def heard(self, partition: int, received_at: int) -> None:
        """A station's event, read from ``partition`` after everything before it in the log."""
        anchor = self.anchor.get(partition, 0)
        if received_at < anchor - LIVE_LAG_MS:  # history: what the ticks said so far is not its time
            self.anchor[partition] = received_at
            self.counted.pop(partition, None)
        else:
            self.anchor[partition] = max(anchor, received_at)

    def resume(self, partition: int, at: int) -> None:
        """After a restart, before the log is read on: the partition's stations were heard up to ``at``
        (a live tick far beyond it may be a replay's interruption, not its stations' silence)."""
        self.anchor[partition] = max(self.anchor.get(partition, 0), at)

    def time(self, partition: int) -> int:
        """The partition's time by the gateways' clock (0: none that counts)."""
        return self.counted.get(partition, 0)

    def clear(self) -> None:
        self.anchor.clear()
        self.counted.clear()
