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


@dataclass
class Maintenance:
    rules_for: Callable[[str | None], FaultRules]
    stations: dict[str, StationCare] = field(default_factory=dict)

    def care(self, station_id: str) -> StationCare:
        if station_id not in self.stations:
            self.stations[station_id] = StationCare(station_id)
        return self.stations[station_id]

    def feedback(self, fb: Feedback) -> list[Alert]:
        st = self.care(fb.station_id)
        return on_feedback(st, fb, self.rules_for(st.site_id))

    def alert(self, alert: Alert) -> list[Alert]:
        if not alert.station_id:
            return []
        return on_alert(self.care(alert.station_id), alert, self.rules_for(alert.site_id))

    def session(self, rec: SessionRecord) -> list[Alert]:
        outcome = outcome_of(rec)
        if outcome is None:
            return []
        st = self.care(rec.station_id)
        return on_session(st, outcome, self.rules_for(st.site_id))

    def status(self, status: PortStatus) -> list[Alert]:
        st = self.care(status.station_id)
        return on_status(st, status, self.rules_for(st.site_id))

    def time(self, told: StationTime) -> list[Alert]:
        st = self.care(told.station_id)
        return on_time(st, told, self.rules_for(st.site_id))

    def hear(self, news: EngineNews) -> list[Alert]:
        if isinstance(news, SessionOutcome):
            st = self.care(news.station_id)
            return on_session(st, news, self.rules_for(st.site_id))
        if isinstance(news, PortStatus):
            return self.status(news)
        if isinstance(news, StationTime):
            return self.time(news)
        return self.alert(news)

    def resolution(self, res: Resolution) -> list[Alert]:
        return on_resolution(self.care(res.station_id), res)
