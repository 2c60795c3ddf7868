"""Dead-letter records: the original bytes and key, with the reason and origin in headers."""

from __future__ import annotations

import time


def dlq_headers(
    reason: str, source_topic: str, partition: int, offset: int, stage: str
) -> list[tuple[str, bytes]]:
    return [
        ("dlq.reason", reason.encode()[:2000]),
        ("dlq.source.topic", source_topic.encode()),
        ("dlq.source.partition", str(partition).encode()),
        ("dlq.source.offset", str(offset).encode()),
        ("dlq.stage", stage.encode()),
        ("dlq.time_ms", str(int(time.time() * 1000)).encode()),
    ]
