"""All four public datasets replayed through the pure engine: every usable session is billed once,
its energy equal to the file's kWh to the Wh, its unplug time the file's, and (ACN) its idle minutes
within one minute of disconnect − doneCharging."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from producers.replay import events_for, load
from streams.policy import Policy
from streams.station import StationState, flush, process

SHARED = Path(os.environ.get("CHARGESTREAM_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
FILES = {
    "acn": "acn_caltech_sessions.json",
    "boulder": "boulder_sessions.csv",
    "dundee": "dundee_sessions_2018.csv",
    "paloalto": "paloalto_sessions_subset.csv",
}


@pytest.mark.parametrize("fmt", list(FILES))
def test_every_replayed_session_is_billed_exactly(fmt: str) -> None:
    path = SHARED / "datasets" / FILES[fmt]
    assert path.is_file(), f"{path} is missing: clone beside shared/ or set CHARGESTREAM_SHARED_DIR"
    sessions, _ = load(path, fmt)
    policy = Policy()
    states: dict[str, StationState] = {}
    bills: dict[str, dict[str, object]] = {}
    credits = 0

    def take(records: list[dict[str, object]]) -> None:
        nonlocal credits
        for r in records:
            credits += r["record_type"] == "credit"
            if r["record_type"] == "bill":
                bills[str(r["session_id"])] = r

    for ev in events_for(sessions):
        state = states.get(ev.station_id)
        if state is None:
            state = states[ev.station_id] = StationState(ev.station_id)
        take([r.to_dict() for r in process(state, ev, policy).sessions])
    for state in states.values():
        take([r.to_dict() for r in flush(state, policy).sessions])
    by_plug = {(b["station_id"], b["connector_id"], b["plugged_in_at"]): b for b in bills.values()}
    assert len(bills) == len(sessions) and credits == 0
    for s in sessions:
        bill = by_plug[(s.station_id, s.connector_id, s.plugged_in_at)]
        assert (bill["energy_wh"], bill["unplugged_at"]) == (s.energy_wh, s.unplugged_at), s
        if s.charging_ended_at is not None:
            expected = (s.unplugged_at - s.charging_ended_at) / 60_000
            assert abs(float(bill["idle_minutes"]) - expected) <= 1.0, s  # type: ignore[arg-type]
