"""Input an agent cannot use goes to its topic's DLQ as it came, with the reason in the headers."""

from __future__ import annotations

import logging
from typing import Any

from faust.types import EventT

from schemas.dlq import dlq_headers
from streams.agents import metrics

log = logging.getLogger(__name__)


async def dead_letter(dlq: Any, event: EventT[bytes], reason: str, stage: str) -> None:
    msg = event.message
    metrics.DEAD_LETTERS.labels(stage).inc()
    log.warning("%s[%d]@%d to DLQ: %s", msg.topic, msg.partition, msg.offset, reason)
    await dlq.send(
        key=msg.key,
        value=msg.value,
        headers=dlq_headers(reason, msg.topic, msg.partition, msg.offset, stage),
    )
