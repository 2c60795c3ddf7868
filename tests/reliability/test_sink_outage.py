"""ClickHouse refuses every insert for over a minute while a fleet's records stream in (the engine's own
TOO_MANY_PARTS, as a server under a merge backlog answers): the sink, with two lanes as it runs, backs off,
pauses its partitions so memory holds one round of batches (one a partition at most), commits nothing past
them, and once ClickHouse takes inserts again writes all of it, nothing lost, nothing doubled, aggregates
included."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, Producer

from producers.publisher import EventPublisher
from producers.simulator import FleetConfig
from producers.simulator.simulation import run as simulate_fleet
from schemas.codec import EmbeddedCodec
from schemas.events import MeterValues
from sinks.clickhouse import connect
from sinks.event_stage import ChargerEventStage, SchemaServer
from sinks.lanes import Lane
from sinks.migrations import migrate
from sinks.service import SINK_TOPICS, _decode_json
from sinks.writer import ClickHouseWriter
from tests.reliability.test_worker_crash import _start_group_at_end, _wait
from tests.unit.session_harness import current_bills, run

OUTAGE_S = 65
BATCH = 200


def _tables(client: Client) -> list[str]:
    rows = client.query(
        "SELECT name FROM system.tables WHERE database = 'chargestream' AND engine LIKE '%MergeTree'"
    ).result_rows
    return [r[0] for r in rows]


@pytest.fixture
def sink(kafka_topics: str, tmp_path: Path, unique: str) -> Iterator[tuple[ClickHouseWriter, Client]]:
    client = connect(f"chdb://{tmp_path / 'ch'}")
    migrate(client)
    second = connect(f"chdb://{tmp_path / 'ch'}")  # two lanes, as the sink runs (sinks.lanes)
    group = f"outage-sink-{unique}"
    for topic in SINK_TOPICS:
        _start_group_at_end(kafka_topics, group, topic)
    consumer = Consumer({"bootstrap.servers": kafka_topics, "group.id": group, "enable.auto.commit": False})
    schemas = SchemaServer()
    writer = ClickHouseWriter(
        consumer,
        Producer({"bootstrap.servers": kafka_topics}),
        client,
        EmbeddedCodec(),
        _decode_json,
        threading.Lock(),
        batch_max=BATCH,
        flush_seconds=0.3,
        stage=ChargerEventStage(client, schemas.url),  # as the sink runs: ClickHouse decodes the events
        more_lanes=[Lane(second, ChargerEventStage(second, schemas.url), threading.Lock())],
    )
    consumer.subscribe(SINK_TOPICS, on_assign=writer.on_assign, on_revoke=writer.on_revoke)
    yield writer, client
    writer.close()
    consumer.close()
    second.close()
    client.close()
    schemas.stop()


def test_a_clickhouse_outage_of_over_a_minute_loses_nothing(
    sink: tuple[ClickHouseWriter, Client], kafka_topics: str, unique: str
) -> None:
    writer, client = sink
    seed = int(unique, 16) % 1_000_000
    sim = simulate_fleet(
        FleetConfig(stations=6, connectors_per_station=2, sessions_per_connector=3, seed=seed)
    )
    result = run(sim.events)
    bills = current_bills(result.sessions)
    where = f"station_id LIKE 'SIM-{seed}-%'"
    half = len(sim.events) // 2
    statuses = sum(1 for e in sim.events if e.kind == "StatusChange")
    samples = sum(len(e.payload.samples) for e in sim.events if isinstance(e.payload, MeterValues))
    publisher = EventPublisher(kafka_topics, EmbeddedCodec())
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            while not stop.is_set():
                writer.poll_once()
        except BaseException as exc:  # the test fails with it below
            errors.append(exc)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        publisher.publish_all(sim.events[:half])
        publisher.flush()
        status = f"SELECT count() FROM chargestream.status_changes WHERE {where}"
        _wait(lambda: int(client.query(status).result_rows[0][0]) > 0, 60, "the first rows in")
        # ClickHouse refuses inserts: every table throws TOO_MANY_PARTS from now on (one row of its own
        # first, so that each has a part to count)
        with writer.lock:
            refusing = _tables(client)
            for t in refusing:
                first = client.query(
                    "SELECT name FROM system.columns WHERE database = 'chargestream' "
                    f"AND table = '{t}' ORDER BY position LIMIT 1"
                ).result_rows[0][0]
                client.command(f"INSERT INTO chargestream.{t} ({first}) VALUES ('outage-seed')")
            for t in refusing:  # after every seed: a seed's materialized views write to other tables
                client.command(f"ALTER TABLE chargestream.{t} MODIFY SETTING parts_to_throw_insert = 1")
        publisher.publish_all(sim.events[half:])
        for rec in result.sessions:
            publisher.publish_record("sessions", rec["session_id"], rec)
        publisher.flush()
        out_since = time.monotonic()
        _wait(lambda: writer.stats.failing_since is not None, 30, "the sink to meet the outage")
        buffered_peak = pending_peak = 0
        while time.monotonic() - out_since < OUTAGE_S:
            buffered_peak = max(buffered_peak, sum(len(b.messages) for b in list(writer.buffers.values())))
            pending_peak = max(pending_peak, len(writer.pending))
            assert not errors, errors
            time.sleep(0.5)
        assert writer.pending and writer.stats.insert_failures >= 5
        # paused: what waits in memory is what was fetched before the pause, not the whole backlog
        assert buffered_peak < len(sim.events) - half
        assert pending_peak <= len(writer.consumer.assignment())  # a round: one batch a partition at most
        with writer.lock:
            for t in refusing:
                client.command(f"ALTER TABLE chargestream.{t} RESET SETTING parts_to_throw_insert")
        # every bill, status change and sample in (the lanes write the partitions' batches independently:
        # the bills may be in before the last charger events)
        billed = f"SELECT count() FROM chargestream.billing_records FINAL WHERE {where}"
        counts = (
            f"SELECT ({billed}), (SELECT count() FROM chargestream.status_changes WHERE {where}), "
            f"(SELECT count() FROM chargestream.meter_values WHERE {where})"
        )
        _wait(
            lambda: (
                client.query(counts).result_rows[0] >= (len(bills), statuses, samples) and not writer.pending
            ),
            120,
            "every record in after the outage",
            lambda: (
                f"{client.query(counts).result_rows} of {(len(bills), statuses, samples)}, "
                f"pending {len(writer.pending)}"
            ),
        )
    finally:
        stop.set()
        thread.join(30)
        publisher.close()
    assert not errors, errors
    assert writer.stats.failing_since is None
    # every status change once (raw count = distinct), every bill exact, the hours add up to the bills
    raw, distinct = client.query(
        f"SELECT count(), uniqExact(event_id) FROM chargestream.status_changes WHERE {where}"
    ).result_rows[0]
    assert raw == distinct == statuses
    assert client.query(f"SELECT count() FROM chargestream.meter_values WHERE {where}").result_rows == [
        (samples,)
    ]
    got = dict(
        client.query(f"SELECT session_id, energy_wh FROM chargestream.billing WHERE {where}").result_rows
    )
    assert got == {b["session_id"]: b["energy_wh"] for b in bills}
    (hourly,) = client.query(
        f"SELECT sum(energy_wh) FROM chargestream.hourly_connector WHERE {where}"
    ).result_rows[0]
    assert hourly == sum(b["energy_wh"] for b in bills)
