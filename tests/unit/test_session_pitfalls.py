"""One test per field pitfall of DOMAIN.md: billed energy exact, and the repair flagged."""

from __future__ import annotations

from schemas.events import (
    HOUR_MS,
    ChargerEvent,
    ConnectionChange,
    Heartbeat,
    MeterValues,
    Payload,
    SampledValue,
    StatusChange,
    TransactionEvent,
)
from streams.policy import Policy
from tests.unit.session_harness import MIN, T0, Station, run, wh


def _charge(
    s: Station, tx: str, start: float, start_wh: float, rises: list[int], *, connector: int = 1
) -> list[ChargerEvent]:
    """Preparing, Started, Charging and one meter value per 5 minutes with the given cumulative rises."""
    evs = [
        s.ev(start, StatusChange("Preparing"), connector),
        s.ev(start + 0.5, TransactionEvent("Started", tx, meter_wh=start_wh), connector),
        s.ev(start + 0.5, StatusChange("Charging"), connector),
    ]
    for k, rise in enumerate(rises, 1):
        evs.append(
            s.ev(start + 0.5 + 5 * k, MeterValues((wh(start + 0.5 + 5 * k, start_wh + rise),), tx), connector)
        )
    return evs


def _finish(
    s: Station, tx: str, at: float, stop_wh: float | None, *, connector: int = 1, **kw: object
) -> list[ChargerEvent]:
    return [
        s.ev(at, TransactionEvent("Ended", tx, meter_wh=stop_wh, **kw), connector),  # type: ignore[arg-type]
        s.ev(at + 0.5, StatusChange("Available"), connector),
    ]


def test_1_duplicate_start_after_a_lost_response_is_one_session() -> None:
    s = Station()
    evs = _charge(s, "tx", 0, 1_000, [3_000, 6_000])
    evs.insert(2, s.ev(0.6, TransactionEvent("Started", "tx", meter_wh=1_000)))  # re-sent, new message
    result = run(evs + _finish(s, "tx", 20, 7_000))
    assert len(result.bills) == 1
    assert result.bill["energy_wh"] == 6_000 and "duplicate_start" in result.bill["quality_flags"]


def test_1b_the_same_event_delivered_twice_counts_once() -> None:
    s = Station()
    evs = _charge(s, "tx", 0, 1_000, [3_000, 6_000]) + _finish(s, "tx", 20, 7_000)
    assert run(evs + evs).bill["energy_wh"] == 6_000  # a replayed batch: ids already seen


def test_2a_stop_missing_then_status_available_closes_from_the_last_register() -> None:
    s = Station()
    evs = [*_charge(s, "tx", 0, 1000, [3000, 6000]), s.ev(30, StatusChange("Available"))]
    bill = run(evs).bill
    assert bill["energy_wh"] == 6_000 and bill["unplugged_at"] == T0 + 30 * MIN
    assert "stop_not_seen" in bill["quality_flags"]


def test_2b_stop_missing_and_the_next_session_starts_closes_the_first_as_estimated() -> None:
    s = Station()
    evs = _charge(s, "tx1", 0, 1_000, [3_000, 6_000]) + _charge(s, "tx2", 60, 7_000, [2_000])
    result = run(evs + _finish(s, "tx2", 70, 9_000))
    first, second = sorted(result.current_bills(), key=lambda r: r["plugged_in_at"])
    assert (first["energy_wh"], second["energy_wh"]) == (6_000, 2_000)
    assert first["unplugged_at"] == T0 + 10.5 * MIN  # the last evidence of the first session
    assert "unplug_estimated" in first["quality_flags"] or "stop_estimated" in first["quality_flags"]


def test_2c_a_silent_session_is_closed_as_estimated_after_the_timeout() -> None:
    s = Station()
    evs = [*_charge(s, "tx", 0, 1_000, [3_000]), s.ev(30 * 60, StatusChange("Available"), 2)]
    bill = run(evs, Policy(missing_stop_after_ms=24 * HOUR_MS)).bill
    assert bill["energy_wh"] == 3_000 and bill["unplugged_at"] == T0 + 5.5 * MIN
    assert "stop_estimated" in bill["quality_flags"]


