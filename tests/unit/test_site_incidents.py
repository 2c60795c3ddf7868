"""The site and model stages: station alerts become site outages, fault bursts and model clusters,
once each, with the members folded, in whatever order the stations' alerts reach them."""

from __future__ import annotations

import functools
import random
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.simulator import FleetConfig, IncidentRates
from producers.simulator.simulation import run as simulate_fleet
from schemas.events import MINUTE_MS
from schemas.records import Alert
from streams.faults.incidents import Incidents
from streams.faults.model_clusters import fault_code
from streams.faults.rules import FaultRules
from streams.faults.site_incidents import StationSeen
from streams.policy import Policy
from tests.unit.session_harness import T0, run

RULES = FaultRules()


def _alert(
    kind: str, station: str, at_min: float, *, site: str = "S1", connector: int | None = None, **kw: Any
) -> Alert:
    return Alert(
        alert_id=f"{kind}-{station}-{connector}-{at_min}",
        type=kind,
        status=kw.pop("status", "opened"),
        opened_at=T0 + int(at_min * MINUTE_MS),
        updated_at=T0 + int(kw.pop("updated_min", at_min) * MINUTE_MS),
        version=kw.pop("version", 1),
        station_id=station,
        connector_id=connector,
        site_id=site,
        members=({"station_id": station, "connector_id": connector or 0},),
        **kw,
    )


def _stages(stations: int, site: str = "S1", **models: str) -> Incidents:
    inc = Incidents(lambda _site: RULES)
    for k in range(stations):
        inc.station(StationSeen(f"{site}-{k}", site, "V", models.get(str(k), "M"), "1.0"))
    return inc


def _final(alerts: list[Alert]) -> dict[str, Alert]:
    final: dict[str, Alert] = {}
    for a in alerts:
        assert a.version == final[a.alert_id].version + 1 if a.alert_id in final else a.version == 1
        final[a.alert_id] = a
    return final


def test_most_stations_of_a_site_offline_together_are_one_outage_with_the_members_folded() -> None:
    inc = _stages(4)
    out: list[Alert] = []
    for k in range(4):
        out += inc.alert(_alert("station_offline", f"S1-{k}", k * 0.5, updated_min=5 + k * 0.5))
    final = _final(out)
    outages = [a for a in final.values() if a.type == "site_outage"]
    assert len(outages) == 1 and len(outages[0].members) == 4 and outages[0].opened_at == T0
    members = [a for a in final.values() if a.type == "station_offline"]
    assert len(members) == 4 and all(a.parent_id == outages[0].alert_id for a in members)
    # back: fewer than 80 % down ends the outage; the members' resolutions keep their parent
    for k in range(2):
        out += inc.alert(
            _alert("station_offline", f"S1-{k}", k * 0.5, status="resolved", version=2, updated_min=60)
        )
    final = _final(out)
    assert final[outages[0].alert_id].status == "resolved"
    assert all(final[a.alert_id].parent_id == outages[0].alert_id for a in members)


def test_a_fast_replay_that_brings_each_station_down_and_back_at_once_is_still_one_outage() -> None:
    """At 1000× speed a station's offline alert opens and resolves in one breath: the site stage judges
    who was down together by the spans' event times, not by who is down when the news arrives."""
    inc = _stages(4)
    out: list[Alert] = []
    for k in range(4):
        out += inc.alert(_alert("station_offline", f"S1-{k}", k * 0.5, updated_min=5 + k * 0.5))
        out += inc.alert(
            _alert("station_offline", f"S1-{k}", k * 0.5, status="resolved", version=2, updated_min=120 + k)
        )
    final = _final(out)
    (outage,) = [a for a in final.values() if a.type == "site_outage"]
    assert outage.status == "resolved" and len(outage.members) == 4
    assert outage.resolved_at == T0 + 120 * MINUTE_MS  # the first one back leaves 3 down: below 80 % of 4
    members = [a for a in final.values() if a.type == "station_offline"]
    assert all(a.parent_id == outage.alert_id and a.status == "resolved" for a in members)
    assert (
        inc.alert(_alert("station_offline", "S1-0", 0.0, status="resolved", version=2, updated_min=120)) == []
    )


