"""What the maintenance stage knows of one station: its news, and the state its rules keep. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from schemas.events import DAY_MS
from schemas.records import Alert, Feedback
from streams.compact import fields_reduce


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    """A session's bill as the station engine released it (or its withdrawal by a credit)."""

    session_id: str
    station_id: str
    connector_id: int
    plugged_in_at: int
    ended_at: int  # unplugged, or the last time the bill knows
    energy_wh: int
    withdrawn: bool = False

    @property
    def delivered(self) -> bool:
        return self.energy_wh > 0 and not self.withdrawn


@dataclass(frozen=True, slots=True)
class PortStatus:
    """A connector's status as the station reported it (event time)."""

    station_id: str
    connector_id: int
    status: str
    at: int


@dataclass(frozen=True, slots=True)
class StationTime:
    """The station engine has released everything up to ``at`` (event time): what it says is said up
    to here. Sent every TELL_EVERY_MS of the engine's time, so a quiet station's reports do not wait
    for news that never comes."""

    station_id: str
    at: int


TELL_EVERY_MS: Final = 15 * 60_000


@dataclass(slots=True)
class IdleRelay:
    """An idle alert as this stage relays it to `alerts.idle` (its only writer there)."""

    version: int  # the version this stage last sent
    source_version: int  # the station engine's version it came from
    last: Alert
    reports: dict[str, Feedback] = field(default_factory=dict)  # blocked-by-idle-car reports joined


@dataclass(slots=True)
class StationCare:
    __reduce__ = fields_reduce

    station_id: str
    site_id: str | None = None
    now: int = 0  # the newest event time of any news: what "recent" means for pruning
    heard: int = 0  # the newest event time the station engine told of (alerts, bills, statuses)
    statuses: dict[int, tuple[int, str]] = field(default_factory=dict)  # connector -> (at, status)
    alerts: dict[str, Alert] = field(default_factory=dict)  # fault, offline, start-failure alerts
    sessions: dict[str, SessionOutcome] = field(default_factory=dict)  # recent, by session id
    reports: dict[str, Feedback] = field(default_factory=dict)  # failure reports, recent
    used: dict[str, None] = field(default_factory=dict)  # reports a dispatch already answered
    dispatch: Alert | None = None  # the open dispatch
    dispatches: int = 0  # dispatches opened so far (the next one's id)
    answered_until: int = -1  # failure reports up to here were answered by a past dispatch
    answered: Alert | None = None  # the last resolved dispatch (late reports join it)
    idle: dict[str, IdleRelay] = field(default_factory=dict)
    blocked: dict[str, Feedback] = field(default_factory=dict)  # idle-car reports without an alert yet


KEEP_MS: Final = 7 * DAY_MS
"""News this much older than the station's newest is forgotten: the dispatch window (a day) and the
technician's context (the last good session, the failures since) are shorter; state stays bounded."""


SESSIONS_KEPT_MS: Final = 2 * DAY_MS
SESSIONS_KEPT: Final = 48


def report_time(fb: Feedback) -> int:
    """When a report was made: as submitted, but never after the gateway received it (a phone's
    clock can be anywhere)."""
    return min(fb.submitted_at, fb.received_at)


def report_view(fb: Feedback) -> dict[str, Any]:
    """A report as an alert shows it."""
    return {
        "feedback_id": fb.feedback_id,
        "category": fb.category,
        "rating": fb.rating,
        "comment": fb.comment,
        "connector_id": fb.connector_id,
        "submitted_at": fb.submitted_at,
    }


def tick(st: StationCare, at: int) -> None:
    """Time moved to ``at`` (event time): forget what is older than KEEP_MS."""
    if at <= st.now:
        return
    st.now = at
    horizon = at - KEEP_MS
    open_reports = {r["feedback_id"] for r in (st.dispatch.details.get("reports", []) if st.dispatch else [])}
    for fid, fb in list(st.reports.items()):
        if report_time(fb) < horizon and fid not in open_reports:
            del st.reports[fid]
            st.used.pop(fid, None)
    for fid, fb in list(st.blocked.items()):
        if report_time(fb) < horizon:
            del st.blocked[fid]
    for aid, alert in list(st.alerts.items()):
        if alert.resolved_at is not None and alert.resolved_at < horizon:
            del st.alerts[aid]
    for aid, relay in list(st.idle.items()):
        if relay.last.resolved_at is not None and relay.last.resolved_at < horizon:
            del st.idle[aid]
    # Sessions: the stage saves this state on every news item, and a busy station has hundreds a week;
    # a cure is a session after a report (at most a window or two old), the context the last good one
    # and the failures since. Keep SESSIONS_KEPT_MS of them, at most SESSIONS_KEPT, and the last good.
    good = [s for s in st.sessions.values() if s.delivered]
    newest_good = max(good, key=lambda s: (s.plugged_in_at, s.session_id)).session_id if good else None
    recent = sorted(st.sessions.values(), key=lambda s: (s.plugged_in_at, s.session_id))[-SESSIONS_KEPT:]
    keep = {s.session_id for s in recent if s.ended_at >= at - SESSIONS_KEPT_MS} | {newest_good}
    for sid in list(st.sessions):
        if sid not in keep:
            del st.sessions[sid]