def test_3_offline_batch_hours_late_in_order_bills_once_and_alerts_once() -> None:
    s = Station()
    late = 5 * 60  # received five hours after the station time
    evs = [
        s.ev(0, StatusChange("Preparing")),
        s.ev(1, TransactionEvent("Started", "tx", meter_wh=100, offline=True), received_delay_min=late),
        s.ev(61, MeterValues((wh(61, 11_100),), "tx"), received_delay_min=late),
        s.ev(62, StatusChange("SuspendedEV"), received_delay_min=late),
        s.ev(
            200,
            TransactionEvent("Ended", "tx", meter_wh=11_100, offline=True, stopped_reason="EVDisconnected"),
            received_delay_min=late - 100,
        ),
        s.ev(201, StatusChange("Available")),
    ]
    result = run(evs + evs)  # and the whole batch again, as a reconnecting station may
    assert len(result.bills) == 1 and result.bill["energy_wh"] == 11_000
    assert "offline_batch" in result.bill["quality_flags"]
    assert [a["status"] for a in result.alerts] == ["opened", "escalated", "resolved"]


def test_4_updated_after_ended_does_not_reopen_and_ended_is_never_dropped() -> None:
    s = Station(source="ocpp2.0.1")
    evs = [
        s.ev(0, TransactionEvent("Started", "t", seq_no=0, charging_state="Charging", samples=(wh(0, 0),))),
        s.ev(30, TransactionEvent("Updated", "t", seq_no=1, samples=(wh(30, 5_000),))),
        s.ev(
            60,
            TransactionEvent(
                "Ended",
                "t",
                seq_no=2,
                samples=(wh(60, 9_000),),
                stopped_reason="EVDisconnected",
                trigger_reason="EVDeparted",
            ),
        ),
        s.ev(65, TransactionEvent("Updated", "t", seq_no=3, samples=(wh(65, 9_500),))),  # after the end
        s.ev(75, TransactionEvent("Updated", "t", seq_no=4, samples=(wh(75, 9_900),))),  # and after the close
        s.ev(80, StatusChange("Available")),
    ]
    result = run(evs)
    assert len(result.current_bills()) == 1
    bill = result.bill
    assert bill["energy_wh"] == 9_000 and "updated_after_ended" in bill["quality_flags"]
    assert bill["unplugged_at"] == T0 + 60 * MIN  # Available after the grace: the stop's time


def test_5a_lifetime_meter_start_with_session_relative_samples() -> None:
    s = Station()
    evs = [
        s.ev(0, StatusChange("Preparing")),
        s.ev(1, TransactionEvent("Started", "tx", meter_wh=2_500_000)),
        s.ev(1, StatusChange("Charging")),
        s.ev(11, MeterValues((wh(11, 1_200),), "tx")),
        s.ev(21, MeterValues((wh(21, 2_400),), "tx")),
        *_finish(s, "tx", 30, 2_503_100),
    ]
    bill = run(evs).bill
    assert bill["energy_wh"] == 3_100 and "session_relative_register" in bill["quality_flags"]


def test_5b_meter_start_zero_lifetime_samples_and_a_relative_stop() -> None:
    s = Station()
    evs = [
        s.ev(0, StatusChange("Preparing")),
        s.ev(1, TransactionEvent("Started", "tx", meter_wh=0)),
        s.ev(1, StatusChange("Charging")),
        s.ev(11, MeterValues((wh(11, 8_001_200),), "tx")),
        s.ev(21, MeterValues((wh(21, 8_002_400),), "tx")),
        *_finish(s, "tx", 30, 3_100),
    ]
    bill = run(evs).bill
    assert bill["energy_wh"] == 3_100 and "energy_from_meter_stop" in bill["quality_flags"]


def test_6_register_reset_mid_session_sums_the_segments() -> None:
    s = Station()
    # 1000 → 4000 (+3000), reset, 0 → 500 → 2500 (+2500): 5500 Wh
    evs = [
        *_charge(s, "tx", 0, 1_000, [1_000, 3_000]),
        s.ev(16, MeterValues((wh(16, 500),), "tx")),
        s.ev(21, MeterValues((wh(21, 2_500),), "tx")),
        *_finish(s, "tx", 25, 2_500),
    ]
    bill = run(evs).bill
    assert bill["energy_wh"] == 5_500 and "meter_reset" in bill["quality_flags"]


