"""The maintenance agent: each station's news (the station engine's bills, statuses, alerts and time;
driver feedback; ops' resolutions) through the maintenance stage, to `alerts.maintenance` (dispatches) and
`alerts.idle` (idle alerts with the drivers' reports joined; this stage is their only writer).

One message at a time, as the site agent: outputs are sent before the state is saved, and a re-run
message changes nothing the second time (the stage skips what it has seen).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import faust

from schemas.topics import alert_topic
from streams.agents.care_news import read_care_news
from streams.agents.delivery import delivered
from streams.agents.fault_news import alert_json, dump_stage, load_stage
from streams.agents.metrics import count_alert
from streams.maintenance import StationCare
from streams.maintenance.stage import apply
from streams.worker import Worker


def register(worker: Worker) -> None:
    @worker.app.agent(worker.by_station, name="maintenance")
    async def maintenance_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for key, value in stream.items():
            raw_key = bytes(key or b"")
            state = load_stage(worker.care.get(raw_key)) or StationCare(raw_key.decode())
            alerts = apply(state, read_care_news(value), worker.policy.fault_rules_for)
            for alert in alerts:
                topic = worker.alerts[alert_topic(alert.type)]
                count_alert(alert)
                await topic.send(key=raw_key, value=alert_json(alert))
            if alerts:
                await delivered(worker)  # before the state that says they were sent
            worker.care[raw_key] = dump_stage(state)
            yield None
