"""The feedback agent: driver reports from `driver.feedback` (Avro) to the maintenance stage, keyed by
station on the worker's own topic.

Why a relay and not the stage reading `driver.feedback` itself: the stage's table follows the partition
of the message it handles, and the gateway's producer (librdkafka) and Faust's (murmur2) put one station
on different partitions; re-keyed here, every news item of a station meets its state. A record that
cannot be read goes to `driver.feedback.dlq` with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import faust

from schemas.errors import RecordError
from schemas.records import Feedback
from schemas.topics import DRIVER_FEEDBACK
from streams.agents.care_news import care_news
from streams.agents.dead_letters import dead_letter
from streams.worker import Worker


def register(worker: Worker) -> None:
    @worker.app.agent(worker.feedback, name="feedback")
    async def feedback_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            msg = event.message
            try:
                fb = Feedback.from_dict(worker.codec.decode(DRIVER_FEEDBACK, msg.value or b""))
            except RecordError as exc:
                await dead_letter(worker.feedback_dlq, event, str(exc), "feedback")
                yield None
                continue
            await worker.by_station.send(key=fb.station_id.encode(), value=care_news(fb))
            yield None
