"""Every stage after the station engine in one process, fed as the worker feeds them: the site and model
stages (`alerts.faults`), then the maintenance stage (`alerts.idle`, `alerts.maintenance`). For replays,
benchmarks and tests; the worker runs each stage as an agent over its own topic. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.records import Alert, Feedback, Resolution
from streams.faults.incidents import SITE_TYPES, Incidents
from streams.faults.rules import FaultRules
from streams.maintenance.stage import Maintenance, engine_news
from streams.station import Output


@dataclass
class Downstream:
    rules_for: Callable[[str | None], FaultRules]
    incidents: Incidents = field(init=False)
    maintenance: Maintenance = field(init=False)

    def __post_init__(self) -> None:
        self.incidents = Incidents(self.rules_for)
        self.maintenance = Maintenance(self.rules_for)

    def take(self, released: Output) -> list[Alert]:
        """What the station engine released for one event: the alerts ops receive, in order."""
        out: list[Alert] = []
        for seen in released.stations:
            self.incidents.station(seen)
        for alert in released.alerts:
            if alert.type in SITE_TYPES:
                out += self.incidents.alert(alert)
        # every station alert to the maintenance stage as the engine made it (idle ones it relays)
        for news in engine_news(released.sessions, released.statuses, released.alerts, released.told):
            out += self.maintenance.hear(news)
        return out

    def feedback(self, fb: Feedback) -> list[Alert]:
        return self.maintenance.feedback(fb)

    def resolution(self, res: Resolution) -> list[Alert]:
        return self.maintenance.resolution(res)
