"""1.6 transaction ids: stable for a re-sent StartTransaction, unique per station, within int32."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from producers.gateway.normalize import parse_time
from producers.gateway.v16.transactions import (
    CYCLE_S,
    EPOCH_S,
    FALLBACK_LIMIT,
    INT32_MAX,
    connector_of_transaction_16,
    is_time_based,
    transaction_id_16,
)

NOW = parse_time("2026-11-24T10:00:00Z")
HOUR = 3600 * 1000


def tx(connector: int, start_ms: int, meter_start: int = 0, now: int = NOW, station: str = "CP1") -> int:
    return transaction_id_16(station, connector, start_ms, meter_start, now)


def test_a_resent_start_gets_the_same_id_on_any_instance_at_any_later_time() -> None:
    first = tx(2, NOW - HOUR, 1_000_000)
    assert first == tx(2, NOW - HOUR, 1_000_000, now=NOW + 5 * 60_000)  # re-sent 5 min later
    assert is_time_based(first) and connector_of_transaction_16(first) == 2


def test_every_second_and_connector_of_a_busy_month_is_unique() -> None:
    start = NOW - 30 * 24 * HOUR
    ids = {tx(c, start + s * 1000) for s in range(0, 30 * 24 * 3600, 7) for c in range(1, 8)}
    assert len(ids) == len(range(0, 30 * 24 * 3600, 7)) * 7
    assert all(FALLBACK_LIMIT < i <= INT32_MAX for i in ids)


def test_milliseconds_do_not_matter_and_meter_start_does_not_either() -> None:
    assert tx(1, NOW + 123) == tx(1, NOW + 999) == tx(1, NOW, meter_start=42) != tx(1, NOW + 1000)


@given(
    a=st.integers(0, CYCLE_S - 1),
    b=st.integers(0, CYCLE_S - 1),
    ca=st.integers(1, 7),
    cb=st.integers(1, 7),
)
def test_time_based_ids_never_collide_within_a_cycle(a: int, b: int, ca: int, cb: int) -> None:
    base = EPOCH_S * 1000
    now_a, now_b = base + a * 1000, base + b * 1000  # each start judged when it happens
    ia = transaction_id_16("CP", ca, base + a * 1000, 0, now_a)
    ib = transaction_id_16("CP", cb, base + b * 1000, 0, now_b)
    assert (ia == ib) == ((a, ca) == (b, cb))


def test_ids_repeat_only_after_a_cycle_of_about_seven_years() -> None:
    assert CYCLE_S / (365.25 * 24 * 3600) > 7.4
    later = NOW + CYCLE_S * 1000
    assert tx(3, NOW) == tx(3, later, now=later)


def test_implausible_clocks_fall_back_to_a_stable_hash_below_the_time_range() -> None:
    for start in (parse_time("1970-01-01T00:05:00Z"), NOW + 3 * 24 * HOUR, NOW - 200 * 24 * HOUR):
        first = tx(2, start, 777)
        assert first == tx(2, start, 777, now=NOW + 60_000)
        assert 0 < first < FALLBACK_LIMIT and not is_time_based(first)
        assert connector_of_transaction_16(first) == 2
    # a dead RTC restarting at 1970 after each reboot: the register still tells sessions apart
    assert tx(1, 300_000, 10_000) != tx(1, 300_000, 25_000)


def test_connectors_from_8_on_are_hashed_and_carry_no_connector() -> None:
    i = tx(9, NOW)
    assert not is_time_based(i) and connector_of_transaction_16(i) == 0
    assert tx(9, NOW) != tx(10, NOW)


@given(
    station=st.text(min_size=1, max_size=20),
    connector=st.integers(0, 300),
    start=st.integers(-(10**13), 10**14),
    meter=st.integers(0, 2**31),
)
def test_every_id_is_a_positive_int32_that_names_its_connector(
    station: str, connector: int, start: int, meter: int
) -> None:
    i = transaction_id_16(station, connector, start, meter, NOW)
    assert 0 < i <= INT32_MAX
    assert connector_of_transaction_16(i) == (connector if 1 <= connector <= 7 else 0)