def test_6b_meter_swap_to_an_unreachable_value_resumes_from_it() -> None:
    s = Station()
    evs = [
        *_charge(s, "tx", 0, 9_000_000, [1_000]),
        s.ev(11, MeterValues((wh(11, 5_000_000),), "tx")),  # a new meter far below: not a reset to 0
        s.ev(16, MeterValues((wh(16, 5_002_000),), "tx")),
        *_finish(s, "tx", 20, 5_002_000),
    ]
    bill = run(evs).bill
    assert bill["energy_wh"] == 3_000 and "meter_swap" in bill["quality_flags"]


def test_7_meter_stop_below_the_last_meter_value_is_ignored() -> None:
    s = Station()
    evs = _charge(s, "tx", 0, 1_000, [3_000, 6_000]) + _finish(s, "tx", 20, 6_500)
    bill = run(evs).bill
    assert bill["energy_wh"] == 6_000 and "meter_stop_below_last" in bill["quality_flags"]


def test_8_kwh_values_are_converted_exactly() -> None:
    s = Station()
    evs = [
        s.ev(0, StatusChange("Preparing")),
        s.ev(1, TransactionEvent("Started", "tx", meter_wh=1_234_567)),
        s.ev(1, StatusChange("Charging")),
        s.ev(11, MeterValues((wh(11, 1_236.789, unit="kWh"),), "tx")),
        *_finish(s, "tx", 20, 1_237_000),
    ]
    assert run(evs).bill["energy_wh"] == 2_433


def test_9_phase_values_next_to_a_total_never_add_and_phases_alone_are_summed() -> None:
    s = Station()
    evs = [
        *_charge(s, "tx", 0, 30_000, []),
        s.ev(6, MeterValues((wh(6, 31_000), wh(6, 40_000, phase="L1"), wh(6, 40_000, phase="L2")), "tx")),
        s.ev(
            11,
            MeterValues(
                (wh(11, 11_000, phase="L1"), wh(11, 11_000, phase="L2"), wh(11, 11_000, phase="L3")), "tx"
            ),
        ),
        *_finish(s, "tx", 15, 33_000),
    ]
    assert run(evs).bill["energy_wh"] == 3_000


def test_10_repeated_samples_in_the_stop_transaction_data_count_once() -> None:
    s = Station()
    evs = _charge(s, "tx", 0, 1_000, [2_000, 4_000])
    repeated = (wh(5.5, 3_000, context="Sample.Periodic"), wh(10.5, 5_000), wh(10.5, 5_000))
    evs += _finish(s, "tx", 12, 5_000, samples=repeated)
    assert run(evs).bill["energy_wh"] == 4_000


def test_11_clock_faults_use_the_receive_time_and_are_flagged() -> None:
    s = Station()
    evs = _charge(s, "tx", 0, 1_000, [2_000])
    evs.append(s.ev(8, MeterValues((wh(8, 3_500),), "tx"), station_time=0))  # 1970: RTC unset
    future = T0 + 400 * 24 * 60 * MIN
    evs.append(s.ev(9, MeterValues((wh(9, 4_000),), "tx"), station_time=future))  # a year ahead
    evs += _finish(s, "tx", 12, 4_000)
    bill = run(evs).bill
    assert bill["energy_wh"] == 3_000
    assert {"clock_unset", "clock_ahead"} <= set(bill["quality_flags"])
    assert bill["unplugged_at"] == T0 + 12.5 * MIN  # one bad clock does not move the session


def _set_back(
    s: Station, tx: str, received: float, back: float, start_wh: float, rises: list[int]
) -> list[ChargerEvent]:
    """A session whose station clock runs ``back`` minutes behind receipt (set back since the last)."""
    evs = _charge(s, tx, received - back, start_wh, rises) + _finish(
        s, tx, received - back + 5 * len(rises) + 2, start_wh + rises[-1]
    )
    return [
        ChargerEvent(
            e.event_id,
            e.station_id,
            e.connector_id,
            e.station_time,
            e.station_time + round(back * MIN),
            e.source,
            e.payload,
        )
        for e in evs
    ]


