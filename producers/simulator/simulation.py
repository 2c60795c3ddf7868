"""The simulated fleet end to end: network → incidents → sessions → events, feedback, ground truth. Pure.

Deterministic by seed: every random stream is seeded from (seed, purpose, station), so the same
configuration gives identical events and truth, and switching pitfalls on does not move arrivals.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from producers.simulator.demand import PROFILES
from producers.simulator.feedback import FeedbackRates, FeedbackReport, station_feedback
from producers.simulator.incidents import Incident, IncidentRates, blocks_by_connector, plan_incidents
from producers.simulator.network import Site, Station, build_network, is_dc
from producers.simulator.pitfalls import Pitfalls
from producers.simulator.render import RenderConfig, render_station
from producers.simulator.schedule import Horizon, PlannedSession, Visit, schedule_station
from producers.simulator.truth import TrueFeedback, TrueSession
from schemas.events import DAY_MS, HOUR_MS, ChargerEvent

BASE_TIME_MS = 1_793_491_200_000  # 2026-11-01T00:00:00Z


@dataclass(frozen=True)
class FleetConfig:
    stations: int = 4
    connectors_per_station: int = 2
    sessions_per_connector: int | None = 3  # exactly this many per connector; None: whatever `hours` brings
    meter_interval_s: int = 60
    seed: int = 7
    start_ms: int = BASE_TIME_MS
    hours: float | None = None  # arrival horizon; required when sessions_per_connector is None
    sites: int | None = None  # default: one site per 4 stations
    dc_share: float = 0.25
    heartbeat_interval_s: int = 3600
    meter_during_idle: bool = True
    # Part of every station and site id ("SIM-<seed><tag>-0001"): a run that must not meet the
    # stations of an earlier one (whose event time has moved on) gets its own.
    run_tag: str = ""
    # Clean by default: the session engine's exactness tests and the demo rely on it.
    pitfalls: Pitfalls = field(default_factory=Pitfalls.none)
    incidents: IncidentRates = field(default_factory=IncidentRates.none)
    feedback: FeedbackRates = field(default_factory=FeedbackRates.none)

    def __post_init__(self) -> None:
        if self.sessions_per_connector is None and self.hours is None:
            raise ValueError("give sessions_per_connector or hours")
        if self.stations < 1 or self.connectors_per_station < 1 or self.meter_interval_s < 1:
            raise ValueError("stations, connectors and the meter interval must be positive")

    @property
    def site_count(self) -> int:
        return max(1, min(self.stations, self.sites or math.ceil(self.stations / 4)))

    @property
    def horizon_ms(self) -> int:
        """The window incidents fall in: `hours`, else about as long as the sessions take."""
        if self.hours is not None:
            return round(self.hours * HOUR_MS)
        slowest = min(PROFILES[k].per_connector_day for k in ("AC", "DC") if self._has(k))
        return round((self.sessions_per_connector or 1) / slowest * DAY_MS)

    def _has(self, kind: str) -> bool:
        return any(is_dc(i, self.dc_share) == (kind == "DC") for i in range(self.stations))


@dataclass(frozen=True)
class Plan:
    """Everything that happens, before it is turned into events (enough for calibration checks)."""

    sites: list[Site]
    stations: list[Station]
    incidents: list[Incident]
    sessions: dict[str, list[PlannedSession]]  # per station, by connector then plug-in time
    visits: dict[str, list[Visit]]


@dataclass(frozen=True)
class Simulation:
    events: list[ChargerEvent]  # delivery order (gateway receive time); per station the order it sent
    feedback: list[FeedbackReport]  # by receive time
    sessions: list[TrueSession]
    incidents: list[Incident]
    stations: list[Station]

    @property
    def feedback_truth(self) -> list[TrueFeedback]:
        return [f.truth for f in self.feedback]

    def truth(self) -> list[TrueSession | Incident | TrueFeedback]:
        return [*self.sessions, *self.incidents, *self.feedback_truth]


def plan(cfg: FleetConfig) -> Plan:
    sites, stations = build_network(
        cfg.seed, cfg.stations, cfg.site_count, cfg.connectors_per_station, cfg.dc_share, cfg.run_tag
    )
    incidents = plan_incidents(cfg.incidents, sites, stations, cfg.start_ms, cfg.horizon_ms, cfg.seed)
    blocks = blocks_by_connector(incidents, stations)
    horizon = Horizon(
        cfg.start_ms,
        None if cfg.hours is None else cfg.start_ms + round(cfg.hours * HOUR_MS),
        cfg.sessions_per_connector,
    )
    users = max(50, cfg.stations * cfg.connectors_per_station * 10)
    sessions, visits = {}, {}
    for st in stations:
        sessions[st.station_id], visits[st.station_id] = schedule_station(
            st, horizon, cfg.pitfalls, blocks, cfg.seed, users
        )
    return Plan(sites, stations, incidents, sessions, visits)


def run(cfg: FleetConfig) -> Simulation:
    p = plan(cfg)
    blocks = blocks_by_connector(p.incidents, p.stations)
    rc = RenderConfig(
        cfg.seed,
        cfg.start_ms,
        cfg.meter_interval_s * 1000,
        cfg.heartbeat_interval_s * 1000,
        cfg.meter_during_idle,
        end_ms=max(
            [s.unplugged_at for sessions in p.sessions.values() for s in sessions]
            + [i.end for i in p.incidents]
            + [cfg.start_ms]
        ),
    )
    per_station, truths, feedback = [], [], []
    for st in p.stations:
        mine = [i for i in p.incidents if any(m.station_id == st.station_id for m in i.members)]
        station_blocks = [b for c in st.connector_ids for b in blocks.get((st.station_id, c), [])]
        events, true_sessions = render_station(st, p.sessions[st.station_id], mine, station_blocks, rc)
        per_station.append(events)
        truths += true_sessions
        if cfg.feedback:
            feedback += station_feedback(
                st.station_id,
                st.max_power_kw,
                st.kind == "DC",
                p.sessions[st.station_id],
                p.visits[st.station_id],
                cfg.feedback,
                cfg.seed,
            )
    events = list(heapq.merge(*per_station, key=lambda e: e.received_at))
    truths.sort(key=lambda t: (t.plugged_in_at, t.station_id, t.connector_id))
    feedback.sort(key=lambda f: (f.received_at, f.truth.feedback_id))
    return Simulation(events, feedback, truths, p.incidents, p.stations)


def simulate(cfg: FleetConfig) -> tuple[list[ChargerEvent], list[TrueSession]]:
    """Events in delivery order and the true sessions (the fleet API the session tests use)."""
    sim = run(cfg)
    return sim.events, sim.sessions
