"""Replay event generation (pure): exact energy, order, determinism, the 1.6-like sequence.

`check_replay` is shared with the per-dataset tests: one streaming pass over the events of a
whole file that checks every invariant the replay promises.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from producers.replay import Defects, ReplaySession, events_for, truth_lines
from producers.replay.events import REGISTER_BASE_WH, session_events, timeline, transaction_id
from schemas.codec import EmbeddedCodec
from schemas.events import (
    ENERGY_REGISTER,
    ChargerEvent,
    Heartbeat,
    MeterValues,
    StationBoot,
    StatusChange,
    TransactionEvent,
    from_record,
    to_record,
)
from schemas.topics import CHARGER_EVENTS

SHARED = Path(os.environ.get("CHARGESTREAM_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
DATASETS = SHARED / "datasets"
H = 3_600_000
T0 = 1_600_000_000_000


@dataclass
class ReplayCheck:
    events: int
    digest: str
    kinds: Counter[str]


def check_replay(sessions: list[ReplaySession], defects: Defects, meter_interval_s: int = 900) -> ReplayCheck:
    """Assert the replay invariants over all events of `sessions`; returns counts and a digest."""
    assert len(sessions) + defects.dropped == defects.rows_read
    assert_no_connector_overlap(sessions)
    last_time: dict[str, int] = {}
    register: dict[tuple[str, int], float] = {}
    started: dict[str, float] = {}
    rises: dict[str, float] = defaultdict(float)
    ended: dict[str, float] = {}
    ids: set[str] = set()
    kinds: Counter[str] = Counter()
    digest = hashlib.sha256()
    n = 0
    for ev in events_for(sessions, meter_interval_s):
        n += 1
        kinds[ev.kind] += 1
        digest.update(f"{ev.event_id}|{ev.station_time}|{ev.kind}\n".encode())
        assert ev.station_time >= last_time.get(ev.station_id, ev.station_time), "station-time order"
        last_time[ev.station_id] = ev.station_time
        assert ev.event_id not in ids
        ids.add(ev.event_id)
        p = ev.payload
        key = (ev.station_id, ev.connector_id)
        if isinstance(p, TransactionEvent):
            assert p.meter_wh is not None and p.meter_wh == int(p.meter_wh)
            assert p.meter_wh >= register.get(key, 0), "a register only grows"
            if p.event_type == "Started":
                started[p.transaction_id] = p.meter_wh
            else:
                rises[p.transaction_id] += p.meter_wh - register[key]
                ended[p.transaction_id] = p.meter_wh
            register[key] = p.meter_wh
        elif isinstance(p, MeterValues):
            (reg,) = [s for s in p.samples if s.measurand == ENERGY_REGISTER]
            assert reg.raw_value == str(int(reg.value)) and reg.unit == "Wh"
            assert reg.value >= register[key], "a register only grows"
            assert p.transaction_id is not None
            rises[p.transaction_id] += reg.value - register[key]
            register[key] = reg.value
    for s in sessions:
        tx = transaction_id(s)
        assert ended[tx] - started[tx] == s.energy_wh == rises[tx], f"row {s.source_row}"
    assert kinds["StationBoot"] == len({s.station_id for s in sessions})
    return ReplayCheck(n, digest.hexdigest(), kinds)


def event_digest(sessions: list[ReplaySession], meter_interval_s: int = 900) -> str:
    """The digest `check_replay` returns, without the checks (for determinism on a second run)."""
    digest = hashlib.sha256()
    for ev in events_for(sessions, meter_interval_s):
        digest.update(f"{ev.event_id}|{ev.station_time}|{ev.kind}\n".encode())
    return digest.hexdigest()


def assert_no_connector_overlap(sessions: list[ReplaySession]) -> None:
    by_connector: dict[tuple[str, int], list[ReplaySession]] = defaultdict(list)
    for s in sessions:
        by_connector[(s.station_id, s.connector_id)].append(s)
    for group in by_connector.values():
        group.sort(key=lambda s: (s.plugged_in_at, s.source_row))
        for a, b in itertools.pairwise(group):
            assert a.unplugged_at <= b.plugged_in_at, f"rows {a.source_row} and {b.source_row} overlap"


def session(**kw: object) -> ReplaySession:
    base: dict[str, object] = {
        "dataset": "test",
        "source_row": 1,
        "station_id": "T-1",
        "connector_id": 1,
        "site_id": "T-SITE",
        "time_zone": "Europe/London",
        "plugged_in_at": T0,
        "unplugged_at": T0 + 4 * H,
        "energy_wh": 12_345,
    }
    base.update(kw)
    return ReplaySession(**base)  # type: ignore[arg-type]


def statuses(events: list[ChargerEvent]) -> list[str]:
    return [e.payload.status for e in events if isinstance(e.payload, StatusChange)]


def registers(events: list[ChargerEvent]) -> list[float]:
    out = []
    for e in events:
        if isinstance(e.payload, MeterValues):
            out += [s.value for s in e.payload.samples if s.measurand == ENERGY_REGISTER]
    return out


def test_the_sequence_of_a_session_with_a_known_charging_end() -> None:
    s = session(charging_ended_at=T0 + 2 * H + 1)
    events = session_events(s, 5_000, 900)
    assert statuses(events) == ["Preparing", "Charging", "SuspendedEV", "Finishing", "Available"]
    kinds = [e.kind for e in events]
    assert kinds[:3] == ["StatusChange", "TransactionEvent", "StatusChange"]
    assert kinds[-3:] == ["TransactionEvent", "StatusChange", "StatusChange"]
    start, end = (e.payload for e in events if isinstance(e.payload, TransactionEvent))
    assert isinstance(start, TransactionEvent) and isinstance(end, TransactionEvent)
    assert (start.event_type, start.meter_wh, end.event_type, end.meter_wh) == (
        "Started",
        5_000,
        "Ended",
        17_345,
    )
    assert end.stopped_reason == "EVDisconnected"
    meter_times = [e.station_time for e in events if isinstance(e.payload, MeterValues)]
    # every 15 min for the whole transaction, plus the end of charging; flat after it
    assert meter_times == [T0 + k * 900_000 for k in range(1, 9)] + [T0 + 2 * H + 1] + [
        T0 + k * 900_000 for k in range(9, 16)
    ]
    assert registers(events)[8:] == [17_345] * 8 and registers(events) == sorted(registers(events))
    suspended = next(
        e for e in events if isinstance(e.payload, StatusChange) and e.payload.status == "SuspendedEV"
    )
    assert suspended.station_time == T0 + 2 * H + 1
    assert [e.station_time for e in events] == sorted(e.station_time for e in events)
    assert {e.source for e in events} == {"replay"}


@pytest.mark.parametrize(
    ("energy_wh", "minutes", "interval_s"),
    [(12_345, 240, 900), (7, 180, 900), (1, 1, 900), (99_999, 61, 420), (0, 30, 60), (5, 2, 1)],
)
def test_energy_is_exact_and_linear(energy_wh: int, minutes: int, interval_s: int) -> None:
    s = session(energy_wh=energy_wh, unplugged_at=T0 + minutes * 60_000, charging_s=minutes * 60)
    events = session_events(s, 1_000, interval_s)
    regs = registers(events)
    assert regs[-1] - 1_000 == energy_wh
    assert all(b >= a for a, b in zip([1_000.0, *regs], regs, strict=False))
    # linear: each sample within 1 Wh of the straight line from start to end
    for e in events:
        if isinstance(e.payload, MeterValues):
            ideal = 1_000 + energy_wh * (e.station_time - T0) / (minutes * 60_000)
            assert abs(e.payload.samples[0].value - ideal) < 1


def test_no_charging_time_means_charging_until_unplug() -> None:
    s = session()  # no charging_ended_at, no charging_s (Dundee, ACN without doneChargingTime)
    events = session_events(s, 0, 900)
    assert statuses(events) == ["Preparing", "Charging", "Finishing", "Available"]
    assert timeline(s).charging_ended_at == s.unplugged_at and not timeline(s).done_known
    assert max(e.station_time for e in events if isinstance(e.payload, MeterValues)) == s.unplugged_at
    assert registers(events)[-1] == 12_345


def test_zero_energy_without_charging_time_has_no_charging_phase() -> None:
    events = session_events(session(energy_wh=0), 42, 900)
    assert statuses(events) == ["Preparing", "Finishing", "Available"]
    assert registers(events) == [42] * 15  # the meter still reports during the transaction
    assert [e.payload.meter_wh for e in events if isinstance(e.payload, TransactionEvent)] == [42, 42]


def test_zero_energy_with_a_charging_time_charges_a_flat_register() -> None:
    events = session_events(session(energy_wh=0, charging_s=1800), 42, 900)
    assert statuses(events) == ["Preparing", "Charging", "SuspendedEV", "Finishing", "Available"]
    assert set(registers(events)) == {42}


def test_energy_without_charging_time_flows_over_the_whole_stay() -> None:
    s = session(energy_wh=500, charging_s=0)
    assert timeline(s) == timeline(session(energy_wh=500))
    assert registers(session_events(s, 0, 900))[-1] == 500


def test_a_charging_time_longer_than_the_stay_ends_at_unplug() -> None:
    s = session(charging_s=5 * 3600)
    tl = timeline(s)
    assert tl.charging_ended_at == s.unplugged_at and tl.done_known
    assert "SuspendedEV" not in statuses(session_events(s, 0, 900))


def test_station_boot_first_then_available_and_a_trailing_heartbeat() -> None:
    a = session(source_row=1, connector_id=2, max_power_kw=22.0, station_model="APT 22kW Dual Outlet")
    b = session(source_row=2, connector_id=1, plugged_in_at=T0 + H, unplugged_at=T0 + 9 * H)
    events = list(events_for([b, a]))
    boot = events[0]
    assert isinstance(boot.payload, StationBoot) and boot.connector_id == 0
    assert boot.payload.site_id == "T-SITE" and boot.payload.time_zone == "Europe/London"
    assert boot.payload.connectors == 2 and boot.payload.max_power_kw == 22.0
    assert [(e.connector_id, e.payload) for e in events[1:3]] == [
        (1, StatusChange("Available")),
        (2, StatusChange("Available")),
    ]
    assert boot.station_time < a.plugged_in_at
    assert isinstance(events[-1].payload, Heartbeat) and events[-1].station_time > b.unplugged_at


def test_the_register_of_a_connector_carries_over_between_sessions() -> None:
    a = session(source_row=1, energy_wh=1_000)
    b = session(source_row=2, energy_wh=2_000, plugged_in_at=T0 + 4 * H, unplugged_at=T0 + 6 * H)
    tx = [e.payload for e in events_for([a, b]) if isinstance(e.payload, TransactionEvent)]
    base = REGISTER_BASE_WH
    assert [p.meter_wh for p in tx] == [base, base + 1_000, base + 1_000, base + 3_000]


def test_two_cars_on_one_connector_at_once_are_refused() -> None:
    a = session(source_row=1)
    b = session(source_row=2, plugged_in_at=T0 + H)
    with pytest.raises(ValueError, match="before the previous car left"):
        list(events_for([a, b]))
    with pytest.raises(ValueError, match="positive"):
        list(events_for([a], 0))


def test_same_sessions_same_events_and_ids() -> None:
    sessions = [
        session(source_row=i, plugged_in_at=T0 + i * 5 * H, unplugged_at=T0 + i * 5 * H + H) for i in range(5)
    ]
    first, second = list(events_for(sessions)), list(events_for(list(reversed(sessions))))
    assert first == second
    other = list(events_for([replace(s, dataset="other") for s in sessions]))
    assert not {e.event_id for e in first} & {e.event_id for e in other}


def test_every_event_kind_survives_the_avro_codec() -> None:
    codec = EmbeddedCodec()
    s = session(charging_ended_at=T0 + H, user_ref="ab" * 16, latitude=37.4, longitude=-122.1)
    events = list(events_for([s]))
    assert {e.kind for e in events} == {
        "StationBoot",
        "StatusChange",
        "TransactionEvent",
        "MeterValues",
        "Heartbeat",
    }
    for ev in events:
        assert from_record(codec.decode(CHARGER_EVENTS, codec.encode(CHARGER_EVENTS, to_record(ev)))) == ev


def test_truth_lines_say_what_the_events_encode() -> None:
    known = session(source_row=1, charging_ended_at=T0 + H)
    unknown = session(source_row=2, station_id="T-2")
    empty = session(source_row=3, station_id="T-3", energy_wh=0)
    lines = {line["source_row"]: line for line in truth_lines([known, unknown, empty])}
    assert lines[1]["charging_ended_at"] == T0 + H and lines[1]["expected_idle_minutes"] == 180
    assert lines[1]["energy_wh"] == 12_345 and lines[1]["unplugged_at"] == T0 + 4 * H
    assert lines[2]["charging_ended_at"] == T0 + 4 * H and lines[2]["expected_idle_minutes"] is None
    assert lines[3]["charging_ended_at"] is None and lines[3]["charging_started_at"] is None
