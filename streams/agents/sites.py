"""The site agent: each site's station alerts through the site stage (site_outage, site_fault_burst,
folded members) to `alerts.faults`, and the relayed fault alerts on to the model stage.

One message at a time, so Faust's current event is the message's own and the table reads and writes
the site's own partition. Outputs are sent before the state is saved: a crash in between re-runs the
message, and the stage's source-version check makes the re-run send nothing twice (the state is
written once the broker has the outputs: `streams.agents.delivery`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import faust

from schemas.records import Alert
from schemas.topics import ALERTS_FAULTS
from streams.agents.delivery import delivered
from streams.agents.fault_news import alert_json, alert_news, dump_stage, load_stage, read_news
from streams.agents.metrics import count_alert
from streams.faults.incidents import model_news
from streams.faults.site_incidents import SiteFaults, StationSeen, on_alert, on_station
from streams.worker import Worker


def register(worker: Worker) -> None:
    @worker.app.agent(worker.by_site, name="sites")
    async def sites_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for key, value in stream.items():
            site_id = bytes(key or b"").decode()
            state = load_stage(worker.sites.get(site_id.encode())) or SiteFaults(site_id)
            news = read_news(value)
            if isinstance(news, StationSeen):
                on_station(state, news)
            else:
                alerts = on_alert(state, news, worker.policy.fault_rules_for(news.site_id))
                for alert in alerts:
                    await _publish(worker, state, alert)
                if alerts:
                    await delivered(worker)
            worker.sites[site_id.encode()] = dump_stage(state)
            yield None


async def _publish(worker: Worker, state: SiteFaults, alert: Alert) -> None:
    topic = worker.alerts[ALERTS_FAULTS]
    count_alert(alert)
    await topic.send(key=(alert.station_id or alert.site_id or "").encode(), value=alert_json(alert))
    key = model_news(state, alert)
    if key is not None:
        await worker.by_model.send(key=str(key).encode(), value=alert_news(alert))
