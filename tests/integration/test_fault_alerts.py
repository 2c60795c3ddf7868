"""Injected faults → Kafka → Faust worker → alerts.faults → sink → ClickHouse, on the real parts: the
stack raises the same fault alerts as the pure engine for the same events, one per incident."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from chargestream import stack
from chargestream.query import scalar
from chargestream.settings import Settings
from producers.publisher import EventPublisher
from producers.simulator import FleetConfig, IncidentRates
from producers.simulator.simulation import run as simulate_fleet
from schemas.codec import EmbeddedCodec
from schemas.events import ChargerEvent, from_record
from schemas.topics import ALERTS_FAULTS, CHARGER_EVENTS
from sinks.service import SINK_TOPICS
from tests.integration.gateway_fleet import through_gateway
from tests.reliability.test_worker_crash import _start_group_at_end
from tests.unit.session_harness import run


def _read_all(bootstrap: str, topic: str) -> list[Message]:
    """Every message now on the topic: each partition read up to its end offset (what this test's
    producers wrote is all there; they were flushed before this reads)."""
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"t-{time.time_ns()}", "enable.auto.commit": False}
    )
    try:
        partitions = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out: list[Message] = []
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + 60
        while len(done) < len(ends) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append(m)
            if m.offset() + 1 >= ends[m.partition()]:
                done.add(m.partition())
        assert len(done) == len(ends), f"{topic}: not read to its end in 60 s"
        return out
    finally:
        c.close()


def _consume_events(bootstrap: str, stations: set[bytes]) -> list[ChargerEvent]:
    """Every event of these stations on charger.events, in the order they were received."""
    codec = EmbeddedCodec()
    got = [
        from_record(codec.decode(CHARGER_EVENTS, m.value() or b""))
        for m in _read_all(bootstrap, CHARGER_EVENTS)
        if m.key() in stations
    ]
    return sorted(got, key=lambda e: e.received_at)


def _alerts_on(bootstrap: str, topic: str, seed: int) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    for m in _read_all(bootstrap, topic):  # a shared topic: other tests write bad records to it too
        try:
            alert = json.loads(m.value() or b"{}")
        except ValueError:
            continue
        if isinstance(alert, dict):
            alerts.append(alert)
    return [
        a
        for a in alerts
        if str(a.get("station_id") or "").startswith(f"SIM-{seed}-")
        or str(a.get("site_id") or "").startswith(f"SITE-{seed}-")
    ]


SITE_KINDS = ("site_outage", "site_fault_burst", "model_firmware_cluster")


def _site_incidents(alerts: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    """(type, final status, members) of each site or model incident, in a stable order."""
    return sorted(
        (
            a["type"],
            a["status"],
            tuple(sorted(f"{m['station_id']}/{m['connector_id']}" for m in a["members"])),
        )
        for a in alerts
        if a["type"] in SITE_KINDS
    )


def _disagreements(got: dict[str, tuple[str, str]], expected: dict[str, tuple[str, str]]) -> list[str]:
    """How the stack's alerts differ from the pure run's, beyond what is allowed: the stack may be further
    along in time (its fault clock moves with the other stations of a partition), so an alert the pure run
    leaves open may be resolved there — never the other way round —, and that clock may find a station
    offline that the pure run (which has no partition) cannot."""
    out = [f"missing {aid} {expected[aid]}" for aid in sorted(expected.keys() - got.keys())]
    out += [
        f"extra {aid} {got[aid]}"
        for aid in sorted(got.keys() - expected.keys())
        if got[aid][0] != "station_offline"
    ]
    for aid in sorted(expected.keys() & got.keys()):
        (kind, status), (got_kind, got_status) = expected[aid], got[aid]
        if got_kind != kind or (status == "resolved" and got_status != "resolved"):
            out.append(f"{aid}: expected {kind} {status}, got {got_kind} {got_status}")
    return out


def _agrees(got: dict[str, tuple[str, str]], expected: dict[str, tuple[str, str]]) -> bool:
    return not _disagreements(got, expected)


def test_injected_faults_are_alerted_once_on_alerts_faults(stack_settings: Settings, unique: str) -> None:
    # CHARGESTREAM_TEST_SEED replays the fleet of a failed run (its seed is in the failure message)
    seed = int(os.environ.get("CHARGESTREAM_TEST_SEED") or int(unique, 16) % 1_000_000)
    sim = simulate_fleet(
        FleetConfig(
            stations=4,
            connectors_per_station=2,
            sessions_per_connector=None,
            hours=48,
            meter_interval_s=900,
            heartbeat_interval_s=1800,
            seed=seed,
            incidents=IncidentRates.only(connector_fault=0.5, flapping=0.2, site_outage=0.3, site_burst=0.8),
        )
    )
    injected = {i.type for i in sim.incidents}
    assert "connector_fault" in injected, "the fleet has faults to alert"
    # The gateway's clock ticks every minute, as a live gateway's would: a whole site dark still has time.
    tick = 60_000
    pure = {a["alert_id"]: a for a in run(sim.events, clock_every_ms=tick).alerts if a["type"] != "idle"}
    expected = {aid: (a["type"], a["status"]) for aid, a in pure.items() if a["type"] not in SITE_KINDS}
    assert {t for t, _ in expected.values()} >= {"connector_fault"}
    expected_sites = _site_incidents(pure.values())
    assert ("site_outage" in injected) == any(kind == "site_outage" for kind, _, _ in expected_sites)
    # From the topics' ends: fleets other tests left on the shared broker would move this fleet's
    # partitions past its end, and its last silence would make offline alerts and site outages the pure
    # run (whose clock stops with the fleet) cannot have.
    _start_group_at_end(stack_settings.bootstrap, stack_settings.worker_id, CHARGER_EVENTS)
    for topic in SINK_TOPICS:
        _start_group_at_end(stack_settings.bootstrap, stack_settings.sink_group, topic)
    stack.up(stack_settings, say=lambda _line: None)
    try:
        EventPublisher(stack_settings.bootstrap, EmbeddedCodec()).publish_all(sim.events, clock_every_ms=tick)
        # The stack's fault clock moves with the partition, the pure run's with every station:
        # _disagreements still allows a station_offline alert only the stack finds.
        where = f"station_id LIKE 'SIM-{seed}-%' AND type != 'idle'"
        version = "JSONExtractUInt(details, 'version')"
        sql = (
            f"SELECT alert_id, any(type), argMax(status, {version}), max({version}) "
            f"FROM chargestream.alerts WHERE {where} GROUP BY alert_id"
        )
        deadline, got = time.monotonic() + 120, {}
        while time.monotonic() < deadline:
            rows = [ln.split("\t") for ln in (scalar(stack_settings, sql) or "").splitlines()]
            got = {aid: (kind, status) for aid, kind, status, _ in rows}
            if _agrees(got, expected):
                break
            time.sleep(1)
        assert _agrees(got, expected), (f"seed {seed}", _disagreements(got, expected))
        # every state change is a row, and versions rise without a gap (nothing sent twice, nothing lost)
        versions = scalar(
            stack_settings,
            f"SELECT alert_id, groupArray(JSONExtractUInt(details, 'version')) FROM "
            f"(SELECT * FROM chargestream.alerts FINAL WHERE {where} ORDER BY updated_at) GROUP BY alert_id",
        )
        for line in (versions or "").splitlines():
            _, seq = line.split("\t")
            numbers = json.loads(seq)
            assert sorted(numbers) == list(range(1, len(numbers) + 1))
        # ops subscribe to alerts.faults: every fault alert is there, in the contract's shape
        on_topic = _alerts_on(stack_settings.bootstrap, ALERTS_FAULTS, seed)
        assert {a["alert_id"] for a in on_topic} >= set(expected)
        assert all(a["summary"] and a["members"] and a["version"] >= 1 for a in on_topic)
        # Site incidents: the same ones, with the same members (their ids hold the earliest member known
        # when they opened, which the order of the stations' alerts can move by seconds: not compared).
        final = {a["alert_id"]: a for a in sorted(on_topic, key=lambda a: a["version"])}
        got_sites = _site_incidents(final.values())
        assert [(k, m) for k, _, m in got_sites] == [(k, m) for k, _, m in expected_sites], (seed, got_sites)
        pairs = zip(got_sites, expected_sites, strict=True)
        assert all(g == "resolved" or e != "resolved" for (_, g, _), (_, e, _) in pairs)
        # the members' own alerts are folded into the incident that lists them
        outages = {aid for aid, a in final.items() if a["type"] == "site_outage"}
        folded = [a for a in final.values() if a["type"] == "station_offline" and a["parent_id"]]
        assert all(a["parent_id"] in outages for a in folded)
        assert len(folded) >= sum(len(m) for k, _, m in expected_sites if k == "site_outage")
    finally:
        stack.down(stack_settings, say=lambda _line: None)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_faults_sent_by_real_ocpp_clients_give_the_same_alerts(
    kafka_topics: str, unique: str, version: str
) -> None:
    """Connector faults and a flapping connector, sent by `ocpp` clients through the gateway: the events
    the gateway publishes give the fault alerts the simulator's own events give."""
    cfg = FleetConfig(
        stations=2,
        connectors_per_station=2,
        sessions_per_connector=None,
        hours=24,
        meter_interval_s=1800,
        heartbeat_interval_s=0,
        seed=int(unique, 16) % 1_000_000 + (0 if version == "1.6" else 1),
        incidents=IncidentRates.only(connector_fault=1.0, flapping=0.5),
    )
    sim = simulate_fleet(cfg)
    stats = through_gateway(kafka_topics, sim, version=version)
    assert stats.errors == []

    def faults(events: list[ChargerEvent]) -> dict[str, tuple[str, str]]:
        kinds = ("connector_fault", "flapping", "station_fault")
        return {a["alert_id"]: (a["type"], a["status"]) for a in run(events).alerts if a["type"] in kinds}

    expected = faults(sim.events)
    assert {t for t, _ in expected.values()} >= {"connector_fault"}
    got = _consume_events(kafka_topics, {s.station_id.encode() for s in sim.stations})
    assert len(got) >= len(sim.events) - sum(e.kind == "ConnectionChange" for e in sim.events)
    assert _agrees(faults(got), expected)  # the gateway's own connects may move time further
