"""Port outages for uptime: the spans a port could not charge, from statuses and offline alerts, as the
engine releases them (and as the simulator's injected faults say they were)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from producers.simulator import FleetConfig, IncidentRates
from producers.simulator.simulation import run as simulate_fleet
from schemas.events import ConnectionChange, StatusChange
from schemas.records import Alert, PortOutage
from streams.maintenance.state import PortStatus
from streams.uptime import PortUptime, track
from tests.unit.session_harness import MIN, T0, Station, run


def at(minute: float) -> int:
    return T0 + round(minute * MIN)


def status(connector: int, minute: float, value: str) -> PortStatus:
    return PortStatus("ST", connector, value, at(minute))


def offline(minute: float, until: float | None = None) -> list[Alert]:
    a = Alert("off-1", "station_offline", "opened", at(minute), at(minute + 5), version=1, station_id="ST")
    if until is None:
        return [a]
    return [a, replace(a, status="resolved", updated_at=at(until), resolved_at=at(until), version=2)]


def spans(steps: list[PortStatus | Alert]) -> list[tuple[int, int | None, str, int]]:
    """(connector, minutes start, minutes end or None, cause) of the final state of each outage."""
    up, out = PortUptime(), list[PortOutage]()
    for step in steps:
        if isinstance(step, PortStatus):
            track(up, "ST", "SITE", [step], [], out)
        else:
            track(up, "ST", "SITE", [], [step], out)
    final = {o.outage_id: o for o in out}
    versions = [o.version for o in out]
    assert all(v in (1, 2) for v in versions) and len(final) == versions.count(1)
    return sorted(
        (
            o.connector_id,
            (o.started_at - T0) // MIN,
            None if o.ended_at is None else (o.ended_at - T0) // MIN,
            o.cause,
        )
        for o in final.values()
    )  # type: ignore[return-value]


def test_faulted_and_unavailable_are_down_until_a_healthy_status() -> None:
    got = spans(
        [
            status(1, 0, "Available"),
            status(2, 0, "Available"),
            status(1, 10, "Faulted"),
            status(1, 5, "Charging"),  # older than the newest: a late queue changes nothing
            status(1, 40, "Available"),
            status(2, 50, "Unavailable"),
        ]
    )
    assert got == [(1, 10, 40, "Faulted"), (2, 50, None, "Unavailable")]


def test_connector_zero_takes_every_port_down() -> None:
    got = spans(
        [
            status(1, 0, "Available"),
            status(2, 0, "Charging"),
            status(0, 10, "Faulted"),
            status(0, 30, "Available"),
        ]
    )
    assert got == [(1, 10, 30, "station Faulted"), (2, 10, 30, "station Faulted")]


def test_offline_counts_from_the_loss_and_overlaps_count_once() -> None:
    got = spans(
        [
            status(1, 0, "Available"),
            status(2, 0, "Faulted"),
            *offline(20, until=60),
            status(2, 70, "Available"),
        ]
    )
    # connector 2 was already down: one span from its fault to its recovery, not two
    assert got == [(1, 20, 60, "offline"), (2, 0, 70, "Faulted")]


def test_the_engine_sends_each_outage_open_and_closed() -> None:
    st = Station("ST")
    events = [
        st.ev(0, StatusChange("Available"), connector=1),
        st.ev(10, StatusChange("Faulted", "GroundFailure"), connector=1),
        st.ev(10, StatusChange("Faulted", "GroundFailure"), connector=1, event_id="ST-e2"),  # a repeat
        st.ev(45, StatusChange("Available"), connector=1),
        st.ev(60, ConnectionChange(False), connector=0),
        st.ev(90, ConnectionChange(True), connector=0),
        st.ev(95, StatusChange("Available"), connector=1),
    ]
    outages = run(events).outages
    final: dict[str, dict[str, Any]] = {o["outage_id"]: o for o in outages}
    got = sorted(
        ((o["started_at"] - T0) // MIN, o["ended_at"] and (o["ended_at"] - T0) // MIN, o["cause"])
        for o in final.values()
    )
    assert got == [(10, 45, "Faulted"), (60, 90, "offline")]
    assert [o["version"] for o in outages] == [1, 2, 1, 2]


def test_injected_faults_are_outages_of_their_ports() -> None:
    sim = simulate_fleet(
        FleetConfig(
            stations=4,
            connectors_per_station=2,
            sessions_per_connector=None,
            hours=48,
            meter_interval_s=900,
            heartbeat_interval_s=300,
            seed=5,
            incidents=IncidentRates.only(connector_fault=0.8),
        )
    )
    outages = {o["outage_id"]: o for o in run(sim.events, clock_every_ms=60_000).outages}
    faults = [i for i in sim.incidents if i.type == "connector_fault"]
    assert faults
    for inc in faults:
        for m in inc.members:
            covering = [
                o
                for o in outages.values()
                if o["station_id"] == m.station_id
                and o["connector_id"] == m.connector_id
                and o["started_at"] <= inc.start
                and (o["ended_at"] or 1 << 62) >= inc.end
            ]
            assert covering, (inc.incident_id, m)
