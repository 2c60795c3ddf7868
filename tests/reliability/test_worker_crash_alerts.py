"""The worker is killed (SIGKILL) three times while a fleet with faults, site outages and driver reports
streams through it: the sessions, site, model and maintenance stages each keep their state and send
their outputs in separate steps, so a kill can fall between the two. After the restarts ops see the
alerts and dispatches the pure run gives; a version sent again is the same record, and no version of
an alert is missing."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import defaultdict
from typing import Any

import pytest

from chargestream import stack
from chargestream.query import scalar
from chargestream.settings import Settings
from producers.publisher import EventPublisher
from producers.simulator import FeedbackRates, FleetConfig, IncidentRates
from producers.simulator.simulation import Simulation
from producers.simulator.simulation import run as simulate_fleet
from schemas.codec import EmbeddedCodec
from schemas.topics import ALERTS_FAULTS, ALERTS_IDLE, ALERTS_MAINTENANCE, CHARGER_EVENTS, DRIVER_FEEDBACK
from sinks.service import SINK_TOPICS
from tests.integration.test_fault_alerts import SITE_KINDS, _alerts_on, _disagreements, _site_incidents
from tests.reliability.test_worker_crash import _start_group_at_end, _wait
from tests.unit.session_harness import run

KILLS = 3


def _fleet(seed: int) -> Simulation:
    return simulate_fleet(
        FleetConfig(
            stations=4,
            connectors_per_station=2,
            sessions_per_connector=None,
            hours=48,
            meter_interval_s=900,
            heartbeat_interval_s=1800,
            seed=seed,
            incidents=IncidentRates.only(connector_fault=0.5, flapping=0.2, site_outage=0.3),
            feedback=FeedbackRates(incident_report=0.8, idle_report=0.8),
        )
    )


def _stored(settings: Settings, where: str) -> dict[str, tuple[str, str]]:
    sql = (
        "SELECT alert_id, any(type), argMax(status, version) "
        f"FROM chargestream.alerts FINAL WHERE {where} GROUP BY alert_id"
    )
    rows = [ln.split("\t") for ln in (scalar(settings, sql) or "").splitlines()]
    return {aid: (kind, status) for aid, kind, status in rows}


@pytest.mark.timeout(900)
def test_worker_killed_three_times_raises_every_alert_once_and_the_same(
    stack_settings: Settings, unique: str
) -> None:
    seed = int(os.environ.get("CHARGESTREAM_TEST_SEED") or int(unique, 16) % 1_000_000)
    sim = _fleet(seed)
    while not any(f.truth.cause == "incident" for f in sim.feedback):
        seed += 1
        sim = _fleet(seed)
    reports = [f.record for f in sim.feedback]
    tick = 60_000
    pure = {a["alert_id"]: a for a in run(sim.events, clock_every_ms=tick, feedback=reports).alerts}
    expected = {aid: (a["type"], a["status"]) for aid, a in pure.items() if a["type"] not in SITE_KINDS}
    assert {"connector_fault", "maintenance_dispatch", "idle"} <= {t for t, _ in expected.values()}
    expected_sites = _site_incidents(pure.values())

    # From the topics' ends: the worker's time is this fleet's (and the gateway's live clock, which
    # its history leaves out), not that of fleets other tests left on the shared broker.
    _start_group_at_end(stack_settings.bootstrap, stack_settings.worker_id, CHARGER_EVENTS)
    for topic in SINK_TOPICS:
        _start_group_at_end(stack_settings.bootstrap, stack_settings.sink_group, topic)
    publisher = EventPublisher(stack_settings.bootstrap, EmbeddedCodec())
    stack.up(stack_settings, say=lambda _line: None)
    worker = stack.worker_process(stack_settings)
    try:
        for fb in reports:
            publisher.publish_record(DRIVER_FEEDBACK, fb.station_id, fb.to_dict())
        publisher.publish_all(sim.events, clock_every_ms=tick)
        total = len(sim.events)

        def lag() -> int:
            return stack.consumer_lag(stack_settings, stack_settings.worker_id, [CHARGER_EVENTS]) or total

        for k in range(1, KILLS + 1):  # killed at three points of its way through the fleet
            _wait(lambda k=k: lag() < total * (1 - k / (KILLS + 1)), 120, f"the worker past kill point {k}")
            pid = worker.pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # between any two steps: no shutdown, no commit, no flush
            _wait(lambda: worker.pid() is None, 10, "the worker to be gone")
            stack.up(stack_settings, say=lambda _line: None)

        where = f"(station_id LIKE 'SIM-{seed}-%' OR site_id LIKE 'SITE-{seed}-%')"
        kinds = f"{where} AND type NOT IN {SITE_KINDS}"
        deadline, got = time.monotonic() + 180, {}
        while time.monotonic() < deadline:
            got = _stored(stack_settings, kinds)
            if not _disagreements(got, expected):
                break
            time.sleep(1)
        assert not _disagreements(got, expected), (f"seed {seed}", _disagreements(got, expected))

        # What ops received: every version of an alert once or the same each time, none missing.
        copies: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for topic in (ALERTS_FAULTS, ALERTS_MAINTENANCE, ALERTS_IDLE):
            for alert in _alerts_on(stack_settings.bootstrap, topic, seed):
                copies[(alert["alert_id"], alert["version"])].append(alert)
        differing = {key: recs for key, recs in copies.items() if any(r != recs[0] for r in recs)}
        assert not differing, f"seed {seed}: a version re-sent with other content: {differing}"
        versions: dict[str, list[int]] = defaultdict(list)
        for aid, version in copies:
            versions[aid].append(version)
        gaps = {aid: sorted(v) for aid, v in versions.items() if sorted(v) != list(range(1, len(v) + 1))}
        assert not gaps, f"seed {seed}: versions missing {gaps}"
        resent = sum(len(recs) - 1 for recs in copies.values())

        final = {
            a["alert_id"]: a
            for recs in copies.values()
            for a in recs
            if a["version"] == max(versions[a["alert_id"]])
        }
        got_sites = _site_incidents(final.values())
        assert [(k, m) for k, _, m in got_sites] == [(k, m) for k, _, m in expected_sites], (seed, got_sites)
        print(
            json.dumps(
                {
                    "seed": seed,
                    "kills": KILLS,
                    "alerts": len(final),
                    "versions": len(copies),
                    "resent": resent,
                }
            )
        )
    finally:
        publisher.close()
        stack.down(stack_settings, say=lambda _line: None)
