"""An exception in the sessions agent stops the worker loudly; offsets never pass unprocessed input.

Faust restarts a crashed agent, and `take_events` acks its batch on the way out: the offsets moved on
and 2 of 4 sessions sent next were never billed (issue #10 §2). The fault is injected into a real
worker (a wrapper that makes the batch function raise when it sees one station); the worker must
exit with the crash code, `status` must say so, the committed offset must not pass the poison event,
and a plain worker started afterwards must bill every session exactly from where the crashed one
stopped.
"""

from __future__ import annotations

import sys

import pytest
from confluent_kafka import Consumer, TopicPartition

from chargestream import stack
from chargestream.query import scalar
from chargestream.settings import Settings
from producers.publisher import EventPublisher
from producers.simulator import FleetConfig, simulate
from schemas.codec import EmbeddedCodec
from schemas.events import ChargerEvent, StatusChange
from schemas.topics import CHARGER_EVENTS
from sinks.service import SINK_TOPICS
from tests.reliability.test_worker_crash import _start_group_at_end, _wait

INJECTED_WORKER = """
import sys
import streams.agents.sessions as agent
from chargestream.serve import serve_worker
from chargestream.settings import Settings

real = agent.process_batch
POISON = sys.argv[1]

def failing(events, *args, **kwargs):
    events = list(events)
    if any(ev.station_id == POISON for ev in events):
        raise RuntimeError("injected fault: the engine failed on this batch")
    return real(events, *args, **kwargs)

agent.process_batch = failing
serve_worker(Settings())
"""


def _partition_end(bootstrap: str, partition: int) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "probe", "enable.auto.commit": False})
    try:
        _, high = c.get_watermark_offsets(TopicPartition(CHARGER_EVENTS, partition), timeout=10)
        return int(high)
    finally:
        c.close()


def _committed(bootstrap: str, group: str, partition: int) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        (tp,) = c.committed([TopicPartition(CHARGER_EVENTS, partition)], timeout=10)
        return int(tp.offset)
    finally:
        c.close()


@pytest.mark.timeout(600)
def test_an_agent_failure_stops_the_worker_and_a_restart_bills_everything(
    stack_settings: Settings, unique: str
) -> None:
    seed = int(unique, 16) % 1_000_000
    events, truths = simulate(
        FleetConfig(stations=3, connectors_per_station=2, sessions_per_connector=2, seed=seed)
    )
    poison_station = f"POISON-{unique}"
    publisher = EventPublisher(stack_settings.bootstrap, EmbeddedCodec())
    _start_group_at_end(stack_settings.bootstrap, stack_settings.worker_id, CHARGER_EVENTS)
    for topic in SINK_TOPICS:
        _start_group_at_end(stack_settings.bootstrap, stack_settings.sink_group, topic)
    stack.up(stack_settings, say=lambda _line: None)
    worker = stack.worker_process(stack_settings)
    where = f"station_id LIKE 'SIM-{seed}-%'"
    try:
        worker.stop()
        (stack_settings.run_dir / "worker.ready").unlink(missing_ok=True)
        worker.start(
            [sys.executable, "-c", INJECTED_WORKER, poison_station],
            env=stack.child_env(stack_settings, "worker"),
        )
        _wait((stack_settings.run_dir / "worker.ready").exists, 120, "the injected worker", worker.log_tail)
        poison = ChargerEvent(
            f"poison-{unique}",
            poison_station,
            1,
            events[0].station_time,
            events[0].received_at,
            "test",
            StatusChange("Available"),
        )
        # Where the poison lands: the end of its partition before it is published is its offset.
        parts = range(stack_settings.topic_partitions)
        before = [_partition_end(stack_settings.bootstrap, p) for p in parts]
        publisher.publish_all([poison])
        after = [_partition_end(stack_settings.bootstrap, p) for p in parts]
        (poison_partition,) = [p for p in parts if after[p] > before[p]]
        poison_offset = before[poison_partition]
        _wait(lambda: worker.pid() is None, 60, "the worker to stop on the failing batch", worker.log_tail)
        crashed = stack_settings.run_dir / "worker.crashed"
        assert crashed.exists() and "injected fault" in crashed.read_text()
        assert "stopping the worker so no offset moves past it" in worker.log_tail()
        status = {r.name: r for r in stack.status(stack_settings)}
        assert status["worker"].pid is None and "CRASHED" in status["worker"].detail
        # The committed offset (the next to read) has not passed the poison event.
        assert (
            _committed(stack_settings.bootstrap, stack_settings.worker_id, poison_partition) <= poison_offset
        )
        # The good sessions arrive while the worker is down; a plain worker takes it all from there.
        publisher.publish_all(events)
        stack.up(stack_settings, say=lambda _line: None)
        assert not crashed.exists()
        count = f"SELECT count() FROM chargestream.billing_records FINAL WHERE {where}"
        _wait(
            lambda: int(scalar(stack_settings, count) or 0) >= len(truths),
            240,
            f"{len(truths)} bills",
            lambda: f"{scalar(stack_settings, count)} billed\n{worker.log_tail()}",
        )
        rows = scalar(
            stack_settings,
            "SELECT station_id, connector_id, toUnixTimestamp64Milli(plugged_in_at), energy_wh "
            f"FROM chargestream.billing_records FINAL WHERE {where}",
        )
        billed = {(s, int(c), int(t)): int(e) for s, c, t, e in (ln.split("\t") for ln in rows.splitlines())}
        assert billed == {(t.station_id, t.connector_id, t.plugged_in_at): t.energy_wh for t in truths}
    finally:
        stack.down(stack_settings, say=lambda _line: None)
