"""Rows/s into ClickHouse for one sink process, next to a raw clickhouse-connect insert of the same rows
in the same run.

    .venv/bin/python -m bench.sink_pipeline_bench [--events 1000000] [--writers 2] [--label L]

A local Kafka broker (the project's jars) gets the sink's topic mix (bench.sink_bench's messages: meter
values with three samples, status changes, session records, feedback); `chargestream serve sink` then
consumes them into a fresh embedded store, and its own Prometheus counter (rows written, by table) is read
while it works. `rows_per_s` is taken from the first rows written to the last (process start and the
consumer group's join left out; the first batches and the last partial ones, which wait flush_seconds,
counted: the figure to go by), `rows_per_s_steady` from a tenth of the rows to nine tenths (which may
leave out session batches, costly and few rows). The baseline inserts the very
rows the sink wrote (decoded and mapped here, not timed) into another fresh store with `client.insert`,
in the sink's batch sizes: the ratio of the two is the figure to compare between versions (the machine
is shared and noisy). The sink writes through `--writers` ClickHouse handles at once (sinks.lanes); for
context, not as the target, the raw insert is also run through as many handles, a thread each.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import Producer

from bench.runs import save_run
from bench.sink_bench import _messages
from chargestream import kafka_local
from chargestream.settings import Settings
from schemas.clients import producer_config
from schemas.codec import EmbeddedCodec
from schemas.topics import ensure_topics
from sinks import rows
from sinks.clickhouse import connect
from sinks.migrations import migrate

REPO = Path(__file__).resolve().parents[1]
BATCH_MAX = Settings().sink_batch_max  # the sink's default batch (messages per topic-partition)
PARTITIONS = 3  # the topics' partitions, as the stack creates them
WRITERS = Settings().sink_writers  # the sink's lanes (sinks.lanes), its default unless asked
# How often the sink's counter is read: a scrape of /metrics costs the sink a few ms of its GIL (the
# process collector reads /proc); at 20 a second it took a tenth of the sink's CPU in a profile. Prometheus
# scrapes every 15 s; at 4 a second the last rows are seen at most 0.25 s late (a 10 s run reads at most
# 2.5 % slow).
POLL_S = 0.25


def _produce(bootstrap: str, messages: list[tuple[str, bytes]]) -> None:
    producer = Producer(producer_config(bootstrap) | {"linger.ms": 20})
    for i, (topic, raw) in enumerate(messages):
        while True:
            try:
                producer.produce(topic, raw, key=f"BENCH-{i % 200:03d}".encode())
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("the broker did not take every message")


def _metric(url: str, name: str) -> float:
    """The sum of a sink metric's samples (every label set)."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith((name + "{", name + " "))
    )


