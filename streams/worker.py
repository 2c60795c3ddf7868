"""The stream worker, built from a config, a policy and a codec: a Faust app with its topics, its
station table and its agents. Nothing happens at import time; `build_worker` can run in a test.

Each agent lives in a module of its own under `streams/agents/` and registers itself on the worker;
the Faust-state plumbing is `streams/station_table.py`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import faust

from schemas.codec import Codec
from schemas.topics import (
    ALERT_TOPICS,
    CHARGER_EVENTS,
    DRIVER_FEEDBACK,
    OPS_RESOLUTIONS,
    PORT_OUTAGES,
    SESSIONS,
    dlq,
    faults_by_model,
    faults_by_site,
    maintenance_by_station,
)
from streams.config import WorkerConfig
from streams.gateway_clock import GatewayClock
from streams.policy import Policy


@dataclass
class Worker:
    app: faust.App
    config: WorkerConfig
    policy: Policy
    codec: Codec
    events: Any  # faust topics and table (faust's own types are not generic enough to name here)
    sessions: Any
    alerts: dict[str, Any]  # alert topic -> faust topic
    events_dlq: Any
    stations: Any
    by_site: Any  # station fault alerts and boots, keyed by site (agents/sites.py)
    by_model: Any  # relayed fault alerts, keyed by vendor + model + firmware + code (agents/models.py)
    sites: Any
    models: Any
    feedback: Any  # driver.feedback, relayed to by_station (agents/feedback.py)
    feedback_dlq: Any
    resolutions: Any  # ops.resolutions, relayed to by_station (agents/resolutions.py)
    resolutions_dlq: Any
    by_station: Any  # what the maintenance stage hears of each station, keyed by station
    care: Any  # the maintenance stage's table (agents/maintenance.py)
    outages: Any  # port.outages (streams/uptime.py)
    # station -> (monotonic time of its last event, its partition, its watermark, its last offset),
    # while it holds events; in memory, re-armed from the stored states after a restart (timers.py).
    waiting: dict[str, tuple[float, int, int, int]] = field(default_factory=dict)
    # The fault clock (agents/clock.py), in memory like `waiting`: per partition the newest event
    # time of its stations, per station its partition and when its next fault timer is due.
    partition_time: dict[int, int] = field(default_factory=dict)
    fault_due: dict[str, tuple[int, int]] = field(default_factory=dict)
    gateway_clock: GatewayClock = field(default_factory=GatewayClock)  # the gateways' ticks, per partition


def build_worker(config: WorkerConfig, policy: Policy, codec: Codec) -> Worker:
    from streams.agents import (
        clock,
        feedback,
        flush,
        maintenance,
        models,
        resolutions,
        sessions,
        sites,
        timers,
    )

    app = faust.App(
        config.worker_id,
        broker=f"kafka://{config.bootstrap}",
        store="rocksdb://",
        datadir=str(config.data_dir),
        web_enabled=False,
        topic_partitions=config.partitions,
        topic_replication_factor=1,
        processing_guarantee="at_least_once",
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
        broker_session_timeout=config.session_timeout_s,
        broker_heartbeat_interval=config.session_timeout_s / 4,
    )

    def raw(name: str, **kw: Any) -> Any:
        return app.topic(name, key_serializer="raw", value_serializer="raw", **kw)

    worker = Worker(
        app,
        config,
        policy,
        codec,
        events=raw(CHARGER_EVENTS, partitions=config.partitions),
        sessions=raw(SESSIONS),
        alerts={t: raw(t) for t in ALERT_TOPICS},
        events_dlq=raw(dlq(CHARGER_EVENTS)),
        stations=app.Table(
            "stations", default=None, partitions=config.partitions, key_type=bytes, value_type=bytes
        ),
        # The fault stages' own topics, named after the app (each worker group has its own); created
        # before the worker starts (schemas.topics.worker_topics).
        by_site=raw(faults_by_site(config.worker_id), partitions=config.partitions),
        by_model=raw(faults_by_model(config.worker_id), partitions=config.partitions),
        sites=app.Table(
            "sites", default=None, partitions=config.partitions, key_type=bytes, value_type=bytes
        ),
        models=app.Table(
            "models", default=None, partitions=config.partitions, key_type=bytes, value_type=bytes
        ),
        feedback=raw(DRIVER_FEEDBACK),
        feedback_dlq=raw(dlq(DRIVER_FEEDBACK)),
        resolutions=raw(OPS_RESOLUTIONS),
        resolutions_dlq=raw(dlq(OPS_RESOLUTIONS)),
        by_station=raw(maintenance_by_station(config.worker_id), partitions=config.partitions),
        outages=raw(PORT_OUTAGES),
        care=app.Table("care", default=None, partitions=config.partitions, key_type=bytes, value_type=bytes),
    )
    sessions.register(worker)
    sites.register(worker)
    models.register(worker)
    feedback.register(worker)
    resolutions.register(worker)
    maintenance.register(worker)
    flush.register(worker)
    clock.register(worker)
    timers.register(worker)
    _register_readiness(worker)
    return worker


def _register_readiness(worker: Worker) -> None:
    run_dir = worker.config.run_dir
    if run_dir is None:
        return
    app = worker.app

    @app.timer(interval=1.0)  # type: ignore[untyped-decorator]
    async def mark_ready() -> None:
        # The stack runner waits for this file: the worker has partitions and is past recovery.
        ready = run_dir / "worker.ready"
        if not ready.exists() and app.consumer.assignment() and not app.rebalancing:
            run_dir.mkdir(parents=True, exist_ok=True)
            ready.write_text(str(time.time()))
