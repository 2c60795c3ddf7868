"""Session engine throughput: the pure core on one thread, and one Faust worker through a real broker
next to a baseline measured in the same run (consume + Avro decode only).

    .venv/bin/python -m bench.engine_bench [--stations 60] [--out bench/results/engine.json]

Uses CHARGESTREAM_KAFKA_BOOTSTRAP when set, else starts a throw-away local broker. The figures are
ratios against the baseline because this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from chargestream import kafka_local, stack
from chargestream.settings import Settings
from producers.publisher import EventPublisher
from producers.simulator import FleetConfig, simulate
from schemas.codec import EmbeddedCodec
from schemas.events import ChargerEvent, from_record, to_record
from schemas.topics import CHARGER_EVENTS, ensure_topics
from streams.batch import process_batch
from streams.policy import Policy
from streams.state_codec import dump_state, load_state
from streams.station import StationState, flush, process


def _best_of(n: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(n))


def pure_core(events: list[ChargerEvent]) -> dict[str, Any]:
    policy = Policy()

    def objects() -> float:
        states: dict[str, StationState] = {}
        t0 = time.perf_counter()
        for ev in events:
            st = states.get(ev.station_id)
            if st is None:
                st = states[ev.station_id] = StationState(ev.station_id)
            process(st, ev, policy)
        for st in states.values():
            flush(st, policy)
        return time.perf_counter() - t0

    def batched_pickle(batch: int = 2000) -> float:
        stored: dict[str, bytes] = {}

        def load(sid: str) -> StationState | None:
            raw = stored.get(sid)
            return load_state(raw) if raw else None

        def save(sid: str, st: StationState) -> None:
            stored[sid] = dump_state(st)

        t0 = time.perf_counter()
        for i in range(0, len(events), batch):
            process_batch(events[i : i + batch], load, save, policy)
        return time.perf_counter() - t0

    def decode_only() -> float:
        codec = EmbeddedCodec()
        blobs = [codec.encode(CHARGER_EVENTS, to_record(ev)) for ev in events]
        t0 = time.perf_counter()
        for b in blobs:
            from_record(codec.decode(CHARGER_EVENTS, b))
        return time.perf_counter() - t0

    n = len(events)
    t_obj, t_batch, t_dec = _best_of(3, objects), _best_of(3, batched_pickle), _best_of(3, decode_only)
    return {
        "events": n,
        "core_events_per_s": round(n / t_obj),
        "core_with_state_pickled_per_batch_of_2000_events_per_s": round(n / t_batch),
        "avro_decode_only_events_per_s": round(n / t_dec),
        "core_vs_decode_ratio": round(t_dec / t_obj, 3),
    }


def _baseline_consume(settings: Settings, n: int) -> float:
    """confluent-kafka consume + Avro decode of the whole topic: the floor a worker cannot beat."""
    codec = EmbeddedCodec()
    c = Consumer(
        {
            "bootstrap.servers": settings.bootstrap,
            "group.id": f"bench-baseline-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    md = c.list_topics(CHARGER_EVENTS, timeout=10)
    c.assign([TopicPartition(CHARGER_EVENTS, p, 0) for p in md.topics[CHARGER_EVENTS].partitions])
    got = 0
    t0 = time.perf_counter()
    while got < n:
        for m in c.consume(1000, timeout=1.0):
            if m.error() is None:
                from_record(codec.decode(CHARGER_EVENTS, m.value() or b""))
                got += 1
    elapsed = time.perf_counter() - t0
    c.close()
    return elapsed


def through_broker(events: list[ChargerEvent], partitions: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="cs-bench-"))
    env_bootstrap = os.environ.get("CHARGESTREAM_KAFKA_BOOTSTRAP")
    settings = Settings(
        state_dir=work / "state",
        kafka_port=kafka_local.free_port(),
        kafka_controller_port=kafka_local.free_port(),
        topic_partitions=partitions,
        worker_id=f"bench-worker-{time.time_ns()}",
    )
    started_broker = False
    worker = stack.worker_process(settings)
    try:
        if settings.uses_local_broker:
            kafka_local.start_broker(settings)
            started_broker = True
        ensure_topics(settings.bootstrap, partitions)
        worker.start(
            [*stack.SERVE, "worker", "--loglevel", "warn"],
            env=stack.child_env(settings, "worker"),
        )
        ready = settings.run_dir / "worker.ready"
        deadline = time.monotonic() + 120
        while not ready.exists():
            if worker.pid() is None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: {worker.log_tail()}")
            time.sleep(0.2)
        publisher = EventPublisher(settings.bootstrap, EmbeddedCodec())
        t0 = time.perf_counter()
        publisher.publish_all(events)
        t_published = time.perf_counter() - t0
        while True:
            lag = stack.consumer_lag(settings, settings.worker_id, [CHARGER_EVENTS])
            if lag == 0:
                break
            if worker.pid() is None:
                raise RuntimeError(f"worker died: {worker.log_tail()}")
            time.sleep(0.1)
        t_worker = time.perf_counter() - t0
        t_base = _baseline_consume(settings, len(events))
    finally:
        worker.stop()
        if started_broker:
            kafka_local.stop_broker(settings)
        shutil.rmtree(work, ignore_errors=True)
    n = len(events)
    return {
        "kafka": env_bootstrap or f"local Apache Kafka {settings.kafka_version}",
        "partitions": partitions,
        "events": n,
        "publish_events_per_s": round(n / t_published),
        "worker_events_per_s": round(n / t_worker),
        "baseline_consume_decode_events_per_s": round(n / t_base),
        "worker_vs_baseline_ratio": round(t_base / t_worker, 3),
        "note": "worker time runs from the first publish to zero committed lag (Faust commits about every "
        "2.8 s, so the worker figure is a lower bound)",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=60)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--no-broker", action="store_true", help="only the pure-core figures")
    ap.add_argument("--out", type=Path, default=Path("bench/results/engine.json"))
    args = ap.parse_args()
    events, truths = simulate(
        FleetConfig(
            stations=args.stations, connectors_per_station=2, sessions_per_connector=args.sessions, seed=11
        )
    )
    print(f"{len(events)} events, {len(truths)} sessions", flush=True)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "pure_core_one_thread": pure_core(events),
    }
    print(json.dumps(result["pure_core_one_thread"], indent=2), flush=True)
    if not args.no_broker:
        result["one_worker_through_broker"] = through_broker(events, args.partitions)
        print(json.dumps(result["one_worker_through_broker"], indent=2), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
