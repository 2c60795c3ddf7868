"""The worker's flush and fault-clock timers live in memory. A worker killed after it has committed the
last events of two silent stations — one with a finished session still in its reorder buffer, one
whose connection was lost — must, once restarted, still bill the first and find the second offline:
neither station will send anything again to re-arm its timer."""

from __future__ import annotations

import os
import signal

import pytest

from chargestream import stack
from chargestream.query import scalar
from chargestream.settings import Settings
from producers.publisher import EventPublisher
from producers.simulator import FleetConfig, simulate
from schemas.codec import EmbeddedCodec
from schemas.events import MINUTE_MS, ChargerEvent, ConnectionChange, Heartbeat, Payload, StationBoot
from schemas.topics import CHARGER_EVENTS
from sinks.service import SINK_TOPICS
from tests.reliability.test_worker_crash import _start_group_at_end, _wait


@pytest.mark.timeout(420)
def test_restarted_worker_rearms_flush_and_offline_timers(stack_settings: Settings, unique: str) -> None:
    # Flush after 30 s of silence: long enough that the first worker is killed before its timer fires.
    settings = stack_settings.model_copy(update={"station_flush_s": 30.0})
    seed = int(unique, 16) % 1_000_000
    events, truths = simulate(
        FleetConfig(stations=1, connectors_per_station=1, sessions_per_connector=1, seed=seed)
    )
    (truth,) = truths
    # The session's unplug is its last event but one: a heartbeat a minute later leaves it in the buffer
    # (lateness 2 min), and nothing comes after it.
    t0, t_end = events[0].station_time, events[-1].station_time
    offline = f"SIM-{seed}-OFF"
    payloads: list[Payload] = [StationBoot("ACME", "AC-22", site_id=f"SITE-{seed}-OFF")]
    payloads += [Heartbeat() for _ in range((t_end - t0) // (5 * MINUTE_MS))]
    beats = [
        ChargerEvent(f"{offline}-{i}", offline, 0, t0 + i * 5 * MINUTE_MS, t0 + i * 5 * MINUTE_MS, "t", p)
        for i, p in enumerate(payloads)
    ]
    lost_at = t_end + MINUTE_MS
    lost = ChargerEvent(f"{offline}-lost", offline, 0, lost_at, lost_at, "t", ConnectionChange(False))
    everything = sorted([*events, *beats, lost], key=lambda e: e.received_at)

    _start_group_at_end(settings.bootstrap, settings.worker_id, CHARGER_EVENTS)
    for topic in SINK_TOPICS:
        _start_group_at_end(settings.bootstrap, settings.sink_group, topic)
    where = f"station_id LIKE 'SIM-{seed}-%'"
    bills = f"SELECT count() FROM chargestream.billing_records FINAL WHERE {where}"
    offline_alerts = (
        "SELECT toUnixTimestamp64Milli(opened_at) FROM chargestream.alerts FINAL "
        f"WHERE station_id = '{offline}' AND type = 'station_offline'"
    )
    publisher = EventPublisher(settings.bootstrap, EmbeddedCodec())
    stack.up(settings, say=lambda _line: None)
    try:
        publisher.publish_all(everything)
        worker = stack.worker_process(settings)

        def lag() -> int | None:
            return stack.consumer_lag(settings, settings.worker_id, [CHARGER_EVENTS])

        # Committed to the end: the restarted worker re-reads nothing, so only a re-armed timer can act.
        _wait(lambda: lag() == 0, 60, "the worker to commit every event", lambda: f"lag {lag()}")
        assert int(scalar(settings, bills) or 0) == 0, "the flush timer fired before the kill"
        pid = worker.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: worker.pid() is None, 10, "the worker to be gone")
        stack.up(settings, say=lambda _line: None)
        # The gateway's clock goes on past the offline grace (5 min); no station says anything.
        for minute in range(1, 11):
            publisher.publish_tick(lost_at + minute * MINUTE_MS)
        publisher.flush()
        _wait(
            lambda: int(scalar(settings, bills) or 0) == 1 and bool(scalar(settings, offline_alerts)),
            150,
            "the silent session billed and the lost station alerted",
            lambda: (
                f"bills {scalar(settings, bills)}, offline {scalar(settings, offline_alerts)!r}\n"
                f"{worker.log_tail()}"
            ),
        )
        energy = scalar(settings, f"SELECT energy_wh FROM chargestream.billing_records FINAL WHERE {where}")
        assert int(energy) == truth.energy_wh
        # Dated from the loss, not from when the restarted worker got round to it.
        assert [int(t) for t in scalar(settings, offline_alerts).split()] == [lost_at]
        assert "timers re-armed from" in worker.log_tail(200)
    finally:
        publisher.close()
        stack.down(settings, say=lambda _line: None)
