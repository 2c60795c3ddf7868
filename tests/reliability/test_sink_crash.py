"""The sink dies between a ClickHouse insert and its offset commit, again and again: after the table
inserts of a batch, or half-way through them. Twenty deaths later nothing is lost or doubled, in the
raw tables (merges stopped, so a double would show) or in the hourly aggregates; the same for charger
events that ClickHouse decodes itself (sinks.event_stage)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, Producer

from schemas.codec import EmbeddedCodec
from schemas.events import ChargerEvent, MeterValues, SampledValue, StatusChange, to_record
from schemas.topics import CHARGER_EVENTS, SESSIONS
from sinks.clickhouse import connect
from sinks.event_stage import ChargerEventStage, SchemaServer
from sinks.lanes import Lane
from sinks.migrations import migrate
from sinks.service import _decode_json
from sinks.writer import ClickHouseWriter, PendingInsert
from tests.reliability.test_worker_crash import _start_group_at_end

KILLS = 20
PER_BATCH = 25
T0 = 1_790_000_000_000
HOUR = 3_600_000


class Crash(RuntimeError):
    pass


class Killer:
    """The sink's ClickHouse handle with a death planted in it. Each life first writes one batch of
    the test's rows whole (the one its predecessor died in, rebuilt from the plan), then dies in the
    next: before its table insert number ``inserts`` (None: after them all, before the offset commit)."""

    def __init__(self, client: Client, station: str, inserts: int | None) -> None:
        self.client, self.station, self.inserts = client, station, inserts
        self.batches: list[str] = []  # the test's batches this life has inserted into, by token
        self.done = 0  # table inserts of the current one

    def insert(self, table: str, rows: list[Any], **kwargs: Any) -> Any:
        if rows and self.station in str(rows[0]):
            batch = kwargs["settings"]["insert_deduplication_token"].rsplit(":", 1)[0]
            if batch not in self.batches:
                self.batches.append(batch)
                self.done = 0
            if len(self.batches) > 1 and self.done == self.inserts:
                raise Crash(f"killed before inserting {table}, {self.done} tables of {batch} in")
            self.done += 1
        return self.client.insert(table, rows, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


class Dies(ClickHouseWriter):
    """A writer whose second batch of the test's rows ends it before its commit (see Killer)."""

    def commit_done(self, jobs: Sequence[PendingInsert]) -> None:
        killer = cast(Killer, self.client)
        if len(killer.batches) > 1 and killer.inserts is None:
            raise Crash(f"killed before committing {', '.join(j.token for j in jobs)}")
        super().commit_done(jobs)


def _record(station: str, i: int) -> dict[str, Any]:
    zero = Decimal("0.0000")
    plugged = T0 + i * HOUR // 3  # sessions of 2 h 10 min: each spans three hours
    return {
        "session_id": f"{station}-s{i}",
        "version": 1,
        "state": "closed",
        "is_final": True,
        "record_type": "bill",
        "station_id": station,
        "connector_id": 1 + i % 2,
        "plugged_in_at": plugged,
        "charging_started_at": plugged + 60_000,
        "charging_ended_at": plugged + HOUR + 60_000,
        "unplugged_at": plugged + 2 * HOUR + 10 * 60_000,
        "energy_wh": 1000 + i,
        "charging_minutes": 60.0,
        "idle_minutes": 70.0,
        "max_power_kw": 7.0,
        "cost_energy": zero,
        "cost_time": zero,
        "cost_parking": zero,
        "cost_flat": zero,
        "cost_total": zero,
        "emitted_at": plugged + 2 * HOUR + 10 * 60_000,
    }


