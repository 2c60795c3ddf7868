"""Sink row mapping throughput: decoded topic records → ClickHouse rows, next to a baseline measured in
the same run (Avro decode alone), and the insert of the mapped rows into an embedded store.

    .venv/bin/python -m bench.sink_bench [--events 40000] [--out bench/results/sink_rows.json]

The mix is what the sink sees: meter values (3 samples each), status changes, session records
(updates and bills) and feedback. The figures to compare between versions are the ratios to the
decode baseline: this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.runs import save_run
from schemas.codec import EmbeddedCodec
from schemas.events import ChargerEvent, MeterValues, SampledValue, StatusChange, to_record
from schemas.topics import CHARGER_EVENTS, DRIVER_FEEDBACK, SESSIONS
from sinks import rows
from sinks.clickhouse import connect
from sinks.migrations import migrate

T0 = 1_800_000_000_000


def _messages(n_events: int, samples: int = 3) -> list[tuple[str, bytes]]:
    codec = EmbeddedCodec()
    out: list[tuple[str, bytes]] = []
    for i in range(n_events):
        sid, at = f"BENCH-{i % 200:03d}", T0 + i * 1000
        if i % 4:
            values = tuple(
                SampledValue(at, "Wh", 1000.0 + i + k, str(1000 + i + k), phase=f"L{k + 1}")
                for k in range(samples)
            )
            payload: Any = MeterValues(values, f"tx-{i % 50}")
        else:
            payload = StatusChange("Charging" if i % 8 else "Available")
        ev = ChargerEvent(f"e{i}", sid, 1, at, at + 5, "bench", payload)
        out.append((CHARGER_EVENTS, codec.encode(CHARGER_EVENTS, to_record(ev))))
        if i % 20 == 0:
            final = i % 40 == 0
            out.append((SESSIONS, codec.encode(SESSIONS, _session(i, sid, at, final))))
        if i % 100 == 0:
            out.append((DRIVER_FEEDBACK, codec.encode(DRIVER_FEEDBACK, _feedback(i, sid, at))))
    return out


def _session(i: int, sid: str, at: int, final: bool) -> dict[str, Any]:
    money = Decimal("1.2345")
    return {
        "session_id": f"s{i}",
        "version": 1,
        "record_type": "bill" if final else "update",
        "corrects_version": None,
        "state": "closed" if final else "charging",
        "is_final": final,
        "station_id": sid,
        "connector_id": 1,
        "site_id": "SITE",
        "transaction_id": f"tx-{i}",
        "id_token_hash": "h",
        "tariff_id": "T",
        "plugged_in_at": at - 3_600_000,
        "charging_started_at": at - 3_500_000,
        "charging_ended_at": at - 100_000,
        "unplugged_at": at if final else None,
        "energy_wh": 12_345,
        "charging_minutes": 58.3,
        "idle_minutes": 1.6,
        "max_power_kw": 11.0,
        **{k: money for k in ("cost_energy", "cost_time", "cost_parking", "cost_flat", "cost_total")},
        "cost_total_incl_vat": money,
        "currency": "EUR",
        "stop_reason": "EVDisconnected" if final else None,
        "quality_flags": [],
        "charging_periods": "[]",
        "priced_with": "",
        "emitted_at": at,
    }


def _feedback(i: int, sid: str, at: int) -> dict[str, Any]:
    return {
        "feedback_id": f"f{i}",
        "station_id": sid,
        "connector_id": 1,
        "rating": 2,
        "category": "slow",
        "comment": "slow",
        "user_ref_hash": None,
        "submitted_at": at,
        "received_at": at + 10,
    }


def _best_of(n: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(n))


def measure(n_events: int, repeats: int = 5) -> dict[str, Any]:
    codec = EmbeddedCodec()
    messages = _messages(n_events)
    decoded = [(topic, codec.decode(topic, raw)) for topic, raw in messages]
    tables: dict[str, list[tuple[Any, ...]]] = defaultdict(list)

    def decode_only() -> float:
        t0 = time.perf_counter()
        for topic, raw in messages:
            codec.decode(topic, raw)
        return time.perf_counter() - t0

    def map_only() -> float:
        tables.clear()
        t0 = time.perf_counter()
        for topic, rec in decoded:
            for table, row in rows.rows_for(topic, rec):
                tables[table].append(row)
        return time.perf_counter() - t0

    decode_s = _best_of(repeats, decode_only)
    map_s = _best_of(repeats, map_only)
    n_rows = sum(len(v) for v in tables.values())
    store = Path(tempfile.mkdtemp(prefix="sink-bench-"))
    try:
        client = connect(f"chdb://{store / 'db'}")
        migrate(client)
        t0 = time.perf_counter()
        for table, table_rows in sorted(tables.items()):
            client.insert(f"chargestream.{table}", table_rows, column_names=list(rows.COLUMNS[table]))
        insert_s = time.perf_counter() - t0
        client.close()
    finally:
        shutil.rmtree(store, ignore_errors=True)
    return {
        "records": len(messages),
        "rows": n_rows,
        "rows_per_table": {t: len(v) for t, v in sorted(tables.items())},
        "decode_records_per_s": round(len(messages) / decode_s),
        "map_rows_per_s": round(n_rows / map_s),
        "map_over_decode_time": round(map_s / decode_s, 3),
        "insert_rows_per_s": round(n_rows / insert_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--label", default="current")
    parser.add_argument("--out", type=Path, default=Path("bench/results/sink_rows.json"))
    args = parser.parse_args()
    result = {"label": args.label, "python": platform.python_version(), **measure(args.events)}
    save_run(args.out, result)


if __name__ == "__main__":
    main()