def test_two_of_ten_stations_offline_is_no_outage() -> None:
    inc = _stages(10)
    out = inc.alert(_alert("station_offline", "S1-0", 0)) + inc.alert(_alert("station_offline", "S1-1", 1))
    assert {a.type for a in out} == {"station_offline"} and all(a.parent_id is None for a in out)


def test_stations_down_hours_apart_are_no_outage() -> None:
    inc = _stages(2)
    out = inc.alert(_alert("station_offline", "S1-0", 0)) + inc.alert(_alert("station_offline", "S1-1", 90))
    assert "site_outage" not in {a.type for a in out}


def test_three_connectors_on_two_stations_faulted_together_are_one_burst() -> None:
    inc = _stages(3)
    out: list[Alert] = []
    for station, connector, at in (("S1-0", 1, 0), ("S1-0", 2, 4), ("S1-1", 1, 20)):
        out += inc.alert(
            _alert(
                "connector_fault", station, at, connector=connector, details={"error_code": "UnderVoltage"}
            )
        )
    final = _final(out)
    bursts = [a for a in final.values() if a.type == "site_fault_burst"]
    assert len(bursts) == 1 and len(bursts[0].members) == 3
    assert all(a.parent_id == bursts[0].alert_id for a in final.values() if a.type == "connector_fault")
    # a fourth joins; all healthy again resolves it
    out += inc.alert(_alert("connector_fault", "S1-2", 25, connector=1))
    assert _final(out)[bursts[0].alert_id].members[-1] == {"station_id": "S1-2", "connector_id": 1}
    for station, connector, at in (("S1-0", 1, 0), ("S1-0", 2, 4), ("S1-1", 1, 20), ("S1-2", 1, 25)):
        out += inc.alert(
            _alert(
                "connector_fault",
                station,
                at,
                connector=connector,
                status="resolved",
                version=2,
                updated_min=90,
            )
        )
    assert _final(out)[bursts[0].alert_id].status == "resolved"


def test_a_fault_that_arrives_after_its_burst_was_resolved_opens_it_again_and_ends_it_later() -> None:
    """Station S1-2's partition ran behind: its fault, which began with the others', reaches the stage
    after they were all healthy again. It joins that burst (one incident, not a second or none)."""
    inc = _stages(3)
    out: list[Alert] = []
    for station, connector, at in (("S1-0", 1, 0), ("S1-0", 2, 4), ("S1-1", 1, 20)):
        out += inc.alert(_alert("connector_fault", station, at, connector=connector))
        out += inc.alert(
            _alert(
                "connector_fault",
                station,
                at,
                connector=connector,
                status="resolved",
                version=2,
                updated_min=at + 30,
                resolved_at=T0 + (at + 30) * MINUTE_MS,
            )
        )
    (burst_id,) = [a.alert_id for a in out if a.type == "site_fault_burst" and a.version == 1]
    assert _final(out)[burst_id].status == "resolved"
    out += inc.alert(_alert("connector_fault", "S1-2", -5, connector=1, updated_min=-5))
    again = _final(out)[burst_id]
    assert again.status == "updated" and again.resolved_at is None and len(again.members) == 4
    assert again.opened_at == T0 - 5 * MINUTE_MS  # the burst began with its earliest fault
    out += inc.alert(
        _alert(
            "connector_fault",
            "S1-2",
            -5,
            connector=1,
            status="resolved",
            version=2,
            updated_min=120,
            resolved_at=T0 + 120 * MINUTE_MS,
        )
    )
    final = _final(out)
    assert [a.alert_id for a in final.values() if a.type == "site_fault_burst"] == [burst_id]
    assert final[burst_id].status == "resolved" and final[burst_id].resolved_at == T0 + 120 * MINUTE_MS
    assert final["connector_fault-S1-2-1--5"].parent_id == burst_id


def test_two_connectors_faulted_are_no_burst() -> None:
    inc = _stages(3)
    out = inc.alert(_alert("connector_fault", "S1-0", 0, connector=1)) + inc.alert(
        _alert("connector_fault", "S1-1", 5, connector=1)
    )
    assert "site_fault_burst" not in {a.type for a in out}