def _writer(
    cls: type[ClickHouseWriter],
    bootstrap: str,
    group: str,
    client: Client,
    topic: str = SESSIONS,
    stage: ChargerEventStage | None = None,
    more_lanes: Sequence[Lane] = (),
    fetch_bytes: int = 1 << 20,  # per partition: librdkafka's default
) -> ClickHouseWriter:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "max.partition.fetch.bytes": fetch_bytes,
        }
    )
    w = cls(
        consumer,
        Producer({"bootstrap.servers": bootstrap}),
        client,
        EmbeddedCodec(),
        _decode_json,
        threading.Lock(),
        batch_max=PER_BATCH,
        flush_seconds=0.3,
        stage=stage,
        more_lanes=more_lanes,
    )
    consumer.subscribe([topic], on_assign=w.on_assign, on_revoke=w.on_revoke)
    return w


def _produce(bootstrap: str, station: str, rng: range) -> None:
    codec = EmbeddedCodec()
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in rng:
        rec = _record(station, i)
        # one partition (the key of the station): batches of PER_BATCH follow each other
        p.produce(SESSIONS, key=station.encode(), value=codec.encode(SESSIONS, rec))
    assert p.flush(30) == 0


def _dies(w: ClickHouseWriter, life: int, never: str) -> None:
    """Run a writer until its planted death; then it is dead: nothing it has on its way is committed (a
    batch a lane is writing may still go in, as a dying process's last insert may)."""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            w.poll_once()
    except Crash:
        return
    finally:
        w.writing.clear()
        w.consumer.close()
        w.close()
    raise AssertionError(f"life {life} {never}")


def _last_writer(w: ClickHouseWriter, done: Callable[[], bool]) -> None:
    """Run the last writer until everything is in, and a few rounds more (nothing further may arrive)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not done():
        w.poll_once()
    for _ in range(5):
        w.poll_once()
    w.close()
    w.consumer.close()


def _billed(client: Client, station: str, *, raw: bool = False) -> int:
    table = "chargestream.billing_records" if raw else "chargestream.billing_records FINAL"
    return int(client.query(f"SELECT count() FROM {table} WHERE station_id = '{station}'").result_rows[0][0])


def test_twenty_deaths_between_insert_and_commit_neither_lose_nor_double(
    kafka_topics: str, tmp_path: Path, unique: str
) -> None:
    client = connect(f"chdb://{tmp_path / 'ch'}")
    migrate(client)
    for table in ("billing_records", "billing_ledger", "session_updates", "port_hourly"):
        client.command(f"SYSTEM STOP MERGES chargestream.{table}")  # a double must stay visible
    station, group = f"CRASH-{unique}", f"crash-sink-{unique}"
    n = (KILLS + 3) * PER_BATCH  # each life writes one batch and dies in the next
    _produce(kafka_topics, station, range(n))

    deaths = 0
    while deaths < KILLS:
        # before the offset commit, or after one or two of the batch's three table inserts
        killer = Killer(client, station, None if deaths % 2 == 0 else 1 + deaths % 4 // 2)
        _dies(_writer(Dies, kafka_topics, group, cast(Client, killer)), deaths + 1, "never reached the rows")
        deaths += 1
    last = _writer(ClickHouseWriter, kafka_topics, group, client)
    _last_writer(last, lambda: _billed(client, station) >= n)

    assert deaths == KILLS
    assert _billed(client, station, raw=True) == _billed(client, station) == n  # raw: no double kept
    ledger = client.query(
        f"SELECT count(), sum(energy_wh) FROM chargestream.billing_ledger WHERE station_id = '{station}'"
    ).result_rows[0]
    assert ledger == (n, sum(1000 + i for i in range(n)))
    # the aggregates, summed without FINAL: no hour row doubled either
    raw_hours = client.query(
        "SELECT count(), sum(sessions), sum(energy_wh), sum(occupied_minutes) FROM chargestream.port_hourly "
        f"WHERE station_id = '{station}'"
    ).result_rows[0]
    assert raw_hours[1:3] == (n, sum(1000 + i for i in range(n)))
    hours = sum(
        (r["unplugged_at"] // HOUR) - (r["plugged_in_at"] // HOUR) + 1
        for r in map(lambda i: _record(station, i), range(n))
    )
    assert abs(raw_hours[3] - n * 130.0) < 1e-6 and raw_hours[0] == hours  # one row per session and hour
    client.close()


class StageKiller(Killer):
    """As Killer, for the batches ClickHouse decodes: their table inserts are INSERT ... SELECT commands
    from the staged batch (sinks.event_stage), one per table, each with the batch's token."""

    def command(self, cmd: str, *args: Any, **kwargs: Any) -> Any:
        insert = re.match(
            r"INSERT INTO chargestream\.(\w+) .*insert_deduplication_token = '([^']+)'", cmd, re.S
        )
        if insert:
            table, token = insert.groups()
            batch = token.rsplit(":", 1)[0]
            if batch not in self.batches:
                self.batches.append(batch)
                self.done = 0
            if len(self.batches) > 1 and self.done == self.inserts:
                raise Crash(f"killed before inserting {table}, {self.done} tables of {batch} in")
            self.done += 1
        return self.client.command(cmd, *args, **kwargs)


