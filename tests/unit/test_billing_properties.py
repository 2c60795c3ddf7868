"""Billing is a function of what the charger said, not of how or when it reached us.

Generated OCPP 1.6 and 2.0.1 sessions (tests.unit.ocpp_traffic: decimal Wh, kWh, any rounding, the
end of charging and the last rise at one instant, repeated transactionData, an end reading before
or after the stop) are billed their true energy, idle time and unplug time:
- whatever the order of the events that share a timestamp;
- when the whole session arrives after the station's watermark has passed it (a boot stamped on
  arrival, then the offline queue) — the same bill as in order;
- when the stop is lost: billed once the session is evidently over, corrected if the stop comes.
"""

from __future__ import annotations

import os
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import HOUR_MS, ChargerEvent, Heartbeat, StatusChange, TransactionEvent
from schemas.events import MeterValues as MeterValuesEvent
from tests.unit.ocpp_traffic import MIN, Plan, boot, plans, render, same_instant_groups, truth
from tests.unit.session_harness import Run, run
from tests.unit.test_sessions import _policy

POLICY = _policy()  # an energy and a parking price: idle minutes are money
BILL = (
    "session_id",
    "energy_wh",
    "plugged_in_at",
    "charging_started_at",
    "charging_ended_at",
    "unplugged_at",
    "idle_minutes",
    "cost_total",
    "cost_total_incl_vat",
    "site_id",
)
# CHARGESTREAM_PROPERTY_EXAMPLES=2000 for a long soak; CI runs 60 of each.
EXAMPLES = settings(
    max_examples=int(os.environ.get("CHARGESTREAM_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _shuffle_instants(events: list[ChargerEvent], rnd: random.Random) -> list[ChargerEvent]:
    return [ev for group in same_instant_groups(events) for ev in rnd.sample(group, len(group))]


def _with_boot(plan: Plan, events: list[ChargerEvent], at: int) -> list[ChargerEvent]:
    return [boot(events[0].station_id, at), *events]


def _bill(result: Run) -> dict[str, object]:
    return {k: result.bill[k] for k in BILL}


def _assert_true(bill: dict[str, object], plan: Plan) -> None:
    t = truth(plan)
    assert bill["energy_wh"] == t.energy_wh
    assert (bill["plugged_in_at"], bill["charging_ended_at"], bill["unplugged_at"]) == (
        t.plugged_in_at,
        t.charging_ended_at,
        t.unplugged_at,
    )
    assert bill["idle_minutes"] == t.idle_minutes


@EXAMPLES
@given(plan=plans(), rnd=st.randoms(use_true_random=False))
def test_any_order_of_same_instant_events_gives_the_true_bill(plan: Plan, rnd: random.Random) -> None:
    events = _with_boot(plan, render(plan), plan.plugged_at - MIN)
    in_order = run(events, POLICY)
    _assert_true(in_order.bill, plan)
    assert not {"meter_reset", "meter_swap", "meter_stop_below_last"} & set(in_order.bill["quality_flags"])
    assert _bill(run(_shuffle_instants(events, rnd), POLICY)) == _bill(in_order)


@EXAMPLES
@given(plan=plans(), rnd=st.randoms(use_true_random=False), days=st.integers(0, 40))
def test_a_session_delivered_after_the_watermark_passed_it_gets_the_in_order_bill(
    plan: Plan, rnd: random.Random, days: int
) -> None:
    events = render(plan)
    in_order = _bill(run(_with_boot(plan, events, plan.plugged_at - MIN), POLICY))
    # the station boots (stamped on arrival), then sends its queue: every event is older than the boot
    arrival = plan.unplugged_at + days * 24 * 60 * MIN + 5 * MIN
    late = run(_with_boot(plan, _shuffle_instants(events, rnd), arrival), POLICY)
    assert _bill(late) == in_order
    assert late.bill["site_id"] == "north"
    assert not [r for r in late.sessions if r["record_type"] == "credit"]


def _is_stop(ev: ChargerEvent) -> bool:
    p = ev.payload
    if isinstance(p, TransactionEvent):
        return p.event_type == "Ended"
    return isinstance(p, MeterValuesEvent) and any(s.context == "Transaction.End" for s in p.samples)


def _keeps_talking(station_id: str, after: int, hours: int) -> list[ChargerEvent]:
    """Heartbeats and another connector's statuses, every 5 minutes, for hours."""
    out = []
    for k in range(1, hours * 12 + 1):
        at = after + k * 5 * MIN
        out.append(ChargerEvent(f"hb-{at}", station_id, 0, at, at, "ocpp1.6", Heartbeat()))
        if k % 6 == 0:
            out.append(ChargerEvent(f"c2-{at}", station_id, 2, at, at, "ocpp1.6", StatusChange("Available")))
    return out


@EXAMPLES
@given(plan=plans(), late=st.booleans())
def test_a_lost_stop_is_billed_once_the_session_is_over_and_corrected_when_it_comes(
    plan: Plan, late: bool
) -> None:
    events = _with_boot(plan, render(plan), plan.plugged_at - MIN)
    stops = [e for e in events if _is_stop(e)]
    lost = [e for e in events if not _is_stop(e)]
    talk = _keeps_talking(events[0].station_id, plan.unplugged_at, 3)
    if late:  # and the whole session arrives after the station's watermark moved past it
        lost = [boot(events[0].station_id, plan.unplugged_at + 5 * MIN), *lost[1:]]
    without = run([*lost, *talk], POLICY, flush_end=False)
    (bill,) = without.current_bills()
    assert bill["unplugged_at"] == plan.unplugged_at and "stop_not_seen" in bill["quality_flags"]
    # the stop arrives after all (an offline queue flushed later): a credit and the true bill
    more = _keeps_talking(events[0].station_id, plan.unplugged_at + 3 * HOUR_MS, 1)
    full = run([*lost, *talk, *stops, *more], POLICY, flush_end=False)
    (final,) = full.current_bills()
    _assert_true(final, plan)
    assert "stop_not_seen" not in final["quality_flags"]
    kinds = [r["record_type"] for r in full.sessions if r["record_type"] != "update"]
    assert kinds[0] == "bill" and kinds.count("bill") == kinds.count("credit") + 1


@EXAMPLES
@given(plan=plans())
def test_a_session_whose_stop_and_unplug_are_lost_closes_when_it_is_evidently_over(plan: Plan) -> None:
    events = _with_boot(plan, render(plan), plan.plugged_at - MIN)
    cut = [e for e in events if not _is_stop(e) and not _is_available(e)]
    result = run(
        [*cut, *_keeps_talking(events[0].station_id, plan.unplugged_at, 25)], POLICY, flush_end=False
    )
    (bill,) = result.current_bills()
    assert "stop_estimated" in bill["quality_flags"] or "unplug_estimated" in bill["quality_flags"]
    assert bill["unplugged_at"] <= plan.stop_at


def _is_available(ev: ChargerEvent) -> bool:
    return isinstance(ev.payload, StatusChange) and ev.payload.status == "Available" and ev.connector_id == 1