def test_11b_a_clock_set_back_between_two_sessions_bills_both_and_a_resend_changes_nothing() -> None:
    s = Station()
    first = _charge(s, "tx1", 0, 1_000, [2_000, 4_000]) + _finish(s, "tx1", 12, 5_000)
    # The next car plugs in 3 minutes after the unplug, but the clock was set back by 10 minutes: its
    # plug-in and start are stamped 7 minutes *before* the first session ended.
    second = _set_back(s, "tx2", 15.5, 10, 5_000, [1_500, 3_000, 4_500])
    result = run(first + second)
    bills = {b["transaction_id"]: b for b in result.current_bills()}
    assert {tx: b["energy_wh"] for tx, b in bills.items()} == {"tx1": 4_000, "tx2": 4_500}
    assert "clock_stepped_back" in bills["tx2"]["quality_flags"]
    assert "clock_stepped_back" not in bills["tx1"]["quality_flags"]
    assert bills["tx1"]["unplugged_at"] == T0 + 12.5 * MIN  # the first session keeps its own times
    # The plug-in and start re-sent an hour later (their ids long out of the recent-id window): the
    # same moved time, recognised as re-sends.
    beats = [s.ev(20 + i * 0.5, Heartbeat(), 0) for i in range(80)]
    resent = [
        ChargerEvent(
            e.event_id,
            e.station_id,
            e.connector_id,
            e.station_time,
            e.received_at + HOUR_MS,
            e.source,
            e.payload,
        )
        for e in second[:3]
    ]
    again = run(first + second + beats + resent)
    assert {b["transaction_id"]: b["energy_wh"] for b in again.current_bills()} == {
        "tx1": 4_000,
        "tx2": 4_500,
    }
    assert not [r for r in again.sessions if r["record_type"] == "credit"]


def _queued(s: Station, minute: float, payload: Payload, received: int, *, unset: bool) -> ChargerEvent:
    """A message queued offline, sent at ``received`` (ms); stamped by an unset RTC (since boot)."""
    e = s.ev(minute, payload)
    stamp = e.station_time - (T0 - 2 * HOUR_MS) if unset else e.station_time  # booted 2 h before T0
    return ChargerEvent(e.event_id, e.station_id, 1, stamp, received, e.source, e.payload)


def _unset(minute: float, value: float) -> SampledValue:
    return SampledValue(round((minute + 120) * MIN), "Wh", value, str(value))


def test_11c_an_unset_clock_in_an_offline_queue_bills_exactly_and_a_resend_changes_nothing() -> None:
    s = Station()
    back = T0 + 300 * MIN  # the reconnect: the queue arrives 10 ms apart
    queue = [
        _queued(s, 3, TransactionEvent("Started", "tx", meter_wh=1_000), back + 1_000, unset=True),
        _queued(s, 8, MeterValues((_unset(8, 2_000),), "tx"), back + 1_010, unset=True),
        _queued(s, 13, MeterValues((_unset(13, 3_000),), "tx"), back + 1_020, unset=True),
        # the clock synced while offline: the rest of the queue is stamped right, hours before receipt
        _queued(s, 18, MeterValues((wh(18, 4_000),), "tx"), back + 1_030, unset=False),
        _queued(s, 25, TransactionEvent("Ended", "tx", meter_wh=4_500), back + 1_040, unset=False),
    ]
    evs = [
        s.ev(0, StatusChange("Available")),
        s.ev(1, ConnectionChange(False, "lost"), 0),
        s.ev(300, ConnectionChange(True, "back"), 0),
        *queue,
        s.ev(300.1, StatusChange("Available")),
    ]
    bill = run(evs).bill
    assert bill["energy_wh"] == 3_500 and "clock_unset" in bill["quality_flags"]
    # placed after the loss of connection, in the station's order, before the synced part of the queue
    assert T0 + 1 * MIN < bill["plugged_in_at"] < T0 + 18 * MIN
    # the whole queue again an hour later (a station that did not get the responses): nothing changes
    beats = [s.ev(301 + i, Heartbeat(), 0) for i in range(70)]
    resent = [
        ChargerEvent(
            e.event_id, e.station_id, 1, e.station_time, e.received_at + HOUR_MS, e.source, e.payload
        )
        for e in queue
    ]
    again = run(evs + beats + resent)
    assert [b["energy_wh"] for b in again.current_bills()] == [3_500]
    assert not [r for r in again.sessions if r["record_type"] == "credit"]


