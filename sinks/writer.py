"""Kafka → ClickHouse writer with batches that are deterministic per topic-partition offset range.

Exactness under crashes: before a batch [a, e) of a partition is inserted, offset a is committed
with the metadata "plan:e". Every table insert of the batch carries the token
"topic:partition:a:e:table", and every table keeps a deduplication window. If the process dies
after inserting but before committing e, the next owner reads the plan, rebuilds exactly
[a, e) and re-inserts it: ClickHouse drops the repeat. Nothing is lost, nothing counted twice.

The writer's lanes (sinks.lanes: a ClickHouse handle and a thread each) write batches while the loop
consumes; each lane takes the next ready batch of a partition that has none on its way, so a partition's
batches go in one after the other, and a slow batch (thousands of session records decoded in Python)
holds up only its own partition. Plans of batches handed out together are committed in one commit, as
are the offsets past batches that went in together.

ClickHouse down or refusing inserts (a server away, a disk error, too many parts): the refused batches'
rows stay in memory and are inserted again, with the same tokens, after a back-off that doubles up to
RETRY_MAX_S; meanwhile every assigned partition is paused, so memory holds those batches (one a
partition at most) and whatever was fetched before the pause, and the consumer stays in its group.
Nothing is committed past a batch until it is in. An error of ours (a row the client cannot convert) is
no outage: it stops the sink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, cast

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from schemas.codec import Codec
from schemas.dlq import dlq_headers
from schemas.errors import RecordError
from schemas.topics import CHARGER_EVENTS, dlq
from sinks import metrics
from sinks.event_stage import ChargerEventStage, Unreadable
from sinks.lanes import Lane, Lanes
from sinks.rows import TABLES, TOPICS, Row, rows_for

log = logging.getLogger(__name__)
PLAN_PREFIX = "plan:"
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0  # ClickHouse back: at most this long until the sink notices
CONSUME_WHILE_WRITING_S = 0.01  # a consume() while the lanes write waits this long at most
Partition = tuple[str, int]


@dataclass
class PartitionBuffer:
    messages: list[Message] = field(default_factory=list)
    started: float = 0.0
    plan_end: int | None = None  # a batch that must be rebuilt exactly: [first offset, plan_end)


@dataclass
class SinkStats:
    batches: int = 0
    rows: int = 0
    dead_letters: int = 0
    resumed_plans: int = 0
    last_flush: float = 0.0
    insert_failures: int = 0
    failing_since: float | None = None  # wall time of the first refused insert of an outage


@dataclass(eq=False)  # a batch is itself: compared by identity, not by its rows
class PendingInsert:
    """A batch that ClickHouse has not taken yet: its rows are made (and its dead letters sent) once, at
    the first attempt; a staged batch is staged again at each attempt."""

    topic: str
    partition: int
    first: int
    end: int
    messages: list[Message]
    tables: dict[str, list[Row]] | None = None  # the rows Python made, by table
    staged: list[bytes] | None = None  # the charger events' values ClickHouse maps (sinks.event_stage)
    staged_rows: dict[str, int] = field(default_factory=dict)  # the rows SQL writes of them, by table
    dead: int = 0
    attempts: int = 0
    retry_at: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def token(self) -> str:
        """The batch's part of every insert_deduplication_token: the same after any retry or rebuild."""
        return f"{self.topic}:{self.partition}:{self.first}:{self.end}"

    def table_token(self, table: str) -> str:
        # In a staged batch, SQL fills its tables under the plain token; rows Python makes for them
        # (none while the two agree on what SQL maps) take another, or ClickHouse would drop them.
        py = self.staged is not None and table in ChargerEventStage.TABLES
        return f"{self.token}:{table}:py" if py else f"{self.token}:{table}"


