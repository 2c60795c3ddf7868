"""The gateways' clock per partition (streams/gateway_clock.py): a dark fleet's time goes on, replayed
history is not made to look silent by live ticks."""

from __future__ import annotations

from schemas.events import MINUTE_MS
from streams.gateway_clock import LIVE_LAG_MS, GatewayClock

NOW = 1_800_000_000_000
PAST = NOW - 400 * 24 * 60 * MINUTE_MS


def test_ticks_over_a_dark_fleet_follow_on_from_its_last_word() -> None:
    clock = GatewayClock()
    clock.heard(0, NOW)
    for minute in range(1, 121):  # two hours without a station event, a tick a minute
        clock.tick(0, NOW + minute * MINUTE_MS)
    assert clock.time(0) == NOW + 120 * MINUTE_MS
    assert clock.time(1) == 0  # another partition heard nothing


def test_live_ticks_do_not_count_over_replayed_history_but_its_own_clock_does() -> None:
    clock = GatewayClock()
    clock.tick(0, NOW)  # a live gateway, then a replay of last year into the same partition
    assert clock.time(0) == NOW
    clock.heard(0, PAST)
    assert clock.time(0) == 0  # what the live tick said is no time for the history
    clock.tick(0, NOW + MINUTE_MS)
    assert clock.time(0) == 0
    clock.tick(0, PAST + 5 * MINUTE_MS)  # the replay's own clock (publish_all clock_every_ms)
    assert clock.time(0) == PAST + 5 * MINUTE_MS
    clock.heard(0, NOW + 2 * MINUTE_MS)  # live traffic again: the live ticks count again
    clock.tick(0, NOW + 3 * MINUTE_MS)
    assert clock.time(0) == NOW + 3 * MINUTE_MS


def test_a_gap_longer_than_the_lag_breaks_the_chain_and_a_restart_resumes_from_the_stations() -> None:
    clock = GatewayClock()
    clock.heard(0, NOW)
    clock.tick(0, NOW + LIVE_LAG_MS + 1)  # not following on: the gateway was away, or another clock
    assert clock.time(0) == 0
    clock.clear()
    clock.resume(0, PAST)  # restarted mid-replay: the stored stations were heard up to PAST
    clock.tick(0, NOW)
    assert clock.time(0) == 0
    clock.tick(0, PAST + MINUTE_MS)
    assert clock.time(0) == PAST + MINUTE_MS
