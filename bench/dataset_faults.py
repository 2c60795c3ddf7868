"""Replay the public session datasets through the engine and every stage after it (pure, in one
process) and check the fault and start-failure figures against the files themselves.

* Palo Alto's `Ended By` becomes the session's stop reason: the bills ending with GroundFault must be
  the file's `Final GFCI Tripped` sessions, one for one.
* Zero-energy sessions (Boulder, Dundee; Palo Alto has none in the subset): the bills with 0 Wh must be
  the file's 0 kWh rows, and a start_failures alert is raised where `start_failures` of them follow
  one another on one connector (counted from the file independently).

    .venv/bin/python -m bench.dataset_faults   # writes bench/results/datasets.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from producers.replay import load
from producers.replay.events import events_for
from producers.replay.model import ReplaySession
from streams.downstream import Downstream
from streams.policy import Policy
from streams.station import StationState, flush, process

SHARED = Path(os.environ.get("CHARGESTREAM_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
DATASETS = SHARED / "datasets"
FILES = {
    "paloalto": "paloalto_sessions_subset.csv",
    "boulder": "boulder_sessions.csv",
    "dundee": "dundee_sessions_2018.csv",
}


def expected_streaks(sessions: list[ReplaySession], need: int) -> int:
    """Runs of ``need`` or more zero-energy sessions in a row on one connector, from the file."""
    by_port: dict[tuple[str, int], list[ReplaySession]] = defaultdict(list)
    for s in sessions:
        by_port[(s.station_id, s.connector_id)].append(s)
    runs = 0
    for group in by_port.values():
        streak = 0
        for s in sorted(group, key=lambda s: s.plugged_in_at):
            streak = streak + 1 if s.energy_wh == 0 else 0
            runs += streak == need
    return runs


def replay(fmt: str, path: Path, meter_interval_s: int, limit: int | None = None) -> dict[str, Any]:
    sessions, defects = load(path, fmt, limit)
    policy = Policy()
    downstream = Downstream(policy.fault_rules_for)
    states: dict[str, StationState] = {}
    bills: dict[str, Any] = {}
    alerts: dict[str, Any] = {}
    n = 0
    t0 = time.perf_counter()

    def take(released: Any) -> None:
        for rec in released.sessions:
            if rec.kind == "bill":
                bills[rec.session_id] = rec
            elif rec.kind == "credit":
                bills.pop(rec.session_id, None)
        for a in downstream.take(released):
            alerts[a.alert_id] = a

    for ev in events_for(sessions, meter_interval_s):
        n += 1
        st = states.get(ev.station_id)
        if st is None:
            st = states[ev.station_id] = StationState(ev.station_id)
        take(process(st, ev, policy))
    for st in states.values():
        take(flush(st, policy))
    seconds = time.perf_counter() - t0
    by_reason = Counter(b.stop_reason for b in bills.values())
    kinds = Counter(a.type for a in alerts.values())
    file_zero = sum(1 for s in sessions if s.energy_wh == 0)
    out: dict[str, Any] = {
        "file": path.name,
        "sessions_replayed": len(sessions),
        "rows_dropped": defects.dropped,
        "events": n,
        "seconds": round(seconds, 1),
        "bills": len(bills),
        "zero_energy": {"file": file_zero, "bills": sum(1 for b in bills.values() if b.energy_wh == 0)},
        "start_failures": {
            "expected_from_file": expected_streaks(sessions, policy.fault_rules.start_failures),
            "alerts": kinds.get("start_failures", 0),
        },
        "stop_reasons": dict(by_reason.most_common()),
        "alerts": dict(kinds),
    }
    if fmt == "paloalto":
        gfci = sum(1 for s in sessions if s.stop_reason == "GroundFault")
        out["ground_faults"] = {
            "file_final_gfci_tripped": gfci,
            "bills_ended_groundfault": by_reason["GroundFault"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meter-interval", type=int, default=3600, help="seconds between meter values")
    parser.add_argument("--out", type=Path, default=Path("bench/results/datasets.json"))
    parser.add_argument("--only", choices=sorted(FILES), action="append")
    args = parser.parse_args()
    results = {}
    for fmt in args.only or sorted(FILES):
        results[fmt] = replay(fmt, DATASETS / FILES[fmt], args.meter_interval)
        print(fmt, json.dumps(results[fmt]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
