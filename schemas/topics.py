"""The topic contract (ARCHITECTURE.md §4) and its idempotent creation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from schemas.errors import SetupError

CHARGER_EVENTS = "charger.events"
DRIVER_FEEDBACK = "driver.feedback"
SESSIONS = "sessions"
ALERTS_IDLE = "alerts.idle"
ALERTS_FAULTS = "alerts.faults"
ALERTS_MAINTENANCE = "alerts.maintenance"
ALERT_TOPICS = (ALERTS_IDLE, ALERTS_FAULTS, ALERTS_MAINTENANCE)
PORT_OUTAGES = "port.outages"  # the spans each port could not charge, for uptime (JSON, key station_id)
OPS_RESOLUTIONS = "ops.resolutions"  # `chargestream alerts resolve` → the stage that owns the alert


def alert_topic(alert_type: str) -> str:
    """Where ops subscribe to an alert of this type: idle cars, dispatches, and every other fault."""
    if alert_type == "idle":
        return ALERTS_IDLE
    if alert_type == "maintenance_dispatch":
        return ALERTS_MAINTENANCE
    return ALERTS_FAULTS


def dlq(topic: str) -> str:
    return f"{topic}.dlq"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    config: dict[str, str] = field(default_factory=dict)


def contract_topics() -> list[TopicSpec]:
    """Every contract topic and its dead-letter topic."""
    week = str(7 * 24 * 3600 * 1000)
    base = [
        TopicSpec(CHARGER_EVENTS, {"retention.ms": week}),
        TopicSpec(DRIVER_FEEDBACK, {"retention.ms": week}),
        # Session records are keyed by session_id; the newest version per key is what counts.
        TopicSpec(SESSIONS, {"cleanup.policy": "compact,delete", "retention.ms": str(30 * 24 * 3600 * 1000)}),
        *(TopicSpec(t, {"retention.ms": week}) for t in ALERT_TOPICS),
        TopicSpec(OPS_RESOLUTIONS, {"retention.ms": week}),
        TopicSpec(PORT_OUTAGES, {"retention.ms": week}),
    ]
    dlqs = [TopicSpec(dlq(t.name), {"retention.ms": str(30 * 24 * 3600 * 1000)}) for t in base]
    return base + dlqs


def worker_changelog(worker_id: str) -> TopicSpec:
    """The changelog of the worker's station table (named as Faust names it). Created before the
    worker starts: a worker that creates it itself may find it missing from its own metadata on the
    first write, and Faust then fails the agent (PartitionsMismatch: "the changelog has 0
    partitions")."""
    return TopicSpec(f"{worker_id}-stations-changelog", {"cleanup.policy": "compact"})


def faults_by_site(worker_id: str) -> str:
    """The worker's own topic of station fault alerts and boots, keyed by site (the site stage)."""
    return f"{worker_id}-faults-by-site"


def faults_by_model(worker_id: str) -> str:
    """The worker's own topic of relayed fault alerts, keyed by vendor + model + firmware + code."""
    return f"{worker_id}-faults-by-model"


def maintenance_by_station(worker_id: str) -> str:
    """The worker's own topic of what the maintenance stage hears of each station, keyed by station."""
    return f"{worker_id}-maintenance-by-station"


def worker_topics(worker_id: str) -> list[TopicSpec]:
    """Every topic the worker writes for itself, created before it starts (see worker_changelog)."""
    compact = {"cleanup.policy": "compact"}
    return [
        worker_changelog(worker_id),
        TopicSpec(f"{worker_id}-sites-changelog", compact),
        TopicSpec(f"{worker_id}-models-changelog", compact),
        TopicSpec(f"{worker_id}-care-changelog", compact),
        TopicSpec(faults_by_site(worker_id), {"retention.ms": str(7 * 24 * 3600 * 1000)}),
        TopicSpec(faults_by_model(worker_id), {"retention.ms": str(7 * 24 * 3600 * 1000)}),
        TopicSpec(maintenance_by_station(worker_id), {"retention.ms": str(7 * 24 * 3600 * 1000)}),
    ]


def _leaders_serve(admin: AdminClient, names: list[str], partitions: int) -> bool:
    """Listed is not yet usable: until each partition's leader has taken over, a client asking it for
    offsets gets NOT_LEADER_FOR_PARTITION. Ask, as a client will."""
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    request = {TopicPartition(n, p): latest for n in names for p in range(partitions)}
    try:
        for fut in admin.list_offsets(request, request_timeout=5).values():
            fut.result()
    except KafkaException:
        return False
    return True


def ensure_topics(
    bootstrap: str, partitions: int, timeout: float = 30.0, topics: list[TopicSpec] | None = None
) -> list[str]:
    """Create missing topics (default: the contract topics) and wait until the broker lists each
    with its partitions; returns the names created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except Exception as exc:  # KafkaException: broker unreachable
        raise SetupError(
            f"cannot reach Kafka at {bootstrap} ({exc}): is the broker up? try `chargestream up`"
        ) from exc
    wanted = [t for t in (contract_topics() if topics is None else topics) if t.name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [NewTopic(t.name, num_partitions=partitions, replication_factor=1, config=t.config) for t in wanted],
        operation_timeout=timeout,
    )
    created = []
    for name, fut in futures.items():
        try:
            fut.result()
            created.append(name)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise SetupError(f"creating topic {name} failed: {exc}") from exc
    deadline = time.monotonic() + timeout
    while True:
        listed = admin.list_topics(timeout=timeout).topics
        if all(t.name in listed and len(listed[t.name].partitions) == partitions for t in wanted) and (
            _leaders_serve(admin, [t.name for t in wanted], partitions)
        ):
            return created
        if time.monotonic() > deadline:
            raise SetupError(
                f"topics {[t.name for t in wanted]} were created but the broker does not serve them all yet"
            )
        time.sleep(0.1)
