"""The topic contract (ARCHITECTURE.md §4) and its idempotent creation."""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient, NewTopic

from chargestream.errors import SetupError

CHARGER_EVENTS = "charger.events"
DRIVER_FEEDBACK = "driver.feedback"
SESSIONS = "sessions"
ALERTS_IDLE = "alerts.idle"
ALERTS_FAULTS = "alerts.faults"
ALERTS_MAINTENANCE = "alerts.maintenance"
ALERT_TOPICS = (ALERTS_IDLE, ALERTS_FAULTS, ALERTS_MAINTENANCE)


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
    ]
    dlqs = [TopicSpec(dlq(t.name), {"retention.ms": str(30 * 24 * 3600 * 1000)}) for t in base]
    return base + dlqs


def ensure_topics(bootstrap: str, partitions: int, timeout: float = 30.0) -> list[str]:
    """Create missing contract topics; returns the names created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except Exception as exc:  # KafkaException: broker unreachable
        raise SetupError(
            f"cannot reach Kafka at {bootstrap} ({exc}): is the broker up? try `chargestream up`"
        ) from exc
    wanted = [t for t in contract_topics() if t.name not in existing]
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
    return created
