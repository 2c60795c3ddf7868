from producers.fleet import FleetConfig, simulate
from schemas.events import TransactionEvent


def test_same_seed_same_events_other_seed_other_events() -> None:
    a, ta = simulate(FleetConfig(seed=11))
    b, tb = simulate(FleetConfig(seed=11))
    c, _ = simulate(FleetConfig(seed=12))
    assert a == b and ta == tb
    assert [e.event_id for e in a] != [e.event_id for e in c]


def test_events_are_in_time_order_with_unique_ids_and_truth_matches_registers() -> None:
    events, truths = simulate(FleetConfig(stations=3, seed=5))
    assert [e.station_time for e in events] == sorted(e.station_time for e in events)
    assert len({e.event_id for e in events}) == len(events)
    starts = {
        p.transaction_id: p.meter_wh
        for e in events
        if isinstance(p := e.payload, TransactionEvent) and p.event_type == "Started"
    }
    stops = {
        p.transaction_id: p.meter_wh
        for e in events
        if isinstance(p := e.payload, TransactionEvent) and p.event_type == "Ended"
    }
    assert sorted(stops[tx] - starts[tx] for tx in starts) == sorted(float(t.energy_wh) for t in truths)
    assert all(
        t.plugged_in_at < t.charging_started_at < t.charging_ended_at <= t.unplugged_at for t in truths
    )
