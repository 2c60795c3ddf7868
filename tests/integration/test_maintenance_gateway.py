"""Driver feedback posted to the gateway (`POST /feedback`) next to real `ocpp` clients reporting faults:
what the gateway publishes sends a technician for every fault a driver reported while it lasted, and
for no idle car."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from producers.simulator import FeedbackRates, FleetConfig, IncidentRates
from producers.simulator.score import reports_during
from producers.simulator.simulation import Simulation
from producers.simulator.simulation import run as simulate_fleet
from schemas.codec import EmbeddedCodec
from schemas.records import Feedback
from schemas.topics import DRIVER_FEEDBACK
from tests.integration.gateway_fleet import through_gateway
from tests.integration.test_fault_alerts import _consume_events, _read_all
from tests.unit.session_harness import run


def _dispatches(alerts: list[dict[str, Any]]) -> dict[str, tuple[bool, tuple[str, ...]]]:
    final: dict[str, dict[str, Any]] = {}
    for a in alerts:
        if (
            a["type"] == "maintenance_dispatch"
            and a["version"] > final.get(a["alert_id"], {"version": 0})["version"]
        ):
            final[a["alert_id"]] = a
    return {
        k: (a["status"], tuple(r["feedback_id"] for r in a["details"]["reports"])) for k, a in final.items()
    }


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_feedback_through_the_gateway_dispatches_as_the_simulator_says(
    kafka_topics: str, unique: str, version: str
) -> None:
    def fleet(seed: int) -> Simulation:
        return simulate_fleet(
            FleetConfig(
                stations=3,
                connectors_per_station=2,
                sessions_per_connector=None,
                hours=24,
                meter_interval_s=1800,
                heartbeat_interval_s=0,  # a 1.6 Heartbeat has no time: the gateway's, a month ahead
                start_ms=start_ms,
                seed=seed,
                incidents=IncidentRates.only(connector_fault=1.0),
                feedback=FeedbackRates(incident_report=1.0, idle_report=1.0),
            )
        )

    # The fleet's day ended an hour ago: its queues reach the gateway now, behind the gateway's own clock
    # (what it stamps on connections), never ahead of it (a station clock ahead is overridden).
    start_ms = (time.time_ns() // 1_000_000 // 60_000 - 25 * 60) * 60_000
    seed = int(unique, 16) % 1_000_000 + (0 if version == "1.6" else 1)
    sim = fleet(seed)
    while not reports_during(sim):  # drivers who met a fault and said so while it lasted
        seed += 2
        sim = fleet(seed)
    stats = through_gateway(kafka_topics, sim, version=version)
    assert stats.errors == [] and stats.feedback == len(sim.feedback)
    stations = {s.station_id.encode() for s in sim.stations}
    codec = EmbeddedCodec()
    posted = [
        Feedback.from_dict(codec.decode(DRIVER_FEEDBACK, m.value() or b""))
        for m in _read_all(kafka_topics, DRIVER_FEEDBACK)
        if m.key() in stations
    ]
    assert sorted(f.feedback_id for f in posted) == sorted(f.record.feedback_id for f in sim.feedback)
    pure = run(sim.events, feedback=[f.record for f in sim.feedback]).alerts
    expected = _dispatches(pure)
    events = _consume_events(kafka_topics, stations)
    via_gateway = run(events, feedback=posted).alerts
    got = _dispatches(via_gateway)

    # Every report of an injected fault, posted to the gateway, is in exactly one dispatch; idle-car
    # reports in none. (The dispatches themselves may group reports differently from the simulator's
    # own records: through the gateway the stations' connections carry the gateway's clock.)
    in_dispatch = Counter(r for _, reports in got.values() for r in reports)
    assert [f for f in reports_during(sim) if in_dispatch[f] != 1] == [], (seed, got, expected)
    idle = {f.truth.feedback_id for f in sim.feedback if f.truth.category == "blocked-by-idle-car"}
    assert not idle & set(in_dispatch)
    assert len(got) >= 1 and {k for k, (done, _) in got.items() if done} <= set(got)