def test_twenty_deaths_of_a_sink_that_lets_clickhouse_decode_neither_lose_nor_double(
    kafka_topics: str, tmp_path: Path, unique: str
) -> None:
    client = connect(f"chdb://{tmp_path / 'ch'}")
    migrate(client)
    for table in ChargerEventStage.TABLES:
        client.command(f"SYSTEM STOP MERGES chargestream.{table}")  # a double must stay visible
    station, group = f"CRASH-EV-{unique}", f"crash-stage-sink-{unique}"
    _start_group_at_end(kafka_topics, group, CHARGER_EVENTS)  # only this test's events: every batch is ours
    n = (KILLS + 3) * PER_BATCH
    codec, p = EmbeddedCodec(), Producer({"bootstrap.servers": kafka_topics, "enable.idempotence": True})
    for i in range(n):
        at = T0 + i * 60_000
        payload: Any = (
            StatusChange("Charging")
            if i % 2
            else MeterValues(
                tuple(
                    SampledValue(at, "Wh", 1000.0 + i + k, f"{1000 + i + k}", phase=f"L{k + 1}")
                    for k in range(3)
                )
            )
        )
        ev = ChargerEvent(f"{station}-e{i}", station, 1, at, at + 5, "sdk", payload)
        p.produce(CHARGER_EVENTS, key=station.encode(), value=codec.encode(CHARGER_EVENTS, to_record(ev)))
    assert p.flush(30) == 0
    schemas = SchemaServer()

    def writer(cls: type[ClickHouseWriter], handle: Client) -> ClickHouseWriter:
        return _writer(
            cls, kafka_topics, group, handle, CHARGER_EVENTS, ChargerEventStage(handle, schemas.url)
        )

    deaths = 0
    try:
        while deaths < KILLS:
            # before the offset commit, or before the batch's second table (of two) goes in
            killer = StageKiller(client, station, None if deaths % 2 == 0 else 1)
            _dies(writer(Dies, cast(Client, killer)), deaths + 1, "never reached the test's rows")
            deaths += 1
        last = writer(ClickHouseWriter, client)
        statuses = f"SELECT count() FROM chargestream.status_changes WHERE station_id = '{station}'"
        _last_writer(last, lambda: int(client.query(statuses).result_rows[0][0]) >= n // 2)
        assert last.stats.rows > 0 and last.stage is not None
    finally:
        schemas.stop()
    assert deaths == KILLS
    where = f"WHERE station_id = '{station}'"
    meter = client.query(
        f"SELECT count(), uniqExact(event_id, value), sum(value) FROM chargestream.meter_values {where}"
    )
    metered = range(0, n, 2)  # the even events: three samples each
    assert meter.result_rows[0] == (3 * len(metered), 3 * len(metered), sum(3003.0 + 3 * i for i in metered))
    status = client.query(f"SELECT count(), uniqExact(event_id) FROM chargestream.status_changes {where}")
    assert status.result_rows[0] == (n // 2, n // 2)
    client.close()


class LaneDies(ClickHouseWriter):
    """A writer with two lanes (sinks.lanes) that dies once a batch of this life is in, while another
    partition's batch is on its way: before a commit, or (SecondLane) in the second lane before its
    batch's first insert, while the first lane may be writing its own (which then goes in and is committed
    if it ends first, or is left to the next life)."""

    before_commit = True
    batches_in = 0

    def commit_done(self, jobs: Sequence[PendingInsert]) -> None:
        if self.before_commit and self.batches_in and self.writing:
            raise Crash(f"killed before committing {', '.join(j.token for j in jobs)}")
        super().commit_done(jobs)
        self.batches_in += len(jobs)


class SecondLane:
    """The second lane's handle: dies at an insert once the writer has a batch in and another batch is
    on its way."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.writer: LaneDies | None = None

    def insert(self, table: str, rows: list[Any], **kwargs: Any) -> Any:
        w = self.writer
        if w is not None and not w.before_commit and w.batches_in and len(w.writing) > 1:
            raise Crash(f"killed in the second lane before inserting {table}")
        return self.client.insert(table, rows, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_twenty_deaths_of_a_two_lane_sink_neither_lose_nor_double(
    kafka_topics: str, tmp_path: Path, unique: str
) -> None:
    path = tmp_path / "ch"
    client = connect(f"chdb://{path}")
    migrate(client)
    for table in ("billing_records", "billing_ledger", "port_hourly"):
        client.command(f"SYSTEM STOP MERGES chargestream.{table}")  # a double must stay visible
    second = connect(f"chdb://{path}")  # a lane is a handle of its own
    group, partitions = f"crash-lanes-sink-{unique}", 3
    stations = [f"CRASH-L-{unique}-p{p}" for p in range(partitions)]
    _start_group_at_end(kafka_topics, group, SESSIONS)  # only this test's records: every batch is ours
    per_station = 1500  # a life takes a few batches of 25 records
    # small record batches, as many gateways write them: a fetch can bring a few records of every partition
    # (the broker hands out whole record batches, and one producer's backlog would go as one per partition)
    codec = EmbeddedCodec()
    p = Producer({"bootstrap.servers": kafka_topics, "enable.idempotence": True, "batch.num.messages": 10})
    for i in range(per_station):
        for part, station in enumerate(stations):  # interleaved: the partitions fill together
            p.produce(
                SESSIONS,
                key=station.encode(),
                value=codec.encode(SESSIONS, _record(station, i)),
                partition=part,
            )
    assert p.flush(30) == 0

    def writer(cls: type[ClickHouseWriter], lane: Client) -> ClickHouseWriter:
        # each fetch brings a few records of every partition, as for a sink that keeps up with its fleet
        lanes = [Lane(lane, None, threading.Lock())]
        return _writer(cls, kafka_topics, group, client, more_lanes=lanes, fetch_bytes=4096)

    deaths = 0
    while deaths < KILLS:
        lane = SecondLane(second)
        w = cast(LaneDies, writer(LaneDies, cast(Client, lane)))
        w.before_commit = deaths % 2 == 0
        lane.writer = w
        _dies(w, deaths + 1, "never had two batches on their way at once")
        deaths += 1
    n = per_station * partitions
    billed = (
        f"SELECT count() FROM chargestream.billing_records FINAL WHERE station_id LIKE 'CRASH-L-{unique}-%'"
    )
    _last_writer(writer(ClickHouseWriter, second), lambda: int(client.query(billed).result_rows[0][0]) >= n)

    assert deaths == KILLS
    energy = sum(1000 + i for i in range(per_station))
    for station in stations:
        assert _billed(client, station, raw=True) == _billed(client, station) == per_station
        ledger = client.query(
            f"SELECT count(), sum(energy_wh) FROM chargestream.billing_ledger WHERE station_id = '{station}'"
        ).result_rows[0]
        assert ledger == (per_station, energy)
        hours = client.query(
            "SELECT sum(sessions), sum(energy_wh) FROM chargestream.port_hourly "
            f"WHERE station_id = '{station}'"
        ).result_rows[0]
        assert hours == (per_station, energy)
    second.close()
    client.close()
