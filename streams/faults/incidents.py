"""The fault stages after the station engine, composed as the worker runs them: each station alert goes
to its site's stage (keyed by `site_key`), whose relays of fault alerts go on to the model stage (keyed
by vendor + model + firmware + code). The worker runs each stage as an agent over a topic keyed that
way; replays, benchmarks and tests run them here, in one process. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.records import Alert
from streams.faults.model_clusters import ModelFaults, ModelKey, model_key, on_fault
from streams.faults.rules import FaultRules
from streams.faults.site_incidents import SiteFaults, StationSeen, on_alert, on_station

SITE_TYPES = frozenset({"connector_fault", "station_fault", "station_offline", "flapping", "start_failures"})
"""The station alerts the site stage relays to `alerts.faults` (idle alerts go to `alerts.idle` directly)."""


def site_key(site_id: str | None, station_id: str) -> str:
    """The site stage a station's alerts go to: its site, or the station alone when it names none."""
    return site_id or f"station:{station_id}"


def model_news(site: SiteFaults, relayed: Alert) -> ModelKey | None:
    """Where a relayed alert goes next: the model stage of its station's model and its fault code."""
    seen = site.stations.get(relayed.station_id or "")
    return model_key(relayed, seen.vendor, seen.model, seen.firmware) if seen else None


@dataclass
class Incidents:
    """All stages in one process, fed in the order the station engine emits."""

    rules_for: Callable[[str | None], FaultRules]
    sites: dict[str, SiteFaults] = field(default_factory=dict)
    models: dict[str, ModelFaults] = field(default_factory=dict)

    def site(self, key: str) -> SiteFaults:
        if key not in self.sites:
            self.sites[key] = SiteFaults(key)
        return self.sites[key]

    def station(self, seen: StationSeen) -> None:
        on_station(self.site(seen.site_id), seen)

    def alert(self, alert: Alert) -> list[Alert]:
        if alert.type not in SITE_TYPES:
            return [alert]
        site = self.site(site_key(alert.site_id, alert.station_id or ""))
        rules = self.rules_for(alert.site_id)
        out: list[Alert] = []
        for relayed in on_alert(site, alert, rules):
            out.append(relayed)
            key = model_news(site, relayed)
            if key is not None:
                model = self.models.setdefault(str(key), ModelFaults(key))
                out += on_fault(model, relayed, rules)
        return out
