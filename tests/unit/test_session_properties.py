"""Properties of the engine over simulated fleets: duplicates and reorderings within the allowed
lateness never change what is billed, energy is never negative, and the same input gives the
same records."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.simulator import FleetConfig, simulate
from schemas.events import ChargerEvent
from streams.policy import Policy
from tests.unit.session_harness import run

POLICY = Policy()


def _perturb(
    events: list[ChargerEvent], seed: int, dup_rate: float, late_dup_rate: float
) -> list[ChargerEvent]:
    """Delay each event by less than the allowed lateness, and re-send some: soon (the same batch)
    or hours later (a reconnecting station replaying its queue)."""
    rng = random.Random(seed)
    lateness = POLICY.allowed_lateness_ms
    keyed: list[tuple[int, int, ChargerEvent]] = []
    for i, ev in enumerate(events):
        keyed.append((ev.station_time + rng.randrange(lateness), i, ev))
        if rng.random() < dup_rate:
            keyed.append((ev.station_time + rng.randrange(lateness), i, ev))
        if rng.random() < late_dup_rate:
            keyed.append((ev.station_time + rng.randrange(3_600_000, 6 * 3_600_000), i, ev))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [ev for _, _, ev in keyed]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fleet_seed=st.integers(0, 10_000),
    order_seed=st.integers(0, 10_000),
    dup_rate=st.sampled_from([0.0, 0.05, 0.3]),
    late_dup_rate=st.sampled_from([0.0, 0.02, 0.1]),
)
def test_billed_energy_is_true_energy_under_duplicates_and_reordering(
    fleet_seed: int, order_seed: int, dup_rate: float, late_dup_rate: float
) -> None:
    events, truths = simulate(
        FleetConfig(stations=2, connectors_per_station=2, sessions_per_connector=2, seed=fleet_seed)
    )
    result = run(_perturb(events, order_seed, dup_rate, late_dup_rate), POLICY)
    bills = {(b["station_id"], b["connector_id"], b["plugged_in_at"]): b for b in result.current_bills()}
    assert len(bills) == len(truths)
    for t in truths:
        bill = bills[(t.station_id, t.connector_id, t.plugged_in_at)]
        assert bill["energy_wh"] == t.energy_wh >= 0
    assert all(r["energy_wh"] >= 0 for r in result.sessions if r["record_type"] != "credit")
    assert not [r for r in result.sessions if r["record_type"] == "credit"]  # nothing to correct


@settings(max_examples=10, deadline=None)
@given(fleet_seed=st.integers(0, 10_000), order_seed=st.integers(0, 10_000))
def test_replaying_the_same_input_gives_the_same_records(fleet_seed: int, order_seed: int) -> None:
    events, _ = simulate(
        FleetConfig(stations=2, connectors_per_station=2, sessions_per_connector=2, seed=fleet_seed)
    )
    perturbed = _perturb(events, order_seed, 0.1, 0.05)
    first, second = run(perturbed, POLICY), run(perturbed, POLICY)
    assert first.sessions == second.sessions and first.alerts == second.alerts
    # and the same bills as the undisturbed input: re-sends may add flags, never change money or time
    fields = (
        "session_id",
        "energy_wh",
        "plugged_in_at",
        "charging_ended_at",
        "unplugged_at",
        "idle_minutes",
        "cost_total",
    )
    in_order = {tuple(b[f] for f in fields) for b in run(events, POLICY).current_bills()}
    assert {tuple(b[f] for f in fields) for b in first.current_bills()} == in_order