def test_one_error_of_one_model_at_two_sites_is_a_cluster_naming_the_chargex_code() -> None:
    inc = Incidents(lambda _site: RULES)
    for k, site in enumerate(("A", "A", "B")):
        inc.station(StationSeen(f"ST-{k}", site, "Acme", "Fast 50", "2.1"))
    details = {"error_code": "OtherError", "vendor_error_code": "CX004"}
    out: list[Alert] = []
    for k, site in enumerate(("A", "A", "B")):
        out += inc.alert(
            _alert("connector_fault", f"ST-{k}", 60 * k, site=site, connector=1, details=details)
        )
    clusters = [a for a in _final(out).values() if a.type == "model_firmware_cluster"]
    assert len(clusters) == 1
    c = clusters[0]
    assert c.details["code"] == "OtherError:CX004" and c.details["chargex_code"] == "CX004"
    assert c.details["sites"] == ["A", "B"] and len(c.members) == 3 and "manufacturer" in c.summary


def test_a_resolved_cluster_is_not_raised_again_by_its_own_faults() -> None:
    inc = Incidents(lambda _site: RULES)
    for k, site in enumerate(("A", "B", "B", "A")):
        inc.station(StationSeen(f"ST-{k}", site, "Acme", "Fast 50", "2.1"))
    details = {"error_code": "GroundFailure"}
    out: list[Alert] = []
    for k, site in enumerate(("A", "B", "B")):
        out += inc.alert(
            _alert("connector_fault", f"ST-{k}", 10 * k, site=site, connector=1, details=details)
        )
    for k, site in enumerate(("A", "B", "B")):
        resolved = _alert(
            "connector_fault",
            f"ST-{k}",
            10 * k,
            site=site,
            connector=1,
            status="resolved",
            version=2,
            updated_min=40,
        )
        out += inc.alert(replace(resolved, details=details))
    out += inc.alert(_alert("connector_fault", "ST-3", 50, site="A", connector=1, details=details))
    clusters = {a.alert_id: a for a in out if a.type == "model_firmware_cluster"}
    assert len(clusters) == 1 and next(iter(clusters.values())).status == "resolved"


def test_the_same_error_at_one_site_only_is_no_cluster() -> None:
    inc = Incidents(lambda _site: RULES)
    for k in range(3):
        inc.station(StationSeen(f"ST-{k}", "A", "Acme", "Fast 50", "2.1"))
    out: list[Alert] = []
    for k in range(3):
        out += inc.alert(
            _alert(
                "connector_fault",
                f"ST-{k}",
                60 * k,
                site="A",
                connector=1,
                details={"error_code": "GroundFailure"},
            )
        )
    assert "model_firmware_cluster" not in {a.type for a in out}


def test_fault_codes_compare_across_protocol_versions() -> None:
    assert fault_code({"error_code": "NoError"}) is None
    assert fault_code({"error_code": "GroundFailure"}) == "GroundFailure"
    assert (
        fault_code({"component": "Connector", "variable": "Problem", "tech_code": "CX001"})
        == "Connector/Problem/CX001"
    )


def test_a_relayed_alert_seen_again_changes_nothing() -> None:
    inc = _stages(2)
    first = inc.alert(_alert("connector_fault", "S1-0", 0, connector=1))
    assert len(first) == 1 and first[0].version == 1
    assert inc.alert(_alert("connector_fault", "S1-0", 0, connector=1)) == []


@functools.cache
def _station_alerts(seed: int) -> tuple[list[StationSeen], list[Alert]]:
    """What the station engine emits for a fleet with site incidents (through stages that only relay)."""
    sim = simulate_fleet(
        FleetConfig(
            stations=8,
            connectors_per_station=2,
            sessions_per_connector=None,
            hours=36,
            meter_interval_s=1800,
            heartbeat_interval_s=1800,
            seed=seed,
            incidents=IncidentRates.only(site_outage=0.5, site_burst=0.5, connector_fault=0.2),
        )
    )
    seen = [
        StationSeen(s.station_id, s.site.site_id, s.model.vendor, s.model.name, s.firmware_version)
        for s in sim.stations
    ]
    raw = [Alert.from_dict(a) for a in run(sim.events, Policy(fault_rules=_relay_only())).alerts]
    return seen, [a for a in raw if a.type != "idle"]