def test_11d_a_clock_set_back_inside_an_offline_queue_bills_both_sessions_and_a_resend_changes_nothing() -> (
    None
):
    """The queue holds no status (1.6 queues transaction messages only): the first session stamped an
    hour ahead (a clock on local time), the next one after the clock was put right, so it starts before
    the first one's end. Fleet seed 1693 (offline + clock_local_time) billed both 0 Wh."""
    s = Station()
    back = T0 + 400 * MIN
    queue = [
        _queued(s, 70, TransactionEvent("Started", "a", meter_wh=1_000), back + 1_000, unset=False),
        _queued(s, 100, MeterValues((wh(100, 2_000),), "a"), back + 1_010, unset=False),
        _queued(s, 130, TransactionEvent("Ended", "a", meter_wh=3_000), back + 1_020, unset=False),
        _queued(s, 110, TransactionEvent("Started", "b", meter_wh=3_000), back + 1_030, unset=False),
        _queued(s, 150, MeterValues((wh(150, 4_000),), "b"), back + 1_040, unset=False),
        _queued(s, 180, TransactionEvent("Ended", "b", meter_wh=5_500), back + 1_050, unset=False),
    ]
    evs = [
        s.ev(0, StatusChange("Available")),
        s.ev(1, ConnectionChange(False, "lost"), 0),
        s.ev(400, ConnectionChange(True, "back"), 0),
        *queue,
        s.ev(400.1, StatusChange("Available")),
    ]
    bills = {b["transaction_id"]: b for b in run(evs).current_bills()}
    assert {tx: b["energy_wh"] for tx, b in bills.items()} == {"a": 2_000, "b": 2_500}
    assert "clock_stepped_back" in bills["b"]["quality_flags"]
    beats = [s.ev(401 + i, Heartbeat(), 0) for i in range(70)]
    resent = [
        ChargerEvent(
            e.event_id, e.station_id, 1, e.station_time, e.received_at + HOUR_MS, e.source, e.payload
        )
        for e in queue
    ]
    again = run(evs + beats + resent)
    assert sorted(b["energy_wh"] for b in again.current_bills()) == [2_000, 2_500]
    assert not [r for r in again.sessions if r["record_type"] == "credit"]


def test_12_status_skip_and_faulted_returning_to_charging() -> None:
    s = Station()
    evs = [
        *_charge(s, "tx", 0, 1_000, [2_000]),
        s.ev(6, StatusChange("Faulted")),
        s.ev(7, StatusChange("Charging")),
        s.ev(10.5, MeterValues((wh(10.5, 4_000),), "tx")),
        s.ev(20, StatusChange("Available")),  # Charging → Available: no Finishing, no stop
    ]
    bill = run(evs).bill
    assert bill["energy_wh"] == 3_000 and bill["charging_ended_at"] == T0 + 10.5 * MIN
    assert {"fault_during_session", "stop_not_seen"} <= set(bill["quality_flags"])


def test_13_zero_energy_and_short_sessions_are_recorded_but_not_billed() -> None:
    from tests.unit.test_sessions import _policy

    s = Station()
    zero = _charge(s, "tx1", 0, 1_000, [0]) + _finish(s, "tx1", 10, 1_000)
    short = _charge(s, "tx2", 30, 1_000, []) + _finish(s, "tx2", 31, 1_300)
    bills = sorted(run(zero + short, _policy()).current_bills(), key=lambda r: r["plugged_in_at"])
    assert [b["energy_wh"] for b in bills] == [0, 300]
    assert "zero_energy" in bills[0]["quality_flags"] and "short_session" in bills[1]["quality_flags"]
    assert all(b["cost_total"] == 0 and "not_billable" in b["quality_flags"] for b in bills)


