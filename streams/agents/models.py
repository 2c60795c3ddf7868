"""The model agent: relayed fault alerts of one vendor + model + firmware + code, across sites, through
the model stage to `alerts.faults` (model_firmware_cluster). One message at a time, as the site agent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import faust

from schemas.records import Alert
from schemas.topics import ALERTS_FAULTS
from streams.agents.delivery import delivered
from streams.agents.fault_news import alert_json, dump_stage, load_stage, read_news
from streams.agents.metrics import count_alert
from streams.faults.model_clusters import ModelFaults, ModelKey, on_fault
from streams.worker import Worker


def register(worker: Worker) -> None:
    @worker.app.agent(worker.by_model, name="models")
    async def models_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for key, value in stream.items():
            raw_key = bytes(key or b"")
            news = read_news(value)
            assert isinstance(news, Alert)
            state = load_stage(worker.models.get(raw_key)) or ModelFaults(
                ModelKey(*raw_key.decode().split("|", 3))
            )
            alerts = on_fault(state, news, worker.policy.fault_rules_for(news.site_id))
            for alert in alerts:
                count_alert(alert)
                await worker.alerts[ALERTS_FAULTS].send(key=str(state.key).encode(), value=alert_json(alert))
            if alerts:
                await delivered(worker)  # before the state that says they were sent
            worker.models[raw_key] = dump_stage(state)
            yield None
