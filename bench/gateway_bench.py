"""OCPP gateway benchmark: connections held, and messages/s answered only after Kafka acknowledged them.

    .venv/bin/python -m bench.gateway_bench [--levels 250,500,1000,2000] [--clients 100] [--seconds 15]

Runs against CHARGESTREAM_KAFKA_BOOTSTRAP, or starts a local broker from the jars (like the tests) in a
temp state dir and stops it afterwards. The gateway runs in a process of its own (`serve` below, the same
code as `chargestream serve gateway` with a choice of publisher), so its RSS and CPU are its own; the
clients are raw WebSocket clients in this process sending pre-built OCPP 2.0.1 frames (one outstanding
call per connection, as OCPP requires).

Phases:
1. connections: open N stations (handshake + BootNotification each, answered after Kafka acked the
   ConnectionChange and the StationBoot), ramping through --levels while every connection holds; hold the
   last level for --hold seconds, then send a Heartbeat on each and count answers ("held").
2. throughput: --clients stations send MeterValues (2 samples) back to back for --seconds; CallResults
   per second, latency percentiles, gateway CPU.
3. baselines in the same run: the same gateway with a no-op publisher (what the OCPP handling costs without
   Kafka), and a raw idempotent acks=all producer (producers.async_publisher, same event bytes, same
   number of concurrent awaiters) without any gateway.
Results: bench/results/gateway.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from chargestream import kafka_local
from chargestream.settings import Settings
from producers.async_publisher import AsyncPublisher
from schemas.codec import EmbeddedCodec
from schemas.events import ChargerEvent, MeterValues, SampledValue, to_record
from schemas.network import NetworkConfig
from schemas.topics import CHARGER_EVENTS, ensure_topics

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "gateway.json"


# ---------------------------------------------------------------- the gateway process


class NoopPublisher:
    """Acknowledges at once: the gateway's own cost, without Kafka."""

    async def publish(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        return None

    def close(self) -> None:
        return None


async def _serve(port: int, bootstrap: str, publisher_kind: str) -> None:
    from producers.gateway.context import GatewayContext
    from producers.gateway.server import serve

    publisher: AsyncPublisher | NoopPublisher = (
        AsyncPublisher(bootstrap) if publisher_kind == "kafka" else NoopPublisher()
    )
    ctx = GatewayContext(publisher, EmbeddedCodec(), b"bench-key", NetworkConfig(dev_mode=True))
    ctx.frames_per_second = 1e9  # the bench measures what the gateway can do, not its per-station limit
    runner = await serve(ctx, "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    await stop.wait()
    await runner.cleanup()
    publisher.close()
    print(f"published {ctx.published}, dead letters {ctx.dead_letters}", flush=True)


class Gateway:
    """The gateway as a child process of this benchmark, stopped by its pid."""

    def __init__(self, bootstrap: str, publisher_kind: str, log_dir: Path) -> None:
        self.port = kafka_local.free_port()
        self.log = log_dir / f"gateway-{publisher_kind}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.gateway_bench",
                    "serve",
                    str(self.port),
                    bootstrap,
                    publisher_kind,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        deadline = time.monotonic() + 60
        while b"READY" not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start; see {self.log}")
            time.sleep(0.1)

    def rss_mb(self) -> float:
        return _proc_status_kb(self.proc.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return _proc_status_kb(self.proc.pid, "VmHWM") / 1024

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _proc_status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- clients


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _boot(uid: str) -> str:
    payload = {"reason": "PowerUp", "chargingStation": {"vendorName": "Bench", "model": "B1"}}
    return json.dumps([2, uid, "BootNotification", payload])


def _meter_values(uid: str, wh: float) -> str:
    sampled = [
        {"value": wh / 1000, "unitOfMeasure": {"unit": "kWh"}, "context": "Sample.Periodic"},
        {"value": 7.4, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}},
    ]
    return json.dumps(
        [
            2,
            uid,
            "MeterValues",
            {"evseId": 1, "meterValue": [{"timestamp": _now_iso(), "sampledValue": sampled}]},
        ]
    )


async def _call(ws: ClientConnection, frame: str) -> bool:
    await ws.send(frame)
    reply = json.loads(await ws.recv())
    return isinstance(reply, list) and reply[0] == 3


async def _open_station(port: int, station: str) -> ClientConnection | None:
    try:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/ocpp/{station}",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            open_timeout=120,
            ping_interval=None,  # the gateway pings; the client answers
            compression=None,
        )
        if await asyncio.wait_for(_call(ws, _boot(f"boot-{station}")), 120):
            return ws
        await ws.close()
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        logging.warning("%s: %s", station, exc)
    return None


async def connections_phase(gw: Gateway, levels: list[int], hold: float, run: str) -> dict[str, Any]:
    conns: list[ClientConnection] = []
    gate = asyncio.Semaphore(64)  # concurrent handshakes
    steps = []
    idle_rss = gw.rss_mb()

    async def one(i: int) -> ClientConnection | None:
        async with gate:
            return await _open_station(gw.port, f"BENCH-{run}-C{i:05d}")

    try:
        for level in levels:
            t0 = time.monotonic()
            opened = await asyncio.gather(*(one(i) for i in range(len(conns), level)))
            new = [c for c in opened if c is not None]
            conns.extend(new)
            dt = time.monotonic() - t0
            await asyncio.sleep(1.0)
            alive = sum(1 for c in conns if c.close_code is None)
            step = {
                "target": level,
                "open": alive,
                "failed": len(opened) - len(new),
                "ramp_seconds": round(dt, 2),
                "connects_per_s": round(len(opened) / dt, 1) if dt else None,
                "gateway_rss_mb": round(gw.rss_mb(), 1),
            }
            steps.append(step)
            print(f"  {step}", flush=True)
            if alive < level:
                break
        t_hold = time.monotonic()
        await asyncio.sleep(hold)
        beats = await asyncio.gather(
            *(
                asyncio.wait_for(_call(c, json.dumps([2, f"hb-{i}", "Heartbeat", {}])), 60)
                for i, c in enumerate(conns)
            ),
            return_exceptions=True,
        )
        held = sum(1 for b in beats if b is True)
        held_for = time.monotonic() - t_hold
        rss = gw.rss_mb()
    finally:
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    return {
        "levels": steps,
        "held": held,
        "held_seconds": round(held_for, 1),
        "gateway_rss_mb_idle": round(idle_rss, 1),
        "gateway_rss_mb_held": round(rss, 1),
        "rss_kb_per_connection": round((rss - idle_rss) * 1024 / max(held, 1), 1),
    }


async def throughput_phase(
    gw: Gateway, clients: int, seconds: float, warmup: float, run: str
) -> dict[str, Any]:
    conns = [
        c
        for c in await asyncio.gather(
            *(_open_station(gw.port, f"BENCH-{run}-T{i:04d}") for i in range(clients))
        )
        if c is not None
    ]
    latencies: list[float] = []
    counted = 0
    start = time.monotonic()
    measure_from, until = start + warmup, start + warmup + seconds
    cpu0: float | None = None

    async def pump(i: int, ws: ClientConnection) -> None:
        nonlocal counted
        n = 0
        while True:
            t = time.monotonic()
            if t >= until:
                return
            ok = await _call(ws, _meter_values(f"mv-{i}-{n}", 1_000_000 + n * 10))
            done = time.monotonic()
            n += 1
            if ok and t >= measure_from:
                counted += 1
                latencies.append(done - t)

    async def cpu_mark() -> None:
        nonlocal cpu0
        await asyncio.sleep(warmup)
        cpu0 = gw.cpu_seconds()

    try:
        await asyncio.gather(cpu_mark(), *(pump(i, c) for i, c in enumerate(conns)))
        cpu = gw.cpu_seconds() - (cpu0 or 0.0)
    finally:
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    return {
        "clients": len(conns),
        "seconds": seconds,
        "messages": counted,
        "msgs_per_s": round(counted / seconds, 1),
        **_percentiles(latencies),
        "gateway_cpu_pct": round(100 * cpu / seconds, 1),
        "gateway_cpu_ms_per_msg": round(1000 * cpu / max(counted, 1), 3),
    }


def _percentiles(lat: list[float]) -> dict[str, float]:
    if len(lat) < 2:
        return {}
    q = statistics.quantiles(lat, n=100)
    return {
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(max(lat) * 1000, 2),
    }


async def raw_producer_phase(
    bootstrap: str, concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    """Kafka alone: the same canonical MeterValues event, encoded and published idempotently with acks=all,
    each of `concurrency` tasks awaiting its delivery before the next (like a station awaiting its answer)."""
    publisher = AsyncPublisher(bootstrap)
    codec = EmbeddedCodec()
    counted = 0
    latencies: list[float] = []
    start = time.monotonic()
    measure_from, until = start + warmup, start + warmup + seconds

    async def worker(i: int) -> None:
        nonlocal counted
        n = 0
        station = f"BENCH-RAW-{i:04d}"
        while (t := time.monotonic()) < until:
            at = int(time.time() * 1000)
            samples = (
                SampledValue(at, "Wh", 1_000_000.0 + n, str(1000 + n / 1000), raw_unit="kWh"),
                SampledValue(at, "W", 7400.0, "7.4", measurand="Power.Active.Import", raw_unit="kW"),
            )
            ev = ChargerEvent(
                f"raw-{i}-{n}", station, 1, at, at, "ocpp2.0.1", MeterValues(samples), evse_id=1
            )
            await publisher.publish(
                CHARGER_EVENTS, station.encode(), codec.encode(CHARGER_EVENTS, to_record(ev))
            )
            n += 1
            if t >= measure_from:
                counted += 1
                latencies.append(time.monotonic() - t)

    try:
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    finally:
        publisher.close()
    return {
        "concurrency": concurrency,
        "seconds": seconds,
        "messages": counted,
        "msgs_per_s": round(counted / seconds, 1),
        **_percentiles(latencies),
    }


# ---------------------------------------------------------------- orchestration


@contextlib.contextmanager
def kafka(state: Path) -> Iterator[tuple[str, str]]:
    external = os.environ.get("CHARGESTREAM_KAFKA_BOOTSTRAP")
    if external:
        ensure_topics(external, partitions=3)
        yield external, f"external cluster at {external}"
        return
    settings = Settings(
        state_dir=state,
        cache_dir=REPO / ".chargestream",
        kafka_port=kafka_local.free_port(),
        kafka_controller_port=kafka_local.free_port(),
        kafka_bootstrap=None,
    )
    kafka_local.start_broker(settings)
    try:
        ensure_topics(settings.bootstrap, partitions=3)
        yield (
            settings.bootstrap,
            f"Apache Kafka {kafka_local.broker_version(settings)} (local jars, KRaft, 1 node)",
        )
    finally:
        kafka_local.stop_broker(settings)


def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = datetime.now(UTC).strftime("%H%M%S")
    levels = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp, kafka(Path(tmp)) as (bootstrap, broker):
        print(f"broker: {broker} at {bootstrap}", flush=True)
        out: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "broker": broker,
            "note": "gateway, broker and clients share the machine; clients: raw WebSockets, one process",
        }
        gw = Gateway(bootstrap, "kafka", Path(tmp))
        try:
            print(f"connections phase (levels {levels}, hold {args.hold:g} s)", flush=True)
            out["connections"] = asyncio.run(connections_phase(gw, levels, args.hold, run_id))
            print(f"  {out['connections']}", flush=True)
            print(f"throughput with Kafka ({args.clients} clients, {args.seconds:g} s)", flush=True)
            kafka_tp = asyncio.run(
                throughput_phase(gw, args.clients, args.seconds, args.warmup, run_id + "k")
            )
            kafka_tp["gateway_peak_rss_mb"] = round(gw.peak_rss_mb(), 1)
            print(f"  {kafka_tp}", flush=True)
        finally:
            gw.stop()
        noop = Gateway(bootstrap, "noop", Path(tmp))
        try:
            print("throughput with a no-op publisher", flush=True)
            noop_tp = asyncio.run(
                throughput_phase(noop, args.clients, args.seconds, args.warmup, run_id + "n")
            )
            print(f"  {noop_tp}", flush=True)
        finally:
            noop.stop()
        print("raw idempotent producer, no gateway", flush=True)
        raw = asyncio.run(raw_producer_phase(bootstrap, args.clients, args.seconds, args.warmup))
        print(f"  {raw}", flush=True)
        out["throughput"] = {
            "message": "OCPP 2.0.1 MeterValues, 2 sampled values, answered after the event is in Kafka",
            "gateway_kafka": kafka_tp,
            "gateway_noop_publisher": noop_tp,
            "raw_producer": raw,
            "gateway_vs_noop_publisher": round(kafka_tp["msgs_per_s"] / max(noop_tp["msgs_per_s"], 1e-9), 3),
            "gateway_vs_raw_producer": round(kafka_tp["msgs_per_s"] / max(raw["msgs_per_s"], 1e-9), 3),
        }
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":  # the gateway child: serve PORT BOOTSTRAP PUBLISHER
        # as producers.gateway.service configures it
        logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
        logging.getLogger("ocpp").setLevel(logging.WARNING)
        asyncio.run(_serve(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
        return
    p = argparse.ArgumentParser(prog="python -m bench.gateway_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", default="250,500,1000,2000", help="connection counts to ramp through")
    p.add_argument("--hold", type=float, default=30.0, help="seconds to hold the last level")
    p.add_argument("--clients", type=int, default=100, help="concurrent stations in the throughput phases")
    p.add_argument("--seconds", type=float, default=15.0, help="measured seconds per throughput phase")
    p.add_argument(
        "--warmup", type=float, default=3.0, help="unmeasured seconds before each throughput phase"
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"results in {args.out}")


if __name__ == "__main__":
    main()
