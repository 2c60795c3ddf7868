"""Simulated charger → Kafka → Faust worker → Kafka → sink → ClickHouse, on the real parts."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from chargestream import stack
from chargestream.query import scalar
from chargestream.settings import Settings
from producers.publisher import EventPublisher
from producers.simulator import FleetConfig, simulate
from schemas.codec import EmbeddedCodec
from schemas.topics import CHARGER_EVENTS, dlq, worker_changelog
from tests.unit.session_harness import run


def _wait_for(settings: Settings, sql: str, want: int, timeout: float = 90.0) -> int:
    deadline = time.monotonic() + timeout
    got = -1
    while time.monotonic() < deadline:
        got = int(scalar(settings, sql) or 0)
        if got >= want:
            return got
        time.sleep(0.5)
    return got


def _dlq_reasons(bootstrap: str, topic: str, group: str, want_key: bytes, timeout: float = 60.0) -> list[str]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    reasons: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(reasons) < 2:
            m = c.poll(0.5)
            if m is None or m.error() or m.key() != want_key:
                continue
            headers = dict(m.headers() or [])
            reasons.append(f"{headers['dlq.stage'].decode()}: {headers['dlq.reason'].decode()}")
    finally:
        c.close()
    return reasons


def test_fleet_is_billed_exactly_and_bad_input_goes_to_dlq(stack_settings: Settings, unique: str) -> None:
    seed = int(unique, 16) % 1_000_000
    events, truths = simulate(
        FleetConfig(stations=3, connectors_per_station=2, sessions_per_connector=2, seed=seed)
    )
    stack.up(stack_settings, say=lambda _line: None)
    try:
        # the worker made its changelog before its first write (else Faust fails the agent)
        changelog = worker_changelog(stack_settings.worker_id).name
        topics = AdminClient({"bootstrap.servers": stack_settings.bootstrap}).list_topics(timeout=10).topics
        assert len(topics[changelog].partitions) == stack_settings.topic_partitions
        EventPublisher(stack_settings.bootstrap, EmbeddedCodec()).publish_all(events)
        bad_key = f"BROKEN-{unique}".encode()
        p = Producer({"bootstrap.servers": stack_settings.bootstrap})
        p.produce(CHARGER_EVENTS, key=bad_key, value=b"\x00\x00\x00\x03\xe9 not avro")
        p.flush(10)

        where = f"station_id LIKE 'SIM-{seed}-%'"
        n = _wait_for(
            stack_settings,
            f"SELECT count() FROM chargestream.billing_records FINAL WHERE {where}",
            len(truths),
        )
        assert n == len(truths)
        rows = scalar(
            stack_settings,
            f"SELECT station_id, connector_id, toUnixTimestamp64Milli(plugged_in_at), "
            f"energy_wh FROM chargestream.billing_records FINAL WHERE {where}",
        )
        billed = {(s, int(c), int(t)): int(e) for s, c, t, e in (ln.split("\t") for ln in rows.splitlines())}
        assert billed == {(t.station_id, t.connector_id, t.plugged_in_at): t.energy_wh for t in truths}
        meter_rows = int(
            scalar(stack_settings, f"SELECT count() FROM chargestream.meter_values WHERE {where}")
        )
        assert meter_rows == sum(
            len(e.payload.samples)
            for e in events
            if e.kind == "MeterValues"  # type: ignore[union-attr]
        )

        # Idle alerts: the same lifecycle as the pure engine gives for the same events.
        # (Fault alerts are tests/integration/test_fault_alerts.py's: on the shared broker, the partition's
        # time moves on with other tests' stations, so these may rightly be called silent at the end.)
        expected = {(a["alert_id"], a["status"]) for a in run(events).alerts if a["type"] == "idle"}
        assert expected, "the fleet has idle tails long enough to alert"
        alerts_sql = f"SELECT count() FROM chargestream.alerts WHERE type = 'idle' AND {where}"
        _wait_for(stack_settings, alerts_sql, len(expected))
        got = scalar(
            stack_settings,
            f"SELECT alert_id, status FROM chargestream.alerts WHERE type = 'idle' AND {where}",
        )
        assert {tuple(ln.split("\t")) for ln in got.splitlines()} == expected

        reasons = _dlq_reasons(stack_settings.bootstrap, dlq(CHARGER_EVENTS), f"dlq-{unique}", bad_key)
        assert sorted(r.split(":")[0] for r in reasons) == [
            "sessions",
            "sink",
        ]  # both consumers dead-lettered it
        assert all("corrupt Avro" in r for r in reasons), reasons
        assert stack.worker_process(stack_settings).pid() is not None, (
            "a bad record must not crash the worker"
        )
    finally:
        stopped = stack.down(stack_settings, say=lambda _line: None)
    assert sorted(stopped) == ["gateway", "sink", "worker"]
    assert all(r.pid is None for r in stack.status(stack_settings) if r.name != "kafka")
    # With the sink down the embedded store is opened directly and still holds every record.
    if stack_settings.uses_embedded_clickhouse:
        count = f"SELECT count() FROM chargestream.billing_records FINAL WHERE {where}"
        assert int(scalar(stack_settings, count)) == len(truths)
