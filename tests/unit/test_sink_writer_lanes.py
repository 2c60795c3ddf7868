"""The writer's lanes keep each partition's batches in order (sinks.writer, sinks.lanes): a partition's next
batch is neither handed out nor planned before the one on its way is in and committed, whatever the
lanes' speeds; every record goes in once, and every partition ends committed past its last record.
A fake consumer and a fake ClickHouse handle whose inserts take random times stand in for the real
ones (the crash and outage tests run the same writer on the real ones)."""

from __future__ import annotations

import json
import random
import threading
import time
from itertools import pairwise
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from schemas.codec import EmbeddedCodec
from schemas.topics import ALERTS_FAULTS
from sinks.lanes import Lane
from sinks.service import _decode_json
from sinks.writer import PLAN_PREFIX, ClickHouseWriter

PARTITIONS = 3
PER_PARTITION = 120


class FakeMessage:
    def __init__(self, partition: int, offset: int) -> None:
        self._partition, self._offset = partition, offset
        alert = {
            "alert_id": f"a-{partition}-{offset}",
            "type": "connector_fault",
            "status": "opened",
            "station_id": f"ST-{partition}",
            "opened_at": 1_796_000_000_000,
            "updated_at": 1_796_000_000_000,
        }
        self._value = json.dumps(alert).encode()

    def topic(self) -> str:
        return ALERTS_FAULTS

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return f"ST-{self._partition}".encode()

    def error(self) -> None:
        return None


class FakeConsumer:
    """Hands out the partitions' records interleaved, a few at a time, and logs every commit."""

    def __init__(self, rng: random.Random) -> None:
        self.queue = [FakeMessage(p, o) for o in range(PER_PARTITION) for p in range(PARTITIONS)]
        self.rng = rng
        self.commits: list[tuple[int, int, str | None]] = []  # (partition, offset, metadata) in order
        self.lock = threading.Lock()

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        n = min(num_messages, self.rng.randint(0, 9))
        out, self.queue = self.queue[:n], self.queue[n:]
        if not out and timeout > 0:
            time.sleep(min(timeout, 0.002))
        return out

    def commit(self, offsets: list[TopicPartition], asynchronous: bool = True) -> None:
        with self.lock:
            self.commits.extend((tp.partition, tp.offset, tp.metadata) for tp in offsets)

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(ALERTS_FAULTS, p) for p in range(PARTITIONS)]

    def pause(self, _partitions: list[TopicPartition]) -> None:
        pass

    def resume(self, _partitions: list[TopicPartition]) -> None:
        pass


class SlowStore:
    """A ClickHouse handle whose inserts take a random time; it logs when each batch starts and ends."""

    def __init__(self, rng: random.Random, log: list[tuple[str, int, int, int]]) -> None:
        self.rng, self.log = rng, log
        self.rows: list[Any] = []

    def insert(self, _table: str, rows: list[Any], **kwargs: Any) -> None:
        _topic, partition, first, end, _t = kwargs["settings"]["insert_deduplication_token"].split(":")
        self.log.append(("start", int(partition), int(first), int(end)))
        time.sleep(self.rng.random() * 0.004)
        self.rows.extend(rows)
        self.log.append(("end", int(partition), int(first), int(end)))


def _write_all(
    lanes: int, seed: int, stage: Any = None
) -> tuple[FakeConsumer, list[SlowStore], list[tuple[str, int, int, int]], ClickHouseWriter, int]:
    """Every record through a writer of `lanes` lanes: the consumer, the stores, the stores' log, the
    writer and the most messages its buffers held."""
    rng = random.Random(seed)
    consumer = FakeConsumer(rng)
    log: list[tuple[str, int, int, int]] = []
    stores = [SlowStore(random.Random(seed * 10 + i), log) for i in range(lanes)]
    more = [Lane(s, stage, threading.Lock()) for s in stores[1:]]  # type: ignore[arg-type]
    writer = ClickHouseWriter(
        consumer,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]  # no dead letters here
        stores[0],  # type: ignore[arg-type]
        EmbeddedCodec(),
        _decode_json,
        threading.Lock(),
        batch_max=7,
        flush_seconds=0.01,
        stage=stage,
        more_lanes=more,
    )
    deadline = time.monotonic() + 30
    peak = 0
    while sum(len(s.rows) for s in stores) < PARTITIONS * PER_PARTITION and time.monotonic() < deadline:
        writer.poll_once()
        peak = max(peak, sum(len(b.messages) for b in writer.buffers.values()))
    writer.close()
    return consumer, stores, log, writer, peak


def _all_in(stores: list[SlowStore]) -> bool:
    ids = sorted(row[0] for s in stores for row in s.rows)
    return ids == sorted(f"a-{p}-{o}" for p in range(PARTITIONS) for o in range(PER_PARTITION))


@pytest.mark.parametrize("lanes", [1, 2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_a_partitions_batches_go_one_after_the_other(lanes: int, seed: int) -> None:
    consumer, stores, log, writer, peak = _write_all(lanes, seed)
    # memory: what waits besides the batches on their way stays within the bound (plus one consume)
    assert peak <= writer.buffer_max + writer.batch_max

    assert _all_in(stores)
    for p in range(PARTITIONS):
        # the lanes wrote this partition's batches one at a time, in offset order, back to back
        mine = [(kind, first, end) for kind, q, first, end in log if q == p]
        assert [k for k, _f, _e in mine] == ["start", "end"] * (len(mine) // 2)
        ranges = [(f, e) for k, f, e in mine if k == "start"]
        assert ranges[0][0] == 0 and ranges[-1][1] == PER_PARTITION
        assert all(a[1] == b[0] for a, b in pairwise(ranges))
        # commits: a batch's plan, then past it, and only then the next batch's plan
        commits = [(off, meta) for q, off, meta in consumer.commits if q == p]
        expected: list[tuple[int, str | None]] = []
        for first, end in ranges:
            expected += [(first, f"{PLAN_PREFIX}{end}"), (end, None)]
        assert commits == expected


@pytest.mark.parametrize("seed", range(4))
def test_batches_python_decodes_go_one_at_a_time_while_clickhouse_decodes_the_charger_events(
    seed: int,
) -> None:
    # With a stage, the alerts (like the session records) are decoded in Python under the GIL: a second
    # lane would only take turns with the first, and hold back the charger events' batches.
    _consumer, stores, log, _writer, _peak = _write_all(3, seed, stage=object())
    assert _all_in(stores)
    in_flight, most = 0, 0
    for kind, *_ in log:
        in_flight += 1 if kind == "start" else -1
        most = max(most, in_flight)
    assert most == 1