class ClickHouseWriter:
    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        client: Client,
        codec: Codec,
        decode_json: Callable[[bytes], dict[str, Any]],
        lock: threading.Lock,
        batch_max: int = 20_000,
        flush_seconds: float = 0.5,
        stage: ChargerEventStage | None = None,
        more_lanes: Sequence[Lane] = (),
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.client = client  # the first lane's (sinks.lanes); `stage` is on it
        self.codec = codec
        self.decode_json = decode_json
        self.lock = lock  # held while the first lane writes: whoever shares its client takes it too
        self.batch_max = batch_max
        self.flush_seconds = flush_seconds
        self.stage = stage  # charger events decoded by ClickHouse (None: by Python)
        self.lanes = Lanes([Lane(client, stage, lock), *more_lanes])
        self.buffers: dict[Partition, PartitionBuffer] = defaultdict(PartitionBuffer)
        self.stats = SinkStats()
        self.assigned = False
        self.paused = False
        self.pending: list[PendingInsert] = []  # the batches waiting for ClickHouse to come back
        # the batch each partition has on its way through the lanes (one at most)
        self.writing: dict[Partition, tuple[PendingInsert, Future[Exception | None]]] = {}
        # what the buffers may hold besides: a batch for every lane, twice
        self.buffer_max = 2 * batch_max * len(self.lanes)
        self.written: dict[Partition, int] = {}  # per partition, the offset written up to (for the lag)

    # -- rebalance -----------------------------------------------------------------------------
    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = consumer.committed(partitions, timeout=30)
        for tp in committed:
            if tp.offset >= 0:
                self.written[(tp.topic, tp.partition)] = tp.offset
            meta = tp.metadata or ""
            if meta.startswith(PLAN_PREFIX):
                buf = self.buffers[(tp.topic, tp.partition)]
                buf.plan_end = int(meta[len(PLAN_PREFIX) :])
                self.stats.resumed_plans += 1
                log.info(
                    "resuming planned batch %s[%d] %d..%d", tp.topic, tp.partition, tp.offset, buf.plan_end
                )
        self.assigned = True

    def on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._settle_all()  # what is on its way goes in (and is committed) while the partitions are ours
        for tp in partitions:  # the next owner re-reads from the committed offset (and plan)
            self.buffers.pop((tp.topic, tp.partition), None)
            # a plan of a pending batch is committed: the next owner rebuilds and inserts it
            self.pending = [j for j in self.pending if (j.topic, j.partition) != (tp.topic, tp.partition)]

    # -- main loop -----------------------------------------------------------------------------
    def poll_once(self) -> None:
        self._settle(self._ended())
        if self.pending or self._retrying():
            # Paused: consume() fetches nothing new but keeps the group membership and the callbacks.
            self._pause()
            retry_at = min((j.retry_at for j in self.pending), default=time.monotonic() + self.flush_seconds)
            timeout = max(0.0, min(self.flush_seconds, retry_at - time.monotonic()))
            msgs = self.consumer.consume(num_messages=self.batch_max, timeout=timeout)
            self._buffer(msgs, time.monotonic())
            for job in [j for j in self.pending if time.monotonic() >= j.retry_at]:
                if _key(job) not in self.writing:
                    self.pending.remove(job)
                    self._send(job)  # its plan is committed: the same range, the same tokens
            return
        if self.paused:  # what was pending went with a revoke
            self._resume()
        free = len(self.lanes) - len(self.writing)
        full = self._buffered() >= self.buffer_max  # memory holds enough: consume no more for now
        if not full:
            # no wait when a lane can take a batch now; a short one while the lanes write (consume()
            # waits for batch_max messages or the timeout)
            if free > 0 and self._ready(time.monotonic()):
                timeout = 0.0
            else:
                timeout = CONSUME_WHILE_WRITING_S if self.writing else self.flush_seconds
            msgs = self.consumer.consume(num_messages=self.batch_max, timeout=timeout)
            self._buffer(msgs, time.monotonic())
        jobs = self._next_batches(time.monotonic(), free)
        if full and not jobs:  # wait for a lane, or for a partition's batch to be due
            if self.writing:
                wait([f for _job, f in self.writing.values()], self.flush_seconds, FIRST_COMPLETED)
            else:
                time.sleep(CONSUME_WHILE_WRITING_S)
        if jobs:
            self.consumer.commit(
                offsets=[
                    TopicPartition(j.topic, j.partition, j.first, metadata=f"{PLAN_PREFIX}{j.end}")
                    for j in jobs
                ],
                asynchronous=False,
            )
            for job in jobs:
                self._send(job)

    def _send(self, job: PendingInsert) -> None:
        self.writing[_key(job)] = (job, self.lanes.submit(self._write, job))

    def _ended(self) -> list[tuple[PendingInsert, Exception | None]]:
        """The batches the lanes are done with, and how each ended."""
        ended = [(key, job, f) for key, (job, f) in self.writing.items() if f.done()]
        for key, _job, _f in ended:
            del self.writing[key]
        return [(job, f.result()) for _key, job, f in ended]

    def _settle_all(self) -> None:
        """Wait for every batch on its way, and settle them."""
        wait([f for _job, f in self.writing.values()])
        self._settle(self._ended())

    def _retrying(self) -> bool:
        return any(job.attempts for job, _f in self.writing.values())

    def _buffered(self) -> int:
        return sum(len(b.messages) for b in self.buffers.values())

    def _buffer(self, msgs: list[Message], now: float) -> None:
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", err)
                continue
            topic, partition = m.topic(), m.partition()
            assert topic is not None and partition is not None  # set on every consumed message
            buf = self.buffers[(topic, partition)]
            if not buf.messages:
                buf.started = now
            buf.messages.append(m)

    def _next_batches(self, now: float, lanes: int) -> list[PendingInsert]:
        """The next batch of the partitions that have one ready, none on its way and leave to go
        (`_eligible`), those waiting longest first, as many as there are free lanes."""
        ready = self._eligible(now)
        jobs: list[PendingInsert] = []
        for _started, (topic, partition) in ready[: max(0, lanes)]:
            buf = self.buffers[(topic, partition)]
            if buf.plan_end is not None:
                plan_end = buf.plan_end
                cut = sum(1 for m in buf.messages if _offset(m) < plan_end)
                batch, buf.messages = buf.messages[:cut], buf.messages[cut:]
                buf.plan_end = None
            else:
                batch, buf.messages = buf.messages[: self.batch_max], buf.messages[self.batch_max :]
            buf.started = now
            jobs.append(PendingInsert(topic, partition, _offset(batch[0]), _offset(batch[-1]) + 1, batch))
        return jobs

    def _is_ready(self, buf: PartitionBuffer, now: float) -> bool:
        if not buf.messages:
            return False
        if buf.plan_end is not None:  # a planned range, once fully read
            return _offset(buf.messages[-1]) + 1 >= buf.plan_end
        return len(buf.messages) >= self.batch_max or now - buf.started >= self.flush_seconds

    def _ready(self, now: float) -> bool:
        """A batch is ready for a lane (of a partition with none on its way)."""
        return bool(self._eligible(now))

    def _eligible(self, now: float) -> list[tuple[float, Partition]]:
        """The partitions whose batch may go to a lane now, those waiting longest first. While ClickHouse
        decodes the charger events, the batches of the other topics go one at a time: Python decodes
        them, holding the GIL for most of their time, so two at once only take turns (the session
        records' first batches held both lanes for seconds), while a batch ClickHouse works on (without
        the GIL) next to one Python works on keeps both cores busy."""
        ready = sorted(
            (buf.started, key)
            for key, buf in self.buffers.items()
            if key not in self.writing and self._is_ready(buf, now)
        )
        python_taken = any(self._in_python(topic) for topic, _p in self.writing)
        eligible = []
        for started, key in ready:
            if self._in_python(key[0]):
                if python_taken:
                    continue
                python_taken = True
            eligible.append((started, key))
        return eligible

    def _in_python(self, topic: str) -> bool:
        """A topic the staged sink decodes in Python (with decode=python every batch is alike)."""
        return self.stage is not None and topic != CHARGER_EVENTS

    def _prepare(self, job: PendingInsert, stage: ChargerEventStage | None) -> None:
        """Make the batch's rows: stage what ClickHouse maps, decode the rest here, dead-letter what
        cannot be stored. Called with the lane's lock held; ClickHouse errors propagate (an outage)."""
        batch = job.messages
        python: Sequence[int] = range(len(batch))
        if stage is not None and job.topic == CHARGER_EVENTS:
            values = [m.value() or b"" for m in batch]
            if stage.fits(values):
                try:
                    staged = stage.load(values)
                    python, job.staged, job.staged_rows = staged.python, values, staged.rows
                except Unreadable as exc:  # a corrupt record in the batch: Python finds it, and the DLQ
                    log.info("%s: the batch goes the Python way (%s)", job.token, exc)
        tables: dict[str, list[Row]] = defaultdict(list)
        wire = TOPICS[job.topic].wire
        for i in python:
            m = batch[i]
            try:
                raw = m.value() or b""
                decoded = self.decode_json(raw) if wire == "json" else self.codec.decode(job.topic, raw)
                for table, row in rows_for(job.topic, decoded):
                    tables[table].append(row)
            except RecordError as exc:  # the record's fault; anything else is ours and stops the sink
                job.dead += 1
                self.producer.produce(
                    dlq(job.topic),
                    key=m.key(),
                    value=m.value(),
                    headers=cast(Any, dlq_headers(str(exc), job.topic, job.partition, _offset(m), "sink")),
                )
        if job.dead and self.producer.flush(30):
            raise RuntimeError("dead-letter records not acknowledged by Kafka; not committing")
        job.tables = dict(tables)

    def _settle(self, ended: list[tuple[PendingInsert, Exception | None]]) -> None:
        """Commit past the batches that went in, keep those ClickHouse refused for a retry after a
        back-off, and stop on an error of ours."""
        done = [job for job, exc in ended if exc is None]
        if done:
            self.commit_done(done)
            for job in done:
                self._count(job)
        bug: Exception | None = None
        for job, exc in ended:
            if isinstance(exc, (OperationalError, DatabaseError)):  # the store, not the rows: wait and retry
                self._refused(job, exc)
            elif exc is not None:
                bug = bug or exc
        if bug is not None:
            raise bug
        retried = [job for job in done if job.attempts]
        if retried and not self.pending and not self._retrying():
            log.warning(
                "ClickHouse takes inserts again after %d retries (%.0f s): consuming again",
                max(j.attempts for j in retried),
                time.time() - (self.stats.failing_since or time.time()),
            )
            self.stats.failing_since = None
            metrics.FAILING.set(0)
            self._resume()

    def _write(self, job: PendingInsert, lane: Lane) -> None:
        """Insert the batch's rows through a lane, every table under its token (a table already in is
        dropped as a repeat)."""
        with lane.lock:
            if job.tables is None:
                self._prepare(job, lane.stage)
            elif job.staged is not None and lane.stage is not None:
                lane.stage.load(job.staged)  # the stage holds one batch: this one's again
            assert job.tables is not None
            if job.staged is not None and lane.stage is not None:
                lane.stage.insert(job.token)
            for table in sorted(job.tables):
                rows, spec = job.tables[table], TABLES[table]
                lane.client.insert(
                    f"chargestream.{table}",
                    rows,
                    column_names=spec.names,
                    column_type_names=spec.types,  # the spec is checked against the DDL: no DESCRIBE
                    settings={"insert_deduplication_token": job.table_token(table)},
                )

    def _count(self, job: PendingInsert) -> None:
        assert job.tables is not None
        counts = {table: len(rows) for table, rows in job.tables.items()}
        for table, n in job.staged_rows.items():
            counts[table] = counts.get(table, 0) + n
        self.stats.rows += sum(counts.values())
        for table, n in counts.items():
            metrics.ROWS.labels(table).inc(n)
        metrics.BATCHES.inc()
        metrics.BATCH_SECONDS.observe(time.monotonic() - job.started)
        if job.dead:
            metrics.DEAD_LETTERS.labels(job.topic).inc(job.dead)
        self.stats.batches += 1
        self.stats.dead_letters += job.dead
        self.stats.last_flush = time.time()
        job.messages = []  # in: the messages are not needed again

    def _pause(self) -> None:
        self.consumer.pause(self.consumer.assignment())
        self.paused = True

    def _resume(self) -> None:
        self.consumer.resume(self.consumer.assignment())
        self.paused = False

    def _refused(self, job: PendingInsert, exc: Exception) -> None:
        delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2**job.attempts)
        job.attempts += 1
        job.retry_at = time.monotonic() + delay
        self.stats.insert_failures += 1
        metrics.INSERT_FAILURES.inc()
        metrics.FAILING.set(1)
        if self.stats.failing_since is None:
            self.stats.failing_since = time.time()
        if job not in self.pending:
            self.pending.append(job)
        self._pause()
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        log.warning(
            "ClickHouse refused the insert of %s[%d] %d..%d (attempt %d: %s); consumption paused, "
            "retrying in %.1f s: nothing is lost",
            job.topic,
            job.partition,
            job.first,
            job.end,
            job.attempts,
            first_line[:300],
            delay,
        )

    def commit_done(self, jobs: Sequence[PendingInsert]) -> None:
        """Commit past written batches (clearing their plans)."""
        self.consumer.commit(
            offsets=[TopicPartition(j.topic, j.partition, j.end) for j in jobs], asynchronous=False
        )
        for j in jobs:
            self.written[(j.topic, j.partition)] = j.end

    def close(self) -> None:
        """Let the batches on their way end (committing what went in), then stop the lanes."""
        try:
            self._settle_all()
        finally:
            self.lanes.close()

    def report_lag(self) -> None:
        """The consumer lag gauge: per assigned partition, the records past what is written. The partition
        ends are those the last fetches brought (cached): asking the broker queues behind the consumer's
        long-poll fetch, half a second a partition, and this loop is the one that consumes."""
        for tp in self.consumer.assignment():
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            done = self.written.get((tp.topic, tp.partition))
            if done is not None and high >= 0:
                metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - done))


def _key(job: PendingInsert) -> Partition:
    return (job.topic, job.partition)


def _offset(m: Message) -> int:
    off = m.offset()
    assert off is not None  # consumed messages always have one
    return off
