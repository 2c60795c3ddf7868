"""The sink dies between a ClickHouse insert and its offset commit: nothing is lost or doubled."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, Producer

from schemas.codec import EmbeddedCodec
from schemas.topics import SESSIONS
from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.service import _decode_json
from sinks.writer import ClickHouseWriter


class Crash(RuntimeError):
    pass


class CrashBeforeCommit(ClickHouseWriter):
    """Dies right after the first batch with the test's rows reached ClickHouse and before the offset
    commit (batches of other tests' records on the shared broker are committed normally)."""

    station = ""

    def commit_done(self, topic: str, partition: int, end: int) -> None:
        if _count(self.client, self.station) == 0:
            super().commit_done(topic, partition, end)
            return
        raise Crash(f"killed before committing {topic}[{partition}]@{end}")


def _record(station: str, i: int) -> dict[str, Any]:
    zero = Decimal("0.0000")
    return {
        "session_id": f"{station}-s{i}",
        "version": 1,
        "state": "closed",
        "is_final": True,
        "station_id": station,
        "connector_id": 1,
        "plugged_in_at": 1_790_000_000_000 + i,
        "energy_wh": 1000 + i,
        "charging_minutes": 1.0,
        "idle_minutes": 0.0,
        "max_power_kw": 7.0,
        "cost_energy": zero,
        "cost_time": zero,
        "cost_parking": zero,
        "cost_flat": zero,
        "cost_total": zero,
        "emitted_at": 1_790_000_000_000 + i,
    }


def _writer(cls: type[ClickHouseWriter], bootstrap: str, group: str, client: Client) -> ClickHouseWriter:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    w = cls(
        consumer,
        Producer({"bootstrap.servers": bootstrap}),
        client,
        EmbeddedCodec(),
        _decode_json,
        threading.Lock(),
        batch_max=10_000,
        flush_seconds=0.3,
    )
    consumer.subscribe([SESSIONS], on_assign=w.on_assign, on_revoke=w.on_revoke)
    return w


def _produce(bootstrap: str, station: str, rng: range) -> None:
    codec = EmbeddedCodec()
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in rng:
        rec = _record(station, i)
        p.produce(SESSIONS, key=rec["session_id"].encode(), value=codec.encode(SESSIONS, rec))
    assert p.flush(30) == 0


def _count(client: Client, station: str) -> int:
    return int(
        client.query(
            f"SELECT count() FROM chargestream.billing_records WHERE station_id = '{station}'"
        ).result_rows[0][0]
    )


def test_crash_between_insert_and_commit_neither_loses_nor_doubles(
    kafka_topics: str, tmp_path: Path, unique: str
) -> None:
    client = connect(f"chdb://{tmp_path / 'ch'}")
    migrate(client)
    client.command("SYSTEM STOP MERGES chargestream.billing_records")  # duplicates must stay visible
    station, group = f"CRASH-{unique}", f"crash-sink-{unique}"
    _produce(kafka_topics, station, range(0, 300))

    CrashBeforeCommit.station = station
    first = _writer(CrashBeforeCommit, kafka_topics, group, client)
    with pytest.raises(Crash):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            first.poll_once()
    first.consumer.close()  # dies: nothing more is committed
    inserted_before_crash = _count(client, station)
    assert inserted_before_crash > 0

    # More data arrives while the sink is down: a naive restart would cut a bigger batch and double rows.
    _produce(kafka_topics, station, range(300, 500))
    second = _writer(ClickHouseWriter, kafka_topics, group, client)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _count(client, station) < 500:
        second.poll_once()
    for _ in range(5):  # a few more rounds: nothing further may arrive
        second.poll_once()
    second.consumer.close()

    assert second.stats.resumed_plans >= 1
    assert _count(client, station) == 500
    energy = client.query(
        f"SELECT sum(energy_wh) FROM chargestream.billing_records WHERE station_id = '{station}'"
    )
    assert int(energy.result_rows[0][0]) == sum(1000 + i for i in range(500))
    client.close()
