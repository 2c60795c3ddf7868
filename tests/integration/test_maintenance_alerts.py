"""Driver feedback + faults → Kafka → Faust worker → alerts.maintenance / alerts.idle → sink → ClickHouse,
on the real parts: the stack dispatches the technicians the pure run dispatches, joins idle-car reports
to their idle alerts, and ops resolve a dispatch by hand with `alerts resolve`."""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import Producer

from chargestream import stack
from chargestream.query import scalar
from chargestream.resolve import ResolveError, current, resolve
from chargestream.settings import Settings
from producers.publisher import EventPublisher
from producers.simulator import FeedbackRates, FleetConfig, IncidentRates
from producers.simulator.simulation import Simulation
from producers.simulator.simulation import run as simulate_fleet
from schemas.codec import EmbeddedCodec
from schemas.events import ChargerEvent, Heartbeat, Payload, StationBoot
from schemas.records import Feedback
from schemas.topics import ALERTS_FAULTS, ALERTS_MAINTENANCE, DRIVER_FEEDBACK, dlq
from tests.integration.test_fault_alerts import _alerts_on, _read_all
from tests.unit.session_harness import run


def _final(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    newest: dict[str, dict[str, Any]] = {}
    for a in alerts:
        if a["alert_id"] not in newest or a["version"] > newest[a["alert_id"]]["version"]:
            newest[a["alert_id"]] = a
    return newest


def _stored(settings: Settings, where: str) -> dict[str, tuple[str, str, int]]:
    sql = (
        "SELECT alert_id, any(type), argMax(status, version), max(version) "
        f"FROM chargestream.alerts FINAL WHERE {where} GROUP BY alert_id"
    )
    rows = [ln.split("\t") for ln in (scalar(settings, sql) or "").splitlines()]
    return {aid: (kind, status, int(v)) for aid, kind, status, v in rows}


def _agrees(got: dict[str, tuple[str, str, int]], expected: dict[str, tuple[str, str]]) -> bool:
    """The same dispatches; one the pure run leaves open may be resolved by the stack (further along in
    time), never the other way round."""
    if set(got) != set(expected):
        return False
    return all(got[a][1] == "resolved" or expected[a][1] != "resolved" for a in expected)


def test_feedback_dispatches_technicians_and_ops_resolve_by_hand(
    stack_settings: Settings, unique: str
) -> None:
    seed = int(os.environ.get("CHARGESTREAM_TEST_SEED") or int(unique, 16) % 1_000_000)

    def fleet(seed: int) -> Simulation:
        return simulate_fleet(
            FleetConfig(
                stations=6,
                connectors_per_station=2,
                sessions_per_connector=None,
                hours=72,
                meter_interval_s=900,
                heartbeat_interval_s=1800,
                seed=seed,
                incidents=IncidentRates.only(connector_fault=0.6, flapping=0.2),
                feedback=FeedbackRates(incident_report=0.8, idle_report=0.8),
            )
        )

    sim = fleet(seed)
    while not any(f.truth.cause == "incident" for f in sim.feedback):  # a fleet whose drivers met a fault
        seed += 1
        sim = fleet(seed)
    reports = [f.record for f in sim.feedback]
    # The hand-resolved dispatch: three reports on a station nobody charges at after them (it only
    # boots and sends heartbeats: the engine's time passes the reports, nothing cures them).
    lonely = f"SIM-{seed}-LONELY"
    t0 = max(f.submitted_at for f in reports) if reports else sim.events[-1].station_time
    by_hand = [
        Feedback(f"{lonely}-{i}", lonely, "cannot-start", t0 + i * 60_000, t0 + i * 60_000 + 1_000, 1, 1)
        for i in range(3)
    ]
    boot = StationBoot("ACME", "AC-22", site_id=f"SITE-{seed}-LONELY")
    beats: list[Payload] = [boot, *[Heartbeat() for _ in range(24)]]
    quiet = [
        ChargerEvent(
            f"{lonely}-hb{i}", lonely, 0, t0 - 60_000 + i * 300_000, t0 - 60_000 + i * 300_000, "t", p
        )
        for i, p in enumerate(beats)
    ]
    tick = 60_000
    # The pure run gets the lonely station too: its heartbeats, on after the fleet's last events, move the
    # time that finds the fleet's stations silent at the end (in the stack: its partition's time).
    everything = sorted([*sim.events, *quiet], key=lambda e: e.received_at)
    pure_run = run(everything, clock_every_ms=tick, feedback=[*reports, *by_hand])
    pure = _final(pure_run.alerts)
    # (the fleet's own end: the lonely station's heartbeats go on and find the others silent, at times
    # the pure run's clock and the stack's partition clock place differently)
    fleet_end = max(e.station_time for e in sim.events) - 3_600_000
    closed = {
        o["outage_id"]: o for o in pure_run.outages if o["ended_at"] is not None and o["ended_at"] < fleet_end
    }
    expected = {
        aid: (a["type"], a["status"])
        for aid, a in pure.items()
        if a["type"] == "maintenance_dispatch" and a["station_id"] != lonely
    }
    assert expected, f"seed {seed}: the fleet's drivers report its faults"
    joined = {
        aid: a["details"]["report_count"] for aid, a in pure.items() if a["details"].get("report_count")
    }
    joined = {aid: n for aid, n in joined.items() if pure[aid]["type"] == "idle"}
    stack.up(stack_settings, say=lambda _line: None)
    try:
        publisher = EventPublisher(stack_settings.bootstrap, EmbeddedCodec())
        # Feedback first: reports reach the stage before the alerts they meet and the sessions that cure
        # them (driver apps are faster than the engine's reorder buffer); the stage must not mind.
        for fb in [*reports, *by_hand]:
            publisher.publish_record(DRIVER_FEEDBACK, fb.station_id, fb.to_dict())
        poison = Producer({"bootstrap.servers": stack_settings.bootstrap})
        poison.produce(DRIVER_FEEDBACK, key=f"SIM-{seed}-poison".encode(), value=b"not avro")
        assert poison.flush(10) == 0
        publisher.publish_all(everything, clock_every_ms=tick)
        where = f"station_id LIKE 'SIM-{seed}-%' AND type = 'maintenance_dispatch'"
        fleet = f"{where} AND station_id != '{lonely}'"
        deadline, got, lonely_ids = time.monotonic() + 120, {}, []
        while time.monotonic() < deadline:
            got = _stored(stack_settings, fleet)
            lonely_ids = list(
                _stored(stack_settings, f"station_id = '{lonely}' AND type = 'maintenance_dispatch'")
            )
            if _agrees(got, expected) and lonely_ids:
                break
            time.sleep(1)
        if not _agrees(got, expected):
            sent = _alerts_on(stack_settings.bootstrap, ALERTS_MAINTENANCE, seed)
            history = [
                (a["alert_id"][:8], a["station_id"], a["version"], a["status"], a["opened_at"]) for a in sent
            ]
            faults = scalar(
                stack_settings,
                "SELECT station_id, type, toUnixTimestamp64Milli(min(opened_at)), max(version), "
                "argMax(status, version) FROM chargestream.alerts FINAL "
                f"WHERE station_id LIKE 'SIM-{seed}-%' AND type != 'maintenance_dispatch' AND type != 'idle' "
                "GROUP BY station_id, alert_id, type ORDER BY 1, 3",
            )
            pure_faults = sorted(
                (a["station_id"], a["type"], a["opened_at"], a["version"], a["status"])
                for a in pure.values()
                if a["type"] not in ("maintenance_dispatch", "idle") and a["station_id"]
            )
            raise AssertionError(
                f"seed {seed}: got {got}, expected {expected}; sent {history}; "
                f"stack faults {faults}; pure faults {pure_faults}"
            )
        on_topic = _final(_alerts_on(stack_settings.bootstrap, ALERTS_MAINTENANCE, seed))
        dispatches = [a for a in on_topic.values() if a["alert_id"] in expected]
        assert all(a["summary"].count("send a technician") or a["status"] == "resolved" for a in dispatches)
        assert all(
            a["details"]["reports"] and a["details"]["priority"] in ("P1", "P2", "P3") for a in dispatches
        )
        # idle-car reports joined their idle alerts, as in the pure run
        idle = _stored(stack_settings, f"station_id LIKE 'SIM-{seed}-%' AND type = 'idle'")
        assert set(joined) <= set(idle)
        counts = scalar(
            stack_settings,
            "SELECT alert_id, argMax(JSONExtractUInt(details, 'report_count'), version) "
            f"FROM chargestream.alerts FINAL WHERE station_id LIKE 'SIM-{seed}-%' AND type = 'idle' "
            "GROUP BY alert_id",
        )
        stored_counts = {aid: int(n) for aid, n in (ln.split("\t") for ln in (counts or "").splitlines())}
        assert {aid: stored_counts[aid] for aid in joined} == joined
        # ops resolve the lonely station's dispatch by hand
        lonely_sent = [
            (a["type"], a["version"], a["status"], a["opened_at"] - t0, a["updated_at"] - t0, a["summary"])
            for a in _alerts_on(stack_settings.bootstrap, ALERTS_MAINTENANCE, seed)
            + _alerts_on(stack_settings.bootstrap, ALERTS_FAULTS, seed)
            if a["station_id"] == lonely
        ]
        assert len(lonely_ids) == 1, "\n".join(map(str, lonely_sent))
        (lonely_id,) = lonely_ids
        counted = (
            "SELECT argMax(JSONExtractUInt(details, 'report_count'), version) FROM chargestream.alerts "
            f"FINAL WHERE alert_id = '{lonely_id}'"
        )
        deadline = time.monotonic() + 60
        while scalar(stack_settings, counted) != "3" and time.monotonic() < deadline:
            time.sleep(0.5)  # the engine's time passes the reports one heartbeat after another
        assert scalar(stack_settings, counted) == "3"
        before = current(stack_settings, lonely_id)
        assert before is not None and before["status"] != "resolved"
        done = resolve(stack_settings, lonely_id, "reset the RFID reader", "kim", wait_s=60)
        # (the station's offline alert may join the dispatch meanwhile: a version of its own)
        assert done is not None and done["status"] == "resolved" and done["version"] > before["version"]
        seq = scalar(
            stack_settings,
            "SELECT arraySort(groupArray(version)) FROM chargestream.alerts FINAL "
            f"WHERE alert_id = '{lonely_id}'",
        )
        assert seq == str(list(range(1, done["version"] + 1))).replace(" ", "")
        assert "resolved by kim: reset the RFID reader" in done["summary"]
        with pytest.raises(ResolveError, match="resolved already"):
            resolve(stack_settings, lonely_id, "again", "kim", wait_s=0)
        faults = _stored(stack_settings, f"station_id LIKE 'SIM-{seed}-%' AND type = 'connector_fault'")
        assert faults, "the fleet's faults are alerted"
        with pytest.raises(ResolveError, match="only maintenance_dispatch"):
            resolve(stack_settings, next(iter(faults)), "", "kim", wait_s=0)
        # the unreadable feedback record went to the DLQ with its reason, once by each reader (the
        # worker's feedback agent and the sink), and no report did
        dead = [
            m
            for m in _read_all(stack_settings.bootstrap, dlq(DRIVER_FEEDBACK))
            if (m.key() or b"").startswith(f"SIM-{seed}-".encode())
        ]
        assert {m.key() for m in dead} == {f"SIM-{seed}-poison".encode()}
        headers = [dict(m.headers() or []) for m in dead]
        assert sorted(h["dlq.stage"] for h in headers) == [b"feedback", b"sink"]
        assert all(b"wire format" in h["dlq.reason"] or b"magic" in h["dlq.reason"] for h in headers), headers
        # the ports' outages (uptime): every outage the pure run closed is in ClickHouse, closed alike
        stored_outages = scalar(
            stack_settings,
            "SELECT outage_id, toUnixTimestamp64Milli(started_at), toUnixTimestamp64Milli(ended_at) "
            f"FROM chargestream.port_outages FINAL WHERE station_id LIKE 'SIM-{seed}-%' "
            "AND ended_at IS NOT NULL",
        )
        spans = {
            oid: (int(s), int(e))
            for oid, s, e in (ln.split("\t") for ln in (stored_outages or "").splitlines())
        }
        assert (
            closed
            and {k: (o["started_at"], o["ended_at"]) for k, o in closed.items()}.items() <= spans.items()
        )
        worst = scalar(
            stack_settings,
            "SELECT min(uptime_pct) FROM chargestream.port_uptime_monthly "
            f"WHERE station_id LIKE 'SIM-{seed}-%'",
        )
        assert 0 < float(worst) < 100
        statuses = Counter(v[1] for v in got.values())
        print(
            f"seed {seed}: {len(expected)} dispatches {dict(statuses)}, "
            f"{len(joined)} idle alerts with reports"
        )
    finally:
        stack.down(stack_settings, say=lambda _line: None)
