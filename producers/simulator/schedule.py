"""Who comes when, and which connector they get: the sessions of one station, on the true clock. Pure.

Arrivals are a non-homogeneous Poisson process per station (rate per connector-day × connectors,
shaped by the local hour; drawn by thinning). A driver takes a free connector that no incident
blocks for the whole visit; one who finds none leaves, and is remembered (with what blocked them)
so driver feedback can follow from it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from producers.simulator import calibration as cal
from producers.simulator.charging import ChargeCurve
from producers.simulator.demand import PROFILES, Demand, draw
from producers.simulator.incidents import Block
from producers.simulator.network import Station, zone
from producers.simulator.pitfalls import Pitfalls
from schemas.events import DAY_MS, MINUTE_MS

TURNOVER_MS = MINUTE_MS  # the next car plugs in at least this long after the previous one left
IDLE_REPORT_AFTER_MS = 15 * MINUTE_MS  # a car idle this long is "blocking" a driver who finds no connector


@dataclass
class PlannedSession:
    station: Station
    connector_id: int
    index: int  # per station, in plug-in order
    user: int
    plugged_in_at: int
    started_at: int
    charging_ended_at: int  # = started_at for a zero-energy session
    stop_at: int  # StopTransaction time (car unplugged or stopped at the station)
    unplugged_at: int
    curve: ChargeCurve | None  # None: nothing delivered
    demand: Demand
    pitfalls: tuple[str, ...]
    stop_reason: str

    @property
    def energy_wh(self) -> int:
        return self.curve.energy_wh if self.curve else 0

    @property
    def transaction_id(self) -> str:
        return f"{self.station.station_id}-{self.connector_id}-{self.index}"


@dataclass(frozen=True)
class Visit:
    """A driver arriving at a station: served on a connector, or not."""

    at: int
    user: int
    demand: Demand
    connector_id: int | None
    blocked_by: tuple[Block, ...]  # incidents active on the station at arrival
    idle_blocker: PlannedSession | None  # the idle car that took the last connector


@dataclass(frozen=True)
class Horizon:
    start_ms: int
    end_ms: int | None  # None: until every connector has `sessions_per_connector`
    sessions_per_connector: int | None


def _hour_weight(at: int, station: Station, by_hour: tuple[int, ...]) -> int:
    return by_hour[datetime.fromtimestamp(at / 1000, zone(station.site.time_zone)).hour]


def _timing(
    start: int, demand: Demand, station: Station, pitfalls: tuple[str, ...], rng: random.Random
) -> tuple[int, int, int, int, ChargeCurve | None]:
    """(start, charging ended, stop, unplug) of a session plugged in at `start`, and its curve."""
    if "zero_energy" in pitfalls:
        started = start + rng.randint(10, 60) * 1000
        stop = started + rng.randint(1, 5) * MINUTE_MS
        return started, started, stop, stop + rng.randint(5, 30) * 1000, None
    curve = ChargeCurve.build(
        dc=station.kind == "DC",
        vehicle_peak_kw=demand.vehicle_peak_kw,
        station_kw=station.max_power_kw,
        capacity_wh=demand.capacity_wh,
        soc_start=demand.soc_start,
        energy_wh=demand.energy_wh,
    )
    if "short_session" in pitfalls:  # the driver gives up within a minute: under 2 min plugged in
        started = start + rng.randint(5, 15) * 1000
        wh = max(1, curve.energy_wh_at(rng.randint(20, 60) * 1000))
        curve = ChargeCurve.build(
            dc=station.kind == "DC",
            vehicle_peak_kw=demand.vehicle_peak_kw,
            station_kw=station.max_power_kw,
            capacity_wh=demand.capacity_wh,
            soc_start=demand.soc_start,
            energy_wh=wh,
        )
        ended = started + curve.duration_ms
        stop = ended + rng.randint(0, 15) * 1000
        return started, ended, stop, stop + rng.randint(5, 20) * 1000, curve
    started = start + rng.randint(10, 90) * 1000
    ended = started + curve.duration_ms
    unplug_delay = rng.randint(5, 60) * 1000
    stop = max(ended + demand.idle_ms, start + cal.MIN_PLUG_IN_MS - unplug_delay)
    return started, ended, stop, stop + unplug_delay, curve


def _fits(blocks: list[Block], plug: int, earliest_unplug: int, unplug: int) -> int | None:
    """The latest unplug time the connector's incidents allow (≥ earliest_unplug), or None."""
    for b in blocks:
        if b.end + TURNOVER_MS <= plug or b.start >= unplug + TURNOVER_MS:
            continue
        unplug = min(unplug, b.start - TURNOVER_MS)  # the driver leaves before the fault shows
        if unplug < earliest_unplug:
            return None
    return unplug