def test_14_a_late_stop_after_the_bill_gives_a_credit_and_a_new_bill() -> None:
    s = Station()
    evs = [*_charge(s, "tx", 0, 1000, [2000]), s.ev(20, StatusChange("Available"))]
    evs += [s.ev(30, StatusChange("Preparing"), 2)]  # time moves on (another connector)
    # the real stop arrives late (offline queue): the last 1.5 kWh were never in a meter value
    evs.append(
        s.ev(
            15, TransactionEvent("Ended", "tx", meter_wh=4_500, stopped_reason="Local"), received_delay_min=60
        )
    )
    result = run(evs)
    kinds = [
        (r["record_type"], r["energy_wh"])
        for r in result.sessions
        if r["record_type"] != "update" and r["connector_id"] == 1
    ]
    assert kinds == [("bill", 2_000), ("credit", -2_000), ("bill", 3_500)]
    credit = next(r for r in result.sessions if r["record_type"] == "credit")
    first_bill = result.bills[0]
    assert credit["corrects_version"] == first_bill["version"]
    final = max((r for r in result.bills if r["connector_id"] == 1), key=lambda r: r["version"])
    assert final["version"] > credit["version"] and "corrected" in final["quality_flags"]
    assert final["stop_reason"] == "Local" and "stop_not_seen" not in final["quality_flags"]


def test_14b_a_burst_of_late_values_gives_one_correction_not_one_each() -> None:
    s = Station()
    evs = [*_charge(s, "tx", 0, 1_000, [2_000]), s.ev(20, StatusChange("Available"))]
    evs += [s.ev(30, StatusChange("Preparing"), 2)]
    # an offline queue delivered after the bill: ten values the gateway never saw live
    evs += [
        s.ev(6 + k, MeterValues((wh(6 + k, 3_000 + 100 * k),), "tx"), received_delay_min=60)
        for k in range(10)
    ]
    result = run(evs)
    kinds = [
        r["record_type"] for r in result.sessions if r["connector_id"] == 1 and r["record_type"] != "update"
    ]
    assert kinds == ["bill", "credit", "bill"]
    (bill,) = [b for b in result.current_bills() if b["connector_id"] == 1]
    assert bill["energy_wh"] == 2_900 and "corrected" in bill["quality_flags"]


def test_a_transaction_that_starts_and_ends_in_the_same_millisecond_is_its_own_session() -> None:
    s = Station()
    zero = [
        s.ev(0, StatusChange("Preparing")),
        s.ev(0, TransactionEvent("Started", "t0", meter_wh=500)),
        s.ev(0, TransactionEvent("Ended", "t0", meter_wh=500, stopped_reason="EVDisconnected")),
        s.ev(0, StatusChange("Available")),
    ]
    nxt = [*_charge(s, "t1", 1, 500, [1_000]), *_finish(s, "t1", 10, 1_500)]
    for events in (zero + nxt, [zero[2], zero[0], zero[3], zero[1], *nxt]):  # any arrival order
        first, second = sorted(run(events).current_bills(), key=lambda b: b["plugged_in_at"])
        assert (first["energy_wh"], first["unplugged_at"]) == (0, T0)
        assert second["energy_wh"] == 1_000 and second["plugged_in_at"] == T0 + MIN


def test_a_transaction_id_used_again_days_later_is_a_new_session_not_a_correction() -> None:
    s = Station()
    day = 24 * 60
    first = [*_charge(s, "tx", 0, 1_000, [2_000]), *_finish(s, "tx", 10, 3_000)]
    again = [*_charge(s, "tx", 3 * day, 9_000, [500]), *_finish(s, "tx", 3 * day + 10, 9_500)]
    result = run(first + again)
    assert [r["record_type"] for r in result.sessions if r["record_type"] != "update"] == ["bill", "bill"]
    assert sorted(b["energy_wh"] for b in result.current_bills()) == [500, 2_000]


def test_7b_a_meter_stop_that_rounds_the_last_decimal_sample_is_no_reset_and_no_drop() -> None:
    s = Station()
    evs = [
        s.ev(0, StatusChange("Preparing")),
        s.ev(
            1, TransactionEvent("Started", "tx", meter_wh=0, samples=(wh(1, 0, context="Transaction.Begin"),))
        ),
        s.ev(1, StatusChange("Charging")),
        s.ev(2, MeterValues((wh(2, 60.48),), "tx")),
        s.ev(3, MeterValues((wh(3, 109.05),), "tx")),
        s.ev(
            4,
            TransactionEvent(
                "Ended",
                "tx",
                meter_wh=109,
                samples=(wh(1, 0, context="Transaction.Begin"), wh(4, 109, context="Transaction.End")),
            ),
        ),
        s.ev(4.5, StatusChange("Available")),
    ]
    bill = run(evs, Policy(min_billable_wh=0)).bill
    assert bill["energy_wh"] == 109  # was 218: the stop was taken for a reset and counted again
    assert not {"meter_reset", "meter_swap", "meter_stop_below_last"} & set(bill["quality_flags"])


