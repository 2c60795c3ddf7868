"""The stream worker is killed (SIGKILL) mid-stream and restarted: every session is billed exactly once
and every re-sent record is identical to the first one with its version."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from chargestream import stack
from chargestream.query import scalar
from chargestream.settings import Settings
from producers.publisher import EventPublisher
from producers.simulator import FleetConfig, simulate
from schemas.codec import EmbeddedCodec
from schemas.topics import CHARGER_EVENTS
from sinks.service import SINK_TOPICS


def _wait(pred: Callable[[], bool], timeout: float, what: str, detail: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {detail()}")


_COORDINATOR_BUSY = (
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
)


def _start_group_at_end(bootstrap: str, group: str, topic: str) -> None:
    """Commit the group's offsets at the topic's end: the worker skips what other tests left on the
    shared broker and works on this test's events only (so its timing is this test's)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [
            TopicPartition(topic, p, c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
            for p in parts
        ]
        deadline = time.monotonic() + 30
        while True:
            try:
                c.commit(offsets=ends, asynchronous=False)
                break
            except KafkaException as exc:  # a fresh broker's coordinator still loading: try again
                if exc.args[0].code() not in _COORDINATOR_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        c.close()


@pytest.mark.timeout(600)
def test_worker_killed_mid_stream_bills_every_session_exactly_once(
    stack_settings: Settings, unique: str
) -> None:
    seed = int(unique, 16) % 1_000_000
    events, truths = simulate(
        FleetConfig(stations=6, connectors_per_station=2, sessions_per_connector=3, seed=seed)
    )
    half = len(events) // 2
    publisher = EventPublisher(stack_settings.bootstrap, EmbeddedCodec())
    _start_group_at_end(stack_settings.bootstrap, stack_settings.worker_id, CHARGER_EVENTS)
    for topic in SINK_TOPICS:  # the sink too: its backlog of raw events is not this test's subject
        _start_group_at_end(stack_settings.bootstrap, stack_settings.sink_group, topic)
    stack.up(stack_settings, say=lambda _line: None)
    where = f"station_id LIKE 'SIM-{seed}-%'"
    try:
        publisher.publish_all(events[:half])
        worker = stack.worker_process(stack_settings)

        def lag() -> int | None:
            return stack.consumer_lag(stack_settings, stack_settings.worker_id, [CHARGER_EVENTS])

        _wait(lambda: (lag() or half) < half * 0.7, 60, "the worker to be part-way through")
        pid = worker.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # no shutdown, no final commit, no changelog flush
        _wait(lambda: worker.pid() is None, 10, "the worker to be gone")
        publisher.publish_all(events[half:])
        stack.up(stack_settings, say=lambda _line: None)  # restarts only what is not running
        count = f"SELECT count() FROM chargestream.billing_records FINAL WHERE {where}"
        _wait(
            lambda: int(scalar(stack_settings, count) or 0) >= len(truths),
            240,
            f"{len(truths)} bills",
            lambda: f"{scalar(stack_settings, count)} billed, worker lag {lag()}\n{worker.log_tail()}",
        )
        rows = scalar(
            stack_settings,
            "SELECT station_id, connector_id, toUnixTimestamp64Milli(plugged_in_at), energy_wh "
            f"FROM chargestream.billing_records FINAL WHERE {where}",
        )
        billed = {(s, int(c), int(t)): int(e) for s, c, t, e in (ln.split("\t") for ln in rows.splitlines())}
        assert billed == {(t.station_id, t.connector_id, t.plugged_in_at): t.energy_wh for t in truths}
        # Re-processing after the crash may re-send records; a re-sent version must be the same record.
        conflicts = scalar(
            stack_settings,
            "SELECT count() FROM (SELECT session_id, version, uniqExact(state, energy_wh, record_type) AS u "
            f"FROM chargestream.session_updates WHERE {where} GROUP BY session_id, version HAVING u > 1)",
        )
        assert int(conflicts) == 0
        ledger = scalar(
            stack_settings,
            "SELECT countIf(record_type = 'credit'), count() "
            f"FROM chargestream.billing_ledger FINAL WHERE {where}",
        )
        assert ledger.split("\t") == ["0", str(len(truths))]  # no correction was needed
    finally:
        stack.down(stack_settings, say=lambda _line: None)