def schedule_station(
    station: Station,
    horizon: Horizon,
    pitfalls: Pitfalls,
    blocks: dict[tuple[str, int], list[Block]],
    seed: int,
    users: int,
) -> tuple[list[PlannedSession], list[Visit]]:
    rng = random.Random(f"arrivals|{seed}|{station.station_id}")
    # a stream of its own, so switching pitfalls on does not move arrivals
    pit_rng = random.Random(f"pitfalls|{seed}|{station.station_id}")
    profile = PROFILES[station.kind]
    rate_per_ms = profile.per_connector_day * station.connectors / DAY_MS * profile.peak_factor
    peak_weight = max(profile.by_hour)
    free_at = {c: horizon.start_ms for c in station.connector_ids}
    current: dict[int, PlannedSession] = {}
    counts = dict.fromkeys(station.connector_ids, 0)
    limit = horizon.sessions_per_connector
    sessions: list[PlannedSession] = []
    visits: list[Visit] = []
    t = horizon.start_ms
    for _ in range(10_000_000):
        t += max(1, round(rng.expovariate(rate_per_ms)))
        if horizon.end_ms is not None and t >= horizon.end_ms:
            break
        if limit is not None and all(n >= limit for n in counts.values()):
            break
        if rng.random() * peak_weight >= _hour_weight(t, station, profile.by_hour):
            continue
        demand = draw(station.kind, rng)
        chosen_pitfalls = pitfalls.draw(pit_rng)
        started, ended, stop, unplug, curve = _timing(t, demand, station, chosen_pitfalls, rng)
        user = rng.randrange(users)
        active = tuple(
            b
            for c in station.connector_ids
            for b in blocks.get((station.station_id, c), ())
            if b.start <= t < b.end
        )
        options = []
        for c in station.connector_ids:
            if free_at[c] > t or (limit is not None and counts[c] >= limit):
                continue
            brief = "zero_energy" in chosen_pitfalls or "short_session" in chosen_pitfalls
            earliest = unplug if brief else max(ended + TURNOVER_MS, t + cal.MIN_PLUG_IN_MS)
            latest = _fits(blocks.get((station.station_id, c), []), t, earliest, unplug)
            if latest is not None:
                options.append((c, latest))
        if not options:
            idle = [
                s
                for c, s in current.items()
                if free_at[c] > t and s.charging_ended_at + IDLE_REPORT_AFTER_MS <= t < s.unplugged_at
            ]
            visits.append(Visit(t, user, demand, None, active, idle[0] if idle else None))
            continue
        c, latest = rng.choice(options)
        if latest < unplug:  # leave before an incident: shorten the idle tail
            stop, unplug = latest - (unplug - stop), latest
        session = PlannedSession(
            station=station,
            connector_id=c,
            index=len(sessions),
            user=user,
            plugged_in_at=t,
            started_at=started,
            charging_ended_at=ended,
            stop_at=stop,
            unplugged_at=unplug,
            curve=curve,
            demand=demand,
            pitfalls=chosen_pitfalls,
            stop_reason=_stop_reason(station, rng),
        )
        sessions.append(session)
        visits.append(Visit(t, user, demand, c, active, None))
        current[c] = session
        counts[c] += 1
        free_at[c] = unplug + TURNOVER_MS
    sessions.sort(key=lambda s: (s.connector_id, s.plugged_in_at))
    return sessions, visits


def _stop_reason(station: Station, rng: random.Random) -> str:
    local = 0.5 if station.kind == "DC" else 0.2  # at a fast charger drivers end it at the screen
    return "Local" if rng.random() < local else "EVDisconnected"
