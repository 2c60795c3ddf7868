"""Fault rules on a long clean fleet: false alerts per 10,000 station-days, and the events/s of the fault
path next to the whole engine (sessions + faults) in the same run.

    .venv/bin/python -m bench.fault_bench [--stations 200 --days 30] [--out bench/results/faults.json]

No incident is injected, so every fault alert is a false one. The worker's shell is emulated in
process: events in delivery order, three partitions, and the fault clock (a worker-clock marker for a
station once its partition's time passes its next fault timer), as `streams/agents/clock.py` does.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from producers.simulator import FleetConfig, IncidentRates
from producers.simulator.score import RaisedAlert, score
from producers.simulator.simulation import run as simulate_fleet
from producers.simulator.truth import incident_line
from schemas.events import DAY_MS, ChargerEvent
from schemas.records import Alert
from streams.faults import FaultCtx, StationFaults
from streams.faults import on_event as fault_event
from streams.faults.incidents import Incidents
from streams.policy import Policy
from streams.station import StationState, clock_marker, flush, next_fault_due, process

PARTITIONS = 3


def _partition(station_id: str) -> int:
    return zlib.crc32(station_id.encode()) % PARTITIONS


def whole_engine(
    events: list[ChargerEvent], policy: Policy
) -> tuple[float, dict[str, Alert], dict[str, Alert], int]:
    """Seconds, fault alerts (the first and the last version of each, by id), clock markers written. The
    station alerts go through the site and model stages, as the worker's agents run them."""
    incidents = Incidents(policy.fault_rules_for)
    last: dict[str, Alert] = {}
    states: dict[str, StationState] = {}
    partition_time: dict[int, int] = {}
    due: dict[str, int] = {}
    alerts: dict[str, Alert] = {}
    markers = 0

    def take(sid: str, out: Any) -> None:
        for seen in out.stations:
            incidents.station(seen)
        for a in (relayed for raw in out.alerts for relayed in incidents.alert(raw)):
            if a.type != "idle":
                alerts.setdefault(a.alert_id, a)
                last[a.alert_id] = a
        st = states[sid]
        d = next_fault_due(st, policy)
        if d is None:
            due.pop(sid, None)
        else:
            due[sid] = d

    t0 = time.perf_counter()
    for i, ev in enumerate(events):
        st = states.get(ev.station_id)
        if st is None:
            st = states[ev.station_id] = StationState(ev.station_id)
        take(ev.station_id, process(st, ev, policy))
        p = _partition(ev.station_id)
        partition_time[p] = max(partition_time.get(p, 0), st.watermark)
        if i % 500 == 0:  # the timer's check, every so often
            for sid, d in list(due.items()):
                now = partition_time.get(_partition(sid), 0)
                if d <= now:
                    markers += 1
                    take(sid, process(states[sid], clock_marker(sid, now), policy))
    for sid, st in states.items():
        take(sid, flush(st, policy))
    return time.perf_counter() - t0, alerts, last, markers


def injected(stations: int, days: float, seed: int, policy: Policy) -> dict[str, Any]:
    """Incidents injected by the simulator against the alerts raised: per member of each incident, the
    alert of its type on that station (and connector) opened within the incident, and how long after
    the incident began it was raised (event time)."""
    rates = IncidentRates.only(
        connector_fault=0.2, flapping=0.05, site_outage=0.05, site_burst=0.05, model_cluster=0.1
    )
    cfg = FleetConfig(
        stations=stations,
        connectors_per_station=2,
        sessions_per_connector=None,
        hours=days * 24,
        meter_interval_s=900,
        heartbeat_interval_s=1800,
        seed=seed,
        incidents=rates,
    )
    sim = simulate_fleet(cfg)
    _, alerts, final, _ = whole_engine(sim.events, policy)
    raised = [
        RaisedAlert(
            a.alert_id,
            a.type,
            a.station_id,
            a.connector_id,
            a.opened_at,
            a.updated_at,
            tuple(str(m["station_id"]) for m in final[a.alert_id].members),
        )
        for a in alerts.values()
    ]
    truth = [incident_line(inc) for inc in sim.incidents]
    folded = sum(1 for a in final.values() if a.parent_id)
    return {
        "stations": stations,
        "days": days,
        **score(truth, raised).as_dict(),
        "member_alerts_folded_into_an_incident": folded,
    }


def fault_path(events: list[ChargerEvent], policy: Policy) -> float:
    """The fault rules alone over the same events (in delivery order, no reorder buffer)."""
    trackers: dict[str, StationFaults] = {}
    out: list[Any] = []
    t0 = time.perf_counter()
    for ev in events:
        st = trackers.get(ev.station_id)
        if st is None:
            st = trackers[ev.station_id] = StationFaults()
        fault_event(
            st, ev, (ev.station_time, 0, ev.event_id), FaultCtx(ev.station_id, None, policy.fault_rules, out)
        )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path("bench/results/faults.json"))
    args = parser.parse_args()
    cfg = FleetConfig(
        stations=args.stations,
        connectors_per_station=2,
        sessions_per_connector=None,
        hours=args.days * 24,
        meter_interval_s=900,
        heartbeat_interval_s=1800,
        seed=args.seed,
    )
    t0 = time.perf_counter()
    sim = simulate_fleet(cfg)
    simulate_s = time.perf_counter() - t0
    events, policy = sim.events, Policy()
    engine_s, raised, _, markers = whole_engine(events, policy)
    false_alerts = Counter(a.type for a in raised.values())
    faults_s = fault_path(events, policy)
    span_days = (max(e.station_time for e in events) - min(e.station_time for e in events)) / DAY_MS
    station_days = args.stations * span_days
    total = sum(false_alerts.values())
    result = {
        "python": platform.python_version(),
        "stations": args.stations,
        "days": round(span_days, 2),
        "station_days": round(station_days),
        "events": len(events),
        "sessions": len(sim.sessions),
        "simulate_s": round(simulate_s, 1),
        "false_alerts": dict(sorted(false_alerts.items())),
        "false_alerts_per_10k_station_days": round(total / station_days * 10_000, 3),
        "clock_markers": markers,
        "engine_events_per_s": round(len(events) / engine_s),
        "fault_path_events_per_s": round(len(events) / faults_s),
        "fault_path_share_of_engine_time": round(faults_s / engine_s, 3),
        "injected": injected(50, 10, args.seed, policy),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
