"""Writer lanes: the ClickHouse handles one sink writes its batches through, each on a thread of its own.

ClickHouse does a batch's work (reading the Avro, the INSERT ... SELECTs, sorting and compressing the new
parts) in its own code, without Python's GIL, and one handle runs one statement at a time. On threads,
the lanes let the sink keep consuming while ClickHouse writes (librdkafka's messages become Python
objects under the GIL), and with several lanes the batches of different partitions are written at once.
Each lane is a handle of its own (its own session, so its own staging table). The writer never gives two
batches of one partition to the lanes at once (sinks.writer): each partition's batches, their order and
their deduplication tokens are what they are with a single lane.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from clickhouse_connect.driver.client import Client

from sinks.event_stage import ChargerEventStage

T = TypeVar("T")


@dataclass(frozen=True)
class Lane:
    client: Client
    stage: ChargerEventStage | None  # on this client: a temporary table is its session's own
    lock: threading.Lock  # held while the lane writes a batch (whoever else uses the client takes it too)


class Lanes:
    """Runs jobs on the lanes, one job per lane at a time; a job's future gives its exception (None: it
    went through)."""

    def __init__(self, lanes: Sequence[Lane]) -> None:
        if not lanes:
            raise ValueError("a writer needs at least one lane")
        if len({lane.stage is None for lane in lanes}) > 1:
            raise ValueError("either every lane stages charger events or none does")
        self.lanes = list(lanes)
        self._free: queue.SimpleQueue[Lane] = queue.SimpleQueue()
        for lane in self.lanes:
            self._free.put(lane)
        self._pool = ThreadPoolExecutor(len(self.lanes), thread_name_prefix="sink-lane")

    def __len__(self) -> int:
        return len(self.lanes)

    def submit(self, work: Callable[[T, Lane], None], job: T) -> Future[Exception | None]:
        def run() -> Exception | None:
            lane = self._free.get()
            try:
                work(job, lane)
            except Exception as exc:  # the writer sorts them: the store's (retry) or ours (stop)
                return exc
            finally:
                self._free.put(lane)
            return None

        return self._pool.submit(run)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
