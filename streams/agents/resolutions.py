"""The resolutions agent: ops' hand resolutions (`chargestream alerts resolve`, JSON on
`ops.resolutions`) to the maintenance stage that owns the alert, which publishes the resolved version.
A message that is not a resolution goes to `ops.resolutions.dlq` with the reason."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import faust

from schemas.errors import RecordError
from schemas.records import Resolution
from streams.agents.care_news import care_news
from streams.agents.dead_letters import dead_letter
from streams.worker import Worker


def read_resolution(raw: bytes) -> Resolution:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RecordError("a resolution is a JSON object")
    return Resolution.from_dict(data)


def register(worker: Worker) -> None:
    @worker.app.agent(worker.resolutions, name="resolutions")
    async def resolutions_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            msg = event.message
            try:
                res = read_resolution(msg.value or b"")
            except RecordError as exc:
                await dead_letter(worker.resolutions_dlq, event, str(exc), "resolutions")
                yield None
                continue
            await worker.by_station.send(key=res.station_id.encode(), value=care_news(res))
            yield None
