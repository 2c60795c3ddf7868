"""The local stack: broker, topics, stream worker, sink (+ query endpoint). Up, down, status."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from chargestream import kafka_local
from chargestream.processes import Managed
from chargestream.query import sink_process
from chargestream.settings import Settings
from schemas.errors import SetupError
from schemas.topics import CHARGER_EVENTS, ensure_topics
from sinks.service import SINK_TOPICS

Say = Callable[[str], None]


def worker_process(settings: Settings) -> Managed:
    return Managed("worker", settings.run_dir, settings.logs_dir)


def gateway_process(settings: Settings) -> Managed:
    return Managed("gateway", settings.run_dir, settings.logs_dir)


def _wait_until(ready: Callable[[], bool], proc: Managed, timeout: float, what: str) -> None:
    """Poll `ready` until it holds; fail fast (with the log's tail) if the process dies meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.pid() is None:
            raise SetupError(f"the {what} exited at start; see {proc.log_file}:\n{proc.log_tail()}")
        time.sleep(0.2)
    raise SetupError(f"the {what} was not ready within {timeout:.0f} s; see {proc.log_file}")


SERVE = [sys.executable, "-m", "chargestream.cli", "serve"]
# Settings that are secrets, and the only components that get them: a query that reads a process's
# environment (or a crash dump of it) must find nothing it could forge bills or idTag hashes with.
SECRETS: dict[str, frozenset[str]] = {
    "id_token_key": frozenset({"gateway"}),
    "clickhouse_url": frozenset({"sink"}),  # may carry a password
}


def child_env(settings: Settings, component: str) -> dict[str, str]:
    """The environment for one of our processes: every setting explicit, so they agree with the CLI,
    except the secrets this component does not need (also when they came from our own environment)."""
    env = {k: v for k, v in os.environ.items() if not _withheld(k, component)}
    for name, value in settings.model_dump(mode="json").items():
        key = f"CHARGESTREAM_{name.upper()}"
        if value is not None and not _withheld(key, component):
            # nested settings (fault_rules) as JSON, which pydantic-settings reads back
            env[key] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return env


def _withheld(env_key: str, component: str) -> bool:
    name = env_key.removeprefix("CHARGESTREAM_").lower()
    return env_key.startswith("CHARGESTREAM_") and component not in SECRETS.get(name, frozenset({component}))


def up(settings: Settings, say: Say = print, timeout: float = 120.0) -> None:
    """Start every component that is not running yet and return once all are ready.

    If any component fails, the ones this call started are stopped again: no half stack is left.
    """
    already = {
        p.name
        for p in (worker_process(settings), sink_process(settings), gateway_process(settings))
        if p.pid() is not None
    }
    if settings.uses_local_broker and kafka_local.broker_process(settings).pid() is not None:
        already.add("kafka")
    try:
        _up(settings, say, timeout)
    except BaseException:
        for proc in (
            gateway_process(settings),
            sink_process(settings),
            worker_process(settings),
            kafka_local.broker_process(settings),
        ):
            if proc.name not in already:
                proc.stop()
        raise


def _up(settings: Settings, say: Say, timeout: float) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    if settings.uses_local_broker:
        pid = kafka_local.start_broker(settings)
        version = kafka_local.broker_version(settings)
        say(f"kafka      pid {pid}  {settings.bootstrap}  (Apache Kafka {version}, KRaft)")
    created = ensure_topics(settings.bootstrap, settings.topic_partitions)
    say(f"topics     {len(created)} created" if created else "topics     present")
    worker = worker_process(settings)
    if worker.pid() is None:
        (settings.run_dir / "worker.ready").unlink(missing_ok=True)
        (settings.run_dir / "worker.crashed").unlink(missing_ok=True)
        worker.start(
            [*SERVE, "worker"],
            env=child_env(settings, "worker"),
        )
    sink = sink_process(settings)
    if sink.pid() is None:
        if settings.uses_embedded_clickhouse and not kafka_local.port_free(
            settings.query_host, settings.query_port
        ):
            raise SetupError(
                f"port {settings.query_port} (query endpoint) is in use by another process: stop it "
                "or choose another with CHARGESTREAM_QUERY_PORT"
            )
        (settings.run_dir / "sink.ready").unlink(missing_ok=True)
        sink.start([*SERVE, "sink"], env=child_env(settings, "sink"))
    gateway = gateway_process(settings)
    if gateway.pid() is None:
        if not kafka_local.port_free(settings.gateway_host, settings.gateway_port):
            raise SetupError(
                f"port {settings.gateway_port} (OCPP gateway) is in use by another process: stop it "
                "or choose another with CHARGESTREAM_GATEWAY_PORT"
            )
        gateway.start([*SERVE, "gateway"], env=child_env(settings, "gateway"))
    _wait_until((settings.run_dir / "worker.ready").exists, worker, timeout, "stream worker")
    say(f"worker     pid {worker.pid()}  Faust app {settings.worker_id}")
    _wait_until((settings.run_dir / "sink.ready").exists, sink, timeout, "sink")
    where = (
        f"query endpoint http://{settings.query_host}:{settings.query_port}"
        if settings.uses_embedded_clickhouse
        else settings.clickhouse_dsn
    )
    say(f"sink       pid {sink.pid()}  {where}")

    def gateway_listens() -> bool:
        return not kafka_local.port_free(settings.gateway_host, settings.gateway_port)

    _wait_until(gateway_listens, gateway, timeout, "OCPP gateway")
    say(
        f"gateway    pid {gateway.pid()}  ws://{settings.gateway_host}:{settings.gateway_port}/ocpp/{{station_id}}"
    )
    say(f"ready in {time.monotonic() - t0:.1f} s; state in {settings.state_dir}")


def down(settings: Settings, say: Say = print) -> list[str]:
    """Stop our processes, by pid, sink first so that it commits what it wrote."""
    stopped = []
    for proc in (gateway_process(settings), sink_process(settings), worker_process(settings)):
        if proc.stop():
            stopped.append(proc.name)
    if settings.uses_local_broker and kafka_local.stop_broker(settings):
        stopped.append("kafka")
    for name in ("worker.ready", "sink.ready"):
        (settings.run_dir / name).unlink(missing_ok=True)
    say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return stopped


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    detail: str


def status(settings: Settings) -> list[ComponentStatus]:
    rows = []
    if settings.uses_local_broker:
        rows.append(
            ComponentStatus(
                "kafka",
                kafka_local.broker_process(settings).pid(),
                f"{settings.bootstrap} (Kafka {kafka_local.broker_version(settings)})",
            )
        )
    else:
        rows.append(ComponentStatus("kafka", None, f"external: {settings.bootstrap}"))
    rows.append(
        ComponentStatus(
            "gateway",
            gateway_process(settings).pid(),
            f"ws://{settings.gateway_host}:{settings.gateway_port}/ocpp/{{station_id}}",
        )
    )
    worker_pid = worker_process(settings).pid()
    crashed = settings.run_dir / "worker.crashed"
    detail = f"group {settings.worker_id}"
    if worker_pid is None and crashed.exists():
        detail += f"; CRASHED {crashed.read_text()[:300]} (see {worker_process(settings).log_file})"
    rows.append(ComponentStatus("worker", worker_pid, detail))
    rows.append(ComponentStatus("sink", sink_process(settings).pid(), settings.clickhouse_dsn))
    return rows


def consumer_lag(settings: Settings, group: str, topics: list[str], timeout: float = 10.0) -> int | None:
    """Messages the group has not committed yet over the topics; None when Kafka does not answer."""
    c = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        md = c.list_topics(timeout=timeout)
        tps = [TopicPartition(t, p) for t in topics if t in md.topics for p in md.topics[t].partitions]
        committed = c.committed(tps, timeout=timeout)
        lag = 0
        for tp in committed:
            _low, high = c.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=timeout)
            lag += high - (tp.offset if tp.offset >= 0 else _low)
        return lag
    except Exception:
        return None
    finally:
        c.close()


def lags(settings: Settings) -> dict[str, int | None]:
    return {
        "worker": consumer_lag(settings, settings.worker_id, [CHARGER_EVENTS]),
        "sink": consumer_lag(settings, settings.sink_group, SINK_TOPICS),
    }
