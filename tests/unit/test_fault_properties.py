"""Fault alerts under what the network does to events: duplicated, reordered within the allowed
lateness (same-instant events in any order), and replayed, the input gives the same alert ids with
the same final states."""

from __future__ import annotations

import itertools
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import ChargerEvent, ConnectionChange, FaultNotice, Heartbeat, Payload, StatusChange
from streams.policy import Policy
from tests.unit.session_harness import Station, run

POLICY = Policy()
STATUSES = ("Available", "Preparing", "Charging", "Finishing", "Faulted", "Faulted", "Unavailable")
CODES = (None, "GroundFailure", "ConnectorLockFailure", "EVCommunicationError")


def _payload(kind: int, rnd: random.Random) -> Payload:
    if kind == 0:
        return Heartbeat()
    if kind == 1:
        return ConnectionChange(rnd.random() < 0.5)
    if kind == 2:
        cleared = rnd.random() < 0.5
        return FaultNotice(
            "Connector", "Problem", actual_value="false" if cleared else "true", cleared=cleared
        )
    status = rnd.choice(STATUSES)
    return StatusChange(status, rnd.choice(CODES) if status == "Faulted" else None)


@st.composite
def histories(draw: st.DrawFn) -> list[ChargerEvent]:
    seed = draw(st.integers(0, 10_000))
    rnd = random.Random(seed)
    s = Station("PROP")
    minute = 0.0
    events = []
    for _ in range(draw(st.integers(1, 150))):  # more than the station's 64 recent ids
        minute += rnd.choice([0, 0, 1, 3, 7, 20, 45])  # several events often share an instant
        kind = rnd.choice([0, 1, 2, 3, 3, 3, 3])
        connector = 0 if kind in (0, 1) else rnd.choice([0, 1, 1, 2])
        events.append(s.ev(minute, _payload(kind, rnd), connector))
    return events


def _final(events: list[ChargerEvent]) -> dict[str, tuple[str, str]]:
    final: dict[str, tuple[str, str]] = {}
    for alert in run(events, POLICY).alerts:
        final[alert["alert_id"]] = (alert["type"], alert["status"])
    return final


def _perturb(events: list[ChargerEvent], seed: int, dup_rate: float) -> list[ChargerEvent]:
    """Each event delayed by less than the allowed lateness (so any arrival order among events that
    close in time), some sent twice."""
    rnd = random.Random(seed)
    lateness = POLICY.allowed_lateness_ms
    keyed: list[tuple[int, float, ChargerEvent]] = []
    for ev in events:
        keyed.append((ev.station_time + rnd.randrange(lateness), rnd.random(), ev))
        if rnd.random() < dup_rate:
            keyed.append((ev.station_time + rnd.randrange(lateness), rnd.random(), ev))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [ev for _, _, ev in keyed]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=histories(), order_seed=st.integers(0, 10_000), dup_rate=st.sampled_from([0.0, 0.1, 0.5]))
def test_duplicates_reordering_and_replay_change_no_alert(
    events: list[ChargerEvent], order_seed: int, dup_rate: float
) -> None:
    expected = _final(events)
    assert _final(_perturb(events, order_seed, dup_rate)) == expected
    assert _final(events + events) == expected  # the whole input replayed after itself


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=histories(), order_seed=st.integers(0, 10_000))
def test_a_station_is_in_one_outage_at_a_time(events: list[ChargerEvent], order_seed: int) -> None:
    """However it is noticed (a lost connection, silence), one stretch offline is one alert: the
    station_offline alerts of a station never overlap in time."""
    last: dict[str, dict[str, Any]] = {}
    for alert in run(_perturb(events, order_seed, 0.1), POLICY).alerts:
        if alert["type"] == "station_offline":
            last[alert["alert_id"]] = alert
    spans = sorted((a["opened_at"], a["resolved_at"] or 2**62) for a in last.values())
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, spans


def test_the_generator_makes_every_kind_of_fault_alert() -> None:
    kinds: dict[str, Any] = {}
    for seed in range(40):
        rnd = random.Random(seed)
        s = Station("GEN")
        evs = [s.ev(k * 3, _payload(rnd.choice([1, 2, 3, 3]), rnd), rnd.choice([0, 1, 2])) for k in range(80)]
        for kind, _ in _final(evs).values():
            kinds[kind] = True
    assert {"connector_fault", "station_fault", "flapping", "station_offline"} <= set(kinds)
