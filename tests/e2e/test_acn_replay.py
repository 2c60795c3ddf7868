"""The whole Caltech ACN file end to end: replay → Kafka → worker → sink → ClickHouse.

One billing record per usable session, energy equal to kWhDelivered (to the Wh), and idle minutes
within ±1 min of disconnect − doneCharging wherever the file has the charging-done time."""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal
from pathlib import Path

from chargestream import stack
from chargestream.query import run_query, scalar
from chargestream.settings import Settings
from producers.publisher import EventPublisher
from producers.replay import load
from producers.replay.runner import run_replay
from schemas.codec import EmbeddedCodec

SHARED = Path(os.environ.get("CHARGESTREAM_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
ACN = SHARED / "datasets" / "acn_caltech_sessions.json"


def test_acn_file_is_billed_exactly_with_idle_minutes(stack_settings: Settings) -> None:
    assert ACN.is_file(), f"{ACN} is missing: clone beside shared/ or set CHARGESTREAM_SHARED_DIR"
    sessions, _defects = load(ACN, "acn")
    raw_rows = json.loads(ACN.read_text())
    raw_rows = raw_rows.get("_items", raw_rows) if isinstance(raw_rows, dict) else raw_rows
    stack.up(stack_settings, say=lambda _line: None)
    try:
        publisher = EventPublisher(stack_settings.bootstrap, EmbeddedCodec())
        report = run_replay(ACN, "acn", meter_interval_s=900, sink=publisher)
        publisher.flush()
        assert report.sessions == len(sessions) == len(raw_rows)  # ACN: no row is unusable
        count = "SELECT count() FROM chargestream.billing_records FINAL WHERE station_id LIKE 'ACN-%'"
        deadline = time.monotonic() + 300
        while int(scalar(stack_settings, count) or 0) < len(sessions) and time.monotonic() < deadline:
            time.sleep(1.0)
        out = run_query(
            stack_settings,
            "SELECT station_id, connector_id, toUnixTimestamp64Milli(plugged_in_at), energy_wh, idle_minutes "
            "FROM chargestream.billing_records FINAL WHERE station_id LIKE 'ACN-%'",
        )
    finally:
        stack.down(stack_settings, say=lambda _line: None)
    billed: dict[tuple[str, int, int], tuple[int, float]] = {}
    for line in out.splitlines():
        station, connector, plugged, energy_text, idle_text = line.split("\t")
        billed[(station, int(connector), int(plugged))] = (int(energy_text), float(idle_text))
    assert len(billed) == len(sessions)
    idle_checked = 0
    for s in sessions:
        energy, idle = billed[(s.station_id, s.connector_id, s.plugged_in_at)]
        assert energy == s.energy_wh, s
        if s.charging_ended_at is not None:
            idle_checked += 1
            assert abs(idle - (s.unplugged_at - s.charging_ended_at) / 60_000) <= 1.0, s
    assert idle_checked > 1_900  # the rows with a plausible doneChargingTime
    # the file's own kWhDelivered, independently of the parser: the totals agree to the Wh
    assert sum(e for e, _ in billed.values()) == sum(
        int((Decimal(str(r["kWhDelivered"])) * 1000).to_integral_value()) for r in raw_rows
    )