def test_7c_a_transaction_end_reading_below_a_decimal_sample_is_the_same_value() -> None:
    s = Station()
    evs = [*_charge(s, "tx", 0, 0, []), s.ev(10, MeterValues((wh(10, 190.27),), "tx"))]
    evs += [
        s.ev(15, MeterValues((wh(15, 190, context="Transaction.End"),), "tx")),
        *_finish(s, "tx", 15, 190),
    ]
    bill = run(evs, Policy(min_billable_wh=0)).bill
    assert bill["energy_wh"] == 190 and "meter_reset" not in bill["quality_flags"]


def test_7d_a_real_drop_on_a_dc_charger_is_not_taken_for_a_reset() -> None:
    """A reading 5 Wh lower a minute later (a glitch) at 350 kW: reachable from zero, but the register
    did not fall by more than it shows, so it is no reset (that would count 8 kWh twice): counting
    resumes from it, flagged."""
    s = Station()
    evs = [*_charge(s, "tx", 0, 0, [4_000, 8_000]), s.ev(11, MeterValues((wh(11, 7_995),), "tx"))]
    evs += [s.ev(12, MeterValues((wh(12, 9_000),), "tx")), *_finish(s, "tx", 13, 9_000)]
    bill = run(evs).bill
    assert bill["energy_wh"] == 9_005 and "meter_reset" not in bill["quality_flags"]
    assert "meter_swap" in bill["quality_flags"]


def test_2d_a_lost_stop_is_billed_at_available_while_the_station_keeps_talking() -> None:
    s = Station()
    evs = [*_charge(s, "tx", 0, 1_000, [3_000, 6_000]), s.ev(11, StatusChange("SuspendedEV"))]
    evs.append(s.ev(31, StatusChange("Available")))
    evs += [s.ev(31 + 5 * k, StatusChange("Available"), 2) for k in range(1, 60)]  # hours of talk
    (bill,) = run(evs, flush_end=False).current_bills()
    assert bill["energy_wh"] == 6_000 and bill["unplugged_at"] == T0 + 31 * MIN
    assert bill["idle_minutes"] == 20 and "stop_not_seen" in bill["quality_flags"]


def test_station_offline_is_flagged_only_on_sessions_open_at_the_disconnect() -> None:
    from schemas.events import ConnectionChange

    s = Station()
    evs = _charge(s, "tx", 0, 1_000, [2_000]) + _finish(s, "tx", 10, 3_000)
    evs.append(s.ev(11.5, ConnectionChange(False, "ping timeout"), 0))  # 60 s after the unplug
    evs.append(s.ev(20, StatusChange("Available"), 2))
    assert "station_offline" not in run(evs).bill["quality_flags"]
    during = _charge(s, "tx2", 30, 3_000, [2_000])
    during.append(s.ev(38, ConnectionChange(False, "ping timeout"), 0))
    during += _finish(s, "tx2", 40, 5_000)
    bills = sorted(run(evs + during).current_bills(), key=lambda b: b["plugged_in_at"])
    assert "station_offline" in bills[1]["quality_flags"]


def test_ocpp201_charging_state_charging_is_not_an_inferred_charge() -> None:
    s = Station(source="ocpp2.0.1")
    evs = [
        s.ev(
            0, TransactionEvent("Started", "t", seq_no=0, charging_state="EVConnected", samples=(wh(0, 100),))
        ),
        s.ev(1, TransactionEvent("Updated", "t", seq_no=1, charging_state="Charging", samples=(wh(1, 400),))),
        s.ev(30, TransactionEvent("Updated", "t", seq_no=2, samples=(wh(30, 5_000),))),
        s.ev(
            31,
            TransactionEvent("Ended", "t", seq_no=3, samples=(wh(31, 5_100),), trigger_reason="EVDeparted"),
        ),
        s.ev(31, StatusChange("Available")),
    ]
    bill = run(evs).bill
    assert bill["energy_wh"] == 5_000 and "charging_inferred" not in bill["quality_flags"]
