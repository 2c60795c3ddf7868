"""Kafka → ClickHouse writer with batches that are deterministic per topic-partition offset range.

Exactness under crashes: before a batch [a, e) of a partition is inserted, offset a is committed
with the metadata "plan:e". Every table insert of the batch carries the token
"topic:partition:a:e:table", and every table keeps a deduplication window. If the process dies
after inserting but before committing e, the next owner reads the plan, rebuilds exactly
[a, e) and re-inserts it: ClickHouse drops the repeat. Nothing is lost, nothing counted twice.

ClickHouse down or refusing inserts (a server away, a disk error, too many parts): the batch's rows stay
in memory and are inserted again, with the same tokens, after a back-off that doubles up to
RETRY_MAX_S; meanwhile every assigned partition is paused, so memory holds one batch and whatever was
fetched before the pause, and the consumer stays in its group. Nothing is committed past the batch
until it is in. An error of ours (a row the client cannot convert) is no outage: it stops the sink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
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
from sinks.rows import TABLES, TOPICS, Row, rows_for

log = logging.getLogger(__name__)
PLAN_PREFIX = "plan:"
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0  # ClickHouse back: at most this long until the sink notices


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


@dataclass
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
        batch_max: int = 5000,
        flush_seconds: float = 0.5,
        stage: ChargerEventStage | None = None,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.client = client
        self.codec = codec
        self.decode_json = decode_json
        self.lock = lock  # the chdb store is shared with the query endpoint
        self.batch_max = batch_max
        self.flush_seconds = flush_seconds
        self.stage = stage  # charger events decoded by ClickHouse (None: by Python)
        self.buffers: dict[tuple[str, int], PartitionBuffer] = defaultdict(PartitionBuffer)
        self.stats = SinkStats()
        self.assigned = False
        self.pending: PendingInsert | None = None  # the batch waiting for ClickHouse to come back
        self.written: dict[tuple[str, int], int] = {}  # per partition, the offset written up to (for the lag)

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
        for tp in partitions:  # the next owner re-reads from the committed offset (and plan)
            self.buffers.pop((tp.topic, tp.partition), None)
            if self.pending is not None and (self.pending.topic, self.pending.partition) == (
                tp.topic,
                tp.partition,
            ):
                self.pending = None  # its plan is committed: the next owner rebuilds and inserts it

    # -- main loop -----------------------------------------------------------------------------
    def poll_once(self) -> None:
        if self.pending is not None:
            # Paused: consume() fetches nothing new but keeps the group membership and the callbacks.
            self.consumer.pause(self.consumer.assignment())
            wait = max(0.0, min(self.flush_seconds, self.pending.retry_at - time.monotonic()))
            msgs = self.consumer.consume(num_messages=self.batch_max, timeout=wait)
            self._buffer(msgs, time.monotonic())
            if self.pending is not None and time.monotonic() >= self.pending.retry_at:
                self._insert(self.pending)
            return
        msgs = self.consumer.consume(num_messages=self.batch_max, timeout=self.flush_seconds)
        now = time.monotonic()
        self._buffer(msgs, now)
        for (topic, partition), buf in list(self.buffers.items()):
            if self.pending is not None:
                return
            self._flush_ready(topic, partition, buf, now)

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

    def _flush_ready(self, topic: str, partition: int, buf: PartitionBuffer, now: float) -> None:
        while buf.messages and self.pending is None:
            if buf.plan_end is not None:
                plan_end = buf.plan_end
                if _offset(buf.messages[-1]) + 1 < plan_end:
                    return  # the planned range is not fully read yet
                cut = sum(1 for m in buf.messages if _offset(m) < plan_end)
                batch, buf.messages = buf.messages[:cut], buf.messages[cut:]
                buf.plan_end = None
            elif len(buf.messages) >= self.batch_max or now - buf.started >= self.flush_seconds:
                batch, buf.messages = buf.messages[: self.batch_max], buf.messages[self.batch_max :]
            else:
                return
            self._write_batch(topic, partition, batch)
            buf.started = now

    def _write_batch(self, topic: str, partition: int, batch: list[Message]) -> None:
        first = _offset(batch[0])
        end = _offset(batch[-1]) + 1
        self.consumer.commit(
            offsets=[TopicPartition(topic, partition, first, metadata=f"{PLAN_PREFIX}{end}")],
            asynchronous=False,
        )
        self._insert(PendingInsert(topic, partition, first, end, batch))

    def _prepare(self, job: PendingInsert) -> None:
        """Make the batch's rows: stage what ClickHouse maps, decode the rest here, dead-letter what
        cannot be stored. Called with the lock held; ClickHouse errors propagate (an outage)."""
        batch = job.messages
        python: Sequence[int] = range(len(batch))
        if self.stage is not None and job.topic == CHARGER_EVENTS:
            values = [m.value() or b"" for m in batch]
            if self.stage.fits(values):
                try:
                    staged = self.stage.load(values)
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

    def _insert(self, job: PendingInsert) -> None:
        """Insert the batch's rows, every table under its token (a table already in is dropped as a repeat),
        and commit past it; if ClickHouse refuses, keep it for a retry after a back-off."""
        try:
            with self.lock:
                if job.tables is None:
                    self._prepare(job)
                elif job.staged is not None and self.stage is not None:
                    self.stage.load(job.staged)  # the stage holds one batch: this one's again
                assert job.tables is not None
                if job.staged is not None and self.stage is not None:
                    self.stage.insert(job.token)
                for table in sorted(job.tables):
                    rows, spec = job.tables[table], TABLES[table]
                    self.client.insert(
                        f"chargestream.{table}",
                        rows,
                        column_names=spec.names,
                        column_type_names=spec.types,  # the spec is checked against the DDL: no DESCRIBE
                        settings={"insert_deduplication_token": job.table_token(table)},
                    )
        except (OperationalError, DatabaseError) as exc:  # the store, not the rows: wait and retry
            self._refused(job, exc)
            return
        self.commit_done(job.topic, job.partition, job.end)
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
        if self.pending is not None:
            log.warning(
                "ClickHouse takes inserts again after %d retries (%.0f s): consuming again",
                job.attempts,
                time.time() - (self.stats.failing_since or time.time()),
            )
            self.pending = None
            self.stats.failing_since = None
            metrics.FAILING.set(0)
            self.consumer.resume(self.consumer.assignment())

    def _refused(self, job: PendingInsert, exc: Exception) -> None:
        delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2**job.attempts)
        job.attempts += 1
        job.retry_at = time.monotonic() + delay
        self.stats.insert_failures += 1
        metrics.INSERT_FAILURES.inc()
        metrics.FAILING.set(1)
        if self.pending is None:
            self.pending = job
            self.stats.failing_since = time.time()
            self.consumer.pause(self.consumer.assignment())
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

    def commit_done(self, topic: str, partition: int, end: int) -> None:
        """Commit past a written batch (clearing its plan)."""
        self.consumer.commit(offsets=[TopicPartition(topic, partition, end)], asynchronous=False)
        self.written[(topic, partition)] = end

    def report_lag(self) -> None:
        """The consumer lag gauge: per assigned partition, the records past what is written. The partition
        ends are those the last fetches brought (cached): asking the broker queues behind the consumer's
        long-poll fetch, half a second a partition, and this loop is the one that consumes."""
        for tp in self.consumer.assignment():
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            done = self.written.get((tp.topic, tp.partition))
            if done is not None and high >= 0:
                metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - done))


def _offset(m: Message) -> int:
    off = m.offset()
    assert off is not None  # consumed messages always have one
    return off
