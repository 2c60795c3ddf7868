"""The maintenance stage over a simulated fleet with faults and the drivers' reports that follow from
them (ground truth): every report of a fault is in exactly one dispatch, idle-car reports dispatch
nobody, and feedback that outruns the engine by days gives the same dispatches as feedback in step."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from producers.simulator import FeedbackRates, FleetConfig, IncidentRates
from producers.simulator.score import reports_during
from producers.simulator.simulation import Simulation
from producers.simulator.simulation import run as simulate_fleet
from tests.unit.session_harness import run


def _fleet(seed: int) -> Simulation:
    return simulate_fleet(
        FleetConfig(
            stations=6,
            connectors_per_station=2,
            sessions_per_connector=None,
            hours=72,
            meter_interval_s=900,
            heartbeat_interval_s=1800,
            seed=seed,
            incidents=IncidentRates.only(connector_fault=0.6, flapping=0.2, site_outage=0.2),
            feedback=FeedbackRates(incident_report=0.8, idle_report=0.8),
        )
    )


def _final(alerts: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    newest: dict[str, dict[str, Any]] = {}
    for a in alerts:
        if a["type"] == kind and (
            a["alert_id"] not in newest or a["version"] > newest[a["alert_id"]]["version"]
        ):
            newest[a["alert_id"]] = a
    return newest


@pytest.mark.parametrize("seed", [7, 12])
def test_every_fault_report_is_in_one_dispatch_whatever_arrives_first(seed: int) -> None:
    sim = _fleet(seed)
    reports = [f.record for f in sim.feedback]
    in_step = run(sim.events, clock_every_ms=60_000, feedback=reports).alerts
    ahead = run(sim.events, clock_every_ms=60_000, feedback=reports, feedback_first=True).alerts
    dispatches = _final(in_step, "maintenance_dispatch")

    def shape(d: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
        return {k: (a["status"], a["opened_at"], a["resolved_at"]) for k, a in d.items()}

    assert shape(_final(ahead, "maintenance_dispatch")) == shape(dispatches)
    in_dispatch = Counter(r["feedback_id"] for a in dispatches.values() for r in a["details"]["reports"])
    during = reports_during(sim)
    assert during, "the drivers reported the fleet's faults"
    assert [f for f in during if in_dispatch[f] != 1] == []
    idle_reports = {f.truth.feedback_id for f in sim.feedback if f.truth.category == "blocked-by-idle-car"}
    assert not idle_reports & set(in_dispatch)
    # every dispatch says where, why and what drivers said; versions rise by one
    for a in dispatches.values():
        assert a["station_id"] and a["details"]["reason"] and a["details"]["reports"]
        versions = sorted(x["version"] for x in in_step if x["alert_id"] == a["alert_id"])
        assert versions == list(range(1, len(versions) + 1))
