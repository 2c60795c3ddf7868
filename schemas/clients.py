"""Kafka client settings every producer of ours shares (gateway, SDK, worker DLQ, sink DLQ)."""

from __future__ import annotations

from typing import Any


def producer_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """librdkafka settings of a producer that never loses or reorders what it was given."""
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,  # implies acks=all and ordered retries
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        **extra,
    }
