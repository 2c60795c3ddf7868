"""Every pitfall the simulator can inject, at rate 1: the engine bills the true energy of every
session (matched by transaction id: plug-in times legitimately differ under offline queues and
skewed clocks)."""

from __future__ import annotations

from dataclasses import fields

import pytest

from producers.simulator import FleetConfig, simulate
from producers.simulator.pitfalls import Pitfalls
from tests.unit.session_harness import run


@pytest.mark.parametrize("pitfall", [f.name for f in fields(Pitfalls)])
def test_each_simulated_pitfall_is_billed_exactly(pitfall: str) -> None:
    cfg = FleetConfig(
        stations=3,
        connectors_per_station=2,
        sessions_per_connector=3,
        seed=5,
        pitfalls=Pitfalls.only(**{pitfall: 1.0}),
    )
    events, truths = simulate(cfg)
    assert any(pitfall in t.pitfalls for t in truths)  # the pitfall really was injected
    billed = {(b["station_id"], b["transaction_id"]): b for b in run(events).current_bills()}
    assert len(billed) == len(truths)
    for t in truths:
        assert billed[(t.station_id, t.transaction_id)]["energy_wh"] == t.energy_wh, t


def test_all_pitfalls_together_at_moderate_rates() -> None:
    cfg = FleetConfig(
        stations=8,
        connectors_per_station=2,
        sessions_per_connector=4,
        seed=9,
        pitfalls=Pitfalls().scaled(3.0),
    )
    events, truths = simulate(cfg)
    billed = {(b["station_id"], b["transaction_id"]): b for b in run(events).current_bills()}
    wrong = [
        t for t in truths if billed.get((t.station_id, t.transaction_id), {}).get("energy_wh") != t.energy_wh
    ]
    assert len(billed) == len(truths) and not wrong, wrong[:3]