def _relay_only() -> FaultRules:
    """Site thresholds no site reaches: the harness's stages then only relay (versions unchanged)."""
    return FaultRules(site_outage_stations=10**6, burst_connectors=10**6, cluster_stations=10**6)


@settings(max_examples=25, deadline=None)
@given(seed=st.sampled_from([1, 4, 7, 10]), order=st.integers(0, 10_000))
def test_the_stations_alerts_in_another_interleaving_give_the_same_incidents(seed: int, order: int) -> None:
    seen, alerts = _station_alerts(seed)
    by_station: dict[str, list[Alert]] = {}
    for a in alerts:
        by_station.setdefault(a.station_id or "", []).append(a)

    def incidents(sequence: list[Alert]) -> list[tuple[str, str, tuple[str, ...]]]:
        """The site incidents: each with its type, final state and members. Not their ids: an incident's
        start (in its id) is the earliest member known when it opened, and which that is depends on
        the order by seconds (the site stage's log fixes it for replays and restarts)."""
        inc = Incidents(lambda _site: RULES)
        for s in seen:
            inc.station(s)
        final = _final([out for a in sequence for out in inc.alert(a)])
        kinds = ("site_outage", "site_fault_burst", "model_firmware_cluster")
        return sorted(
            (a.type, a.status, tuple(sorted(f"{m['station_id']}/{m['connector_id']}" for m in a.members)))
            for a in final.values()
            if a.type in kinds
        )

    expected = incidents(alerts)
    assert expected, "the fleet has site incidents"
    # Another interleaving of the stations, as partitions processed side by side give it: each station's
    # alerts in their order, stations ahead of or behind each other by up to the allowed lateness (the
    # reorder buffer holds each station's events that long), some re-sent.
    rnd = random.Random(order)
    keyed: list[tuple[int, float, Alert]] = []
    last: dict[str, int] = {}
    for a in alerts:
        sid = a.station_id or ""
        key = max(last.get(sid, 0), a.updated_at + rnd.randrange(Policy().allowed_lateness_ms))
        last[sid] = key
        keyed.append((key, rnd.random(), a))
        if rnd.random() < 0.1:
            keyed.append((key + rnd.randrange(MINUTE_MS), rnd.random(), a))
    mixed = [a for _, _, a in sorted(keyed, key=lambda k: (k[0], k[1]))]
    assert incidents(mixed) == expected


SKEW_MS = 6 * 60 * MINUTE_MS  # a worker catching up: one partition hours of event time ahead of another


@settings(max_examples=40, deadline=None)
@given(seed=st.sampled_from([1, 4, 7, 10]), order=st.integers(0, 10_000))
def test_fault_bursts_are_the_same_whatever_the_skew_between_stations(seed: int, order: int) -> None:
    """A fast replay or a worker catching up after an outage: partitions processed side by side run hours
    apart in event time, so one station's alerts reach the site stage long after another's later ones.
    Each station's alerts stay in their order; the bursts (members, final state, when they began and
    ended) are those of the alerts in time order."""
    seen, alerts = _station_alerts(seed)

    def bursts(sequence: list[Alert]) -> list[tuple[str, int, int | None, tuple[str, ...]]]:
        inc = Incidents(lambda _site: RULES)
        for s in seen:
            inc.station(s)
        final = _final([out for a in sequence for out in inc.alert(a)])
        return sorted(
            (
                a.status,
                a.opened_at,
                a.resolved_at,
                tuple(sorted(f"{m['station_id']}/{m['connector_id']}" for m in a.members)),
            )
            for a in final.values()
            if a.type == "site_fault_burst"
        )

    expected = bursts(alerts)
    assert expected, "the fleet has fault bursts"
    rnd = random.Random(order)
    ahead = {a.station_id: rnd.randrange(SKEW_MS) for a in alerts}  # each station's head start
    mixed = sorted(alerts, key=lambda a: (a.updated_at - ahead[a.station_id], a.station_id))
    assert bursts(mixed) == expected
