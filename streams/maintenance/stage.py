"""The maintenance stage in one process (replays, benchmarks, tests), fed as the worker feeds its agent:
the station engine's bills, statuses and idle alerts, the site stage's relayed station alerts, driver
feedback and ops' resolutions, each to its station's state. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.records import Alert, Feedback, Resolution, SessionRecord
from streams.faults.rules import FaultRules
from streams.maintenance.dispatch import (
    on_alert,
    on_feedback,
    on_resolution,
    on_session,
    on_status,
    on_time,
)
from streams.maintenance.state import PortStatus, SessionOutcome, StationCare, StationTime

EngineNews = SessionOutcome | PortStatus | Alert | StationTime


def engine_news(
    sessions: list[SessionRecord], statuses: list[PortStatus], alerts: list[Alert], told: StationTime | None
) -> list[EngineNews]:
    """What one step of the station engine tells the stage, in the order it must hear it: what happened
    (bills, statuses, alerts), then the time up to which that is all. A batch keeps each step's order:
    the engine's time of a later event must not overtake the alert of an earlier one."""
    out: list[EngineNews] = []
    for rec in sessions:
        outcome = outcome_of(rec)
        if outcome is not None:
            out.append(outcome)
    out += statuses
    out += alerts
    if told is not None:
        out.append(told)
    return out


def outcome_of(rec: SessionRecord) -> SessionOutcome | None:
    """What the stage needs of a session record: bills say whether energy flowed, a credit withdraws
    one (a corrected bill follows, or the session never was); updates say nothing yet."""
    if rec.connector_id == 0 or rec.kind not in ("bill", "credit"):
        return None
    ended = rec.unplugged_at or rec.charging_ended_at or rec.emitted_at
    return SessionOutcome(
        rec.session_id,
        rec.station_id,
        rec.connector_id,
        rec.plugged_in_at,
        ended,
        rec.energy_wh if rec.kind == "bill" else 0,
        withdrawn=rec.kind == "credit",
    )


StageNews = EngineNews | Feedback | Resolution
"""Everything the stage hears of a station: the engine's news, driver reports, ops' resolutions."""


def apply(st: StationCare, news: StageNews, rules_for: Callable[[str | None], FaultRules]) -> list[Alert]:
    """One news item of the station through its rules (the worker's agent and `Maintenance` alike)."""
    if isinstance(news, Alert):
        return on_alert(st, news, rules_for(news.site_id))
    if isinstance(news, Resolution):
        return on_resolution(st, news)
    rules = rules_for(st.site_id)
    if isinstance(news, Feedback):
        return on_feedback(st, news, rules)
    if isinstance(news, PortStatus):
        return on_status(st, news, rules)
    if isinstance(news, StationTime):
        return on_time(st, news, rules)
    return on_session(st, news, rules)


@dataclass
class Maintenance:
    rules_for: Callable[[str | None], FaultRules]
    stations: dict[str, StationCare] = field(default_factory=dict)

    def care(self, station_id: str) -> StationCare:
        if station_id not in self.stations:
            self.stations[station_id] = StationCare(station_id)
        return self.stations[station_id]

    def hear(self, news: StageNews) -> list[Alert]:
        if not news.station_id:
            return []  # a site or model incident: no station to look after
        return apply(self.care(news.station_id), news, self.rules_for)

    def feedback(self, fb: Feedback) -> list[Alert]:
        return self.hear(fb)

    def alert(self, alert: Alert) -> list[Alert]:
        return self.hear(alert)

    def session(self, rec: SessionRecord) -> list[Alert]:
        outcome = outcome_of(rec)
        return [] if outcome is None else self.hear(outcome)

    def status(self, status: PortStatus) -> list[Alert]:
        return self.hear(status)

    def time(self, told: StationTime) -> list[Alert]:
        return self.hear(told)

    def resolution(self, res: Resolution) -> list[Alert]:
        return self.hear(res)