def sink_rate(
    bootstrap: str,
    store: Path,
    total_rows: int,
    decode: str,
    writers: int = WRITERS,
    profile: Path | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    metrics_port, query_port = kafka_local.free_port(), kafka_local.free_port()
    env = os.environ | {
        "CHARGESTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "CHARGESTREAM_CLICKHOUSE_URL": f"chdb://{store}",
        "CHARGESTREAM_STATE_DIR": str(store.parent / "sink-state"),
        "CHARGESTREAM_SINK_METRICS_PORT": str(metrics_port),
        "CHARGESTREAM_QUERY_PORT": str(query_port),
        "CHARGESTREAM_SINK_BATCH_MAX": str(BATCH_MAX),
        "CHARGESTREAM_SINK_DECODE": decode,
        "CHARGESTREAM_SINK_WRITERS": str(writers),
    }
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    log = store.parent / "sink.log"
    command = [sys.executable, "-m", "chargestream.cli", "serve", "sink"]
    if profile is not None:  # py-spy's collapsed stacks of the sink, for flame graphs or a quick sort
        command = [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "-r",
            "200",
            "-f",
            "raw",
            *(["--idle"] if os.environ.get("BENCH_PROFILE_IDLE") else []),
            # only the thread holding the GIL: what Python work bounds the sink
            *(["--gil"] if os.environ.get("BENCH_PROFILE_GIL") else []),
            "-o",
            str(profile),
            "--",
            *command,
        ]
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        first: tuple[float, int] | None = None
        seen: list[tuple[float, int]] = []  # (time, rows written) as the sink's counter rises
        deadline = time.monotonic() + timeout
        n = 0
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the sink stopped: {log.read_text(errors='replace')[-2000:]}")
            try:
                n = int(_metric(url, "chargestream_sink_rows_total"))
            except OSError:
                n = 0  # not serving yet
            now = time.monotonic()
            if n and first is None:
                first = (now, n)
            if n and (not seen or n > seen[-1][1]):
                seen.append((now, n))
            if n >= total_rows:
                break
            time.sleep(POLL_S)
        else:
            raise RuntimeError(f"the sink wrote {n} of {total_rows} rows in {timeout:.0f} s")
        assert first is not None
        t0, n0 = first
        return {
            # the sink's CPU from its start (imports, the group's join) to its last row, on 2 cores
            "cpu_seconds": _cpu_seconds(proc.pid) if profile is None else None,
            "process_seconds": round(now - started, 3),
            "batches": int(_metric(url, "chargestream_sink_batches_total")),
            "batch_seconds_total": round(_metric(url, "chargestream_sink_batch_seconds_sum"), 3),
            "rows_timed": total_rows - n0,
            "seconds": round(now - t0, 3),
            "rows_per_s": round((total_rows - n0) / (now - t0)) if now > t0 else None,
            "rows_per_s_steady": _steady(seen, total_rows),
            # (seconds since the first rows, rows written): where the start and the end go slow
            "timeline": [(round(t - t0, 2), k) for t, k in seen],
        }
    finally:
        # (py-spy writes its profile on an interrupt, and stops the sink with it)
        proc.send_signal(signal.SIGINT if profile is not None else signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def _steady(seen: list[tuple[float, int]], total_rows: int) -> int | None:
    """The rate from the first reading past a tenth of the rows to the first past nine tenths: without
    the start (the group's join, the first batch) and the end (the last partial batches wait
    flush_seconds, a pause a sink with a steady flow of records does not have)."""
    lo = next((p for p in seen if p[1] >= total_rows // 10), None)
    hi = next((p for p in seen if p[1] >= total_rows * 9 // 10), None)
    if lo is None or hi is None or hi[0] <= lo[0]:
        return None
    return round((hi[1] - lo[1]) / (hi[0] - lo[0]))


Batch = dict[str, list[rows.Row]]  # table -> rows of one batch


def sink_batches(messages: list[tuple[str, bytes]]) -> list[Batch]:
    """The rows of the messages, cut per topic into batches of the sink's largest size (not timed)."""
    codec = EmbeddedCodec()
    by_topic: dict[str, list[bytes]] = defaultdict(list)
    for topic, raw in messages:
        by_topic[topic].append(raw)
    batches: list[Batch] = []
    for topic, raws in by_topic.items():
        for start in range(0, len(raws), BATCH_MAX):
            tables: Batch = defaultdict(list)
            for raw in raws[start : start + BATCH_MAX]:
                for table, row in rows.rows_for(topic, codec.decode(topic, raw)):
                    tables[table].append(row)
            batches.append(tables)
    return batches


def raw_rate(batches: list[Batch], store: Path, handles: int = 1) -> dict[str, Any]:
    """The same rows inserted straight with clickhouse-connect, batch by batch: through one handle (the
    baseline), or through several at once, a batch each in turn (what the sink's lanes do, for context)."""
    clients = [connect(f"chdb://{store}") for _ in range(handles)]
    try:
        migrate(clients[0])

        def insert(client: Client, share: list[Batch]) -> None:
            for tables in share:
                for table, table_rows in sorted(tables.items()):
                    client.insert(f"chargestream.{table}", table_rows, column_names=list(rows.COLUMNS[table]))

        t0 = time.perf_counter()
        with ThreadPoolExecutor(handles) as pool:
            list(pool.map(insert, clients, [batches[i::handles] for i in range(handles)]))
        seconds = time.perf_counter() - t0
    finally:
        for client in clients:
            client.close()
    n = sum(len(r) for tables in batches for r in tables.values())
    return {
        "handles": handles,
        "rows": n,
        "inserts": sum(len(t) for t in batches),
        "seconds": round(seconds, 3),
        "rows_per_s": round(n / seconds),
    }


def measure(
    n_events: int,
    samples: int = 3,
    decode: str = "clickhouse",
    writers: int = WRITERS,
    profile: Path | None = None,
) -> dict[str, Any]:
    messages = _messages(n_events, samples)
    batches = sink_batches(messages)
    total = sum(len(r) for tables in batches for r in tables.values())
    work = Path(tempfile.mkdtemp(prefix="sink-pipeline-"))
    settings = Settings(
        state_dir=work / "kafka-state",
        kafka_port=kafka_local.free_port(),
        kafka_controller_port=kafka_local.free_port(),
        kafka_bootstrap=None,
    )
    try:
        kafka_local.start_broker(settings)
        try:
            ensure_topics(settings.bootstrap, PARTITIONS)
            _produce(settings.bootstrap, messages)
            sink = sink_rate(settings.bootstrap, work / "sink-db", total, decode, writers, profile)
        finally:
            kafka_local.stop_broker(settings)
        raw = raw_rate(batches, work / "raw-db")
        parallel = raw_rate(batches, work / "raw-parallel-db", writers) if writers > 1 else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "records": len(messages),
        "samples_per_meter_value": samples,
        "decode": decode,
        "writers": writers,
        "rows": total,
        "sink": sink,
        "raw_insert": raw,
        "sink_over_raw": round(sink["rows_per_s"] / raw["rows_per_s"], 3),
        "sink_steady_over_raw": round(sink["rows_per_s_steady"] / raw["rows_per_s"], 3)
        if sink["rows_per_s_steady"]
        else None,
        # context, not the target: the raw insert through as many handles as the sink has lanes
        **(
            {
                "raw_insert_parallel": parallel,
                "sink_over_raw_parallel": round(sink["rows_per_s"] / parallel["rows_per_s"], 3),
            }
            if parallel is not None
            else {}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="charger events (plus a twentieth as many session records and a hundredth feedback); with "
        "fewer, the sink's start (the topics' first batches at once, the session records' decoded in "
        "Python) and its end (the last partial batches wait flush_seconds) weigh on the rate",
    )
    parser.add_argument("--label", default="current")
    parser.add_argument("--out", type=Path, default=Path("bench/results/sink_pipeline.json"))
    parser.add_argument(
        "--samples", type=int, default=3, help="samples per MeterValues (a real charger sends 5 to 15)"
    )
    parser.add_argument(
        "--decode",
        choices=["clickhouse", "python"],
        default="clickhouse",
        help="who decodes the charger events in the sink (CHARGESTREAM_SINK_DECODE)",
    )
    parser.add_argument(
        "--writers",
        type=int,
        default=WRITERS,
        help="the sink's writer lanes (CHARGESTREAM_SINK_WRITERS; its default)",
    )
    parser.add_argument("--profile", type=Path, help="record the sink with py-spy into this file")
    args = parser.parse_args()
    result = {
        "label": args.label,
        "python": platform.python_version(),
        **measure(args.events, args.samples, args.decode, args.writers, args.profile),
    }
    save_run(args.out, result)


if __name__ == "__main__":
    main()
