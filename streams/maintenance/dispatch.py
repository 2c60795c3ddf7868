"""The maintenance stage's rules for one station: when to send a technician, and what to tell them. Pure.

* maintenance_dispatch — drivers' failure reports (cannot-start, broken-cable, slow, payment) pile up
  (``dispatch_reports`` within ``dispatch_window_ms``), or one report meets an open connector_fault,
  station_fault, station_offline, flapping or start_failures alert of the station: one alert with what
  a technician needs before leaving (the connectors' statuses, the open alerts, the last good session
  and the failed ones since, the reports, a priority). Later reports and newly opened alerts join it
  (`updated`). Resolved by a session that delivers energy, plugged in after the dispatch, on a
  connector it is about (any, when it is about the whole station), or by ops
  (`chargestream alerts resolve`, which reaches this stage as a Resolution).
* blocked-by-idle-car reports dispatch nobody: they join the idle alert (`idle_reports`).

Decisions use event times (a report's submission, an alert's opening, a session's plug-in) and are
re-judged on every news item, so news that reaches the stage in another order gives the same
dispatches: feedback comes straight from driver apps, alerts and bills after the station engine's
reorder buffer, so a report often arrives before the alert it meets, and dispatches when the alert
comes; a dispatch whose cure (a good session) is already known opens and resolves at once. What is
re-sent (a replay, a restart) changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any, Final

from schemas.events import HOUR_MS
from schemas.records import Alert, Feedback, Resolution
from streams.faults.alerts import alert_id
from streams.faults.rules import FaultRules
from streams.maintenance.idle_reports import join_idle_report, join_waiting, relay_idle
from streams.maintenance.state import (
    PortStatus,
    SessionOutcome,
    StationCare,
    StationTime,
    report_time,
    report_view,
    tick,
)

DISPATCH: Final = "maintenance_dispatch"
FAILURE_REPORTS: Final = frozenset({"cannot-start", "broken-cable", "slow", "payment"})
IDLE_REPORT: Final = "blocked-by-idle-car"
TRIGGER_TYPES: Final = frozenset(
    {"connector_fault", "station_fault", "station_offline", "flapping", "start_failures"}
)
STATION_DOWN: Final = frozenset({"station_fault", "station_offline"})
CHARGING_BLOCKED: Final = frozenset({"cannot-start", "broken-cable"})
REPORTS_SHOWN: Final = 50
FAILED_SHOWN: Final = 20


def on_feedback(st: StationCare, fb: Feedback, rules: FaultRules) -> list[Alert]:
    out: list[Alert] = []
    if fb.feedback_id in st.reports or fb.feedback_id in st.blocked or _joined_idle(st, fb.feedback_id):
        return out  # re-sent
    tick(st, report_time(fb))
    if fb.category == IDLE_REPORT:
        join_idle_report(st, fb, out)
    elif fb.category in FAILURE_REPORTS:
        st.reports[fb.feedback_id] = fb
        if report_time(fb) <= st.heard:  # else it waits until the engine has caught up with it
            _judge(st, rules, out)
    return out  # other categories: stored and counted by the sink, nobody to send


def on_alert(st: StationCare, alert: Alert, rules: FaultRules) -> list[Alert]:
    """A station alert: idle ones are relayed on (with the reports they collect); fault, offline and
    start-failure alerts are what a report can meet."""
    out: list[Alert] = []
    if alert.station_id != st.station_id:
        return out
    if alert.site_id:
        st.site_id = alert.site_id
    if alert.type == "idle":
        st.heard = max(st.heard, alert.updated_at)
        relay_idle(st, alert, out)
        _advance(st, alert.updated_at, out)
        return out
    if alert.type not in TRIGGER_TYPES:
        return out
    old = st.alerts.get(alert.alert_id)
    if old is not None and alert.version <= old.version:
        return out
    st.alerts[alert.alert_id] = alert
    _advance(st, alert.updated_at, out)
    _judge(st, rules, out)
    return out


def on_session(st: StationCare, outcome: SessionOutcome, rules: FaultRules) -> list[Alert]:
    out: list[Alert] = []
    if st.sessions.get(outcome.session_id) == outcome:
        return out
    st.sessions[outcome.session_id] = outcome
    _advance(st, outcome.ended_at, out)
    _judge(st, rules, out)
    return out


def on_status(st: StationCare, status: PortStatus, rules: FaultRules) -> list[Alert]:
    """The connector's newest status (event time: a late one does not overwrite it)."""
    if status.at >= st.statuses.get(status.connector_id, (-1, ""))[0]:
        st.statuses[status.connector_id] = (status.at, status.status)
    return _heard(st, status.at, rules)


def on_time(st: StationCare, told: StationTime, rules: FaultRules) -> list[Alert]:
    """The station engine's time moved on: reports it has now caught up with are judged."""
    return _heard(st, told.at, rules)


def on_resolution(st: StationCare, res: Resolution) -> list[Alert]:
    """Ops resolved the dispatch by hand: the technician fixed it, or it needs none."""
    out: list[Alert] = []
    d = st.dispatch
    if d is None or d.alert_id != res.alert_id:
        return out  # resolved already (by a good session, or a resolution re-sent)
    by = res.by or "ops"
    _resolve(
        st,
        d,
        res.at,
        f"{_where(st)}: resolved by {by}" + (f": {res.note}" if res.note else ""),
        {"resolved_by": by, "note": res.note},
        out,
    )
    # Reports made before ops resolved it are answered by it (ops' clock is the wall clock: live, it
    # is the stations' time too).
    st.answered_until = max(st.answered_until, d.updated_at, res.at)
    return out


def _heard(st: StationCare, at: int, rules: FaultRules) -> list[Alert]:
    """The station engine told of event time ``at`` (a status, or its time alone)."""
    out: list[Alert] = []
    if _advance(st, at, out):
        _judge(st, rules, out)
    return out


def _advance(st: StationCare, at: int, out: list[Alert]) -> bool:
    """The engine's time reached ``at``: idle-car reports it overtook join their alerts; says whether
    failure reports became due for judging."""
    before = st.heard
    st.heard = max(st.heard, at)
    tick(st, at)
    join_waiting(st, out)
    return any(before < report_time(f) <= st.heard for f in st.reports.values())


# --- the rule ------------------------------------------------------------------------------------


def _judge(st: StationCare, rules: FaultRules, out: list[Alert]) -> None:
    """Re-judge the station on what is known up to the engine's time (``heard``).

    Reports are taken only once the engine has caught up with them: driver apps outrun the engine's
    reorder buffer by seconds, and by hours after a backlog; taken early, a report would meet alerts
    and sessions out of their order, and the dispatches would depend on who was faster."""
    for fb in sorted(st.reports.values(), key=lambda f: (report_time(f), f.feedback_id)):
        if fb.feedback_id not in st.used and report_time(fb) <= min(st.answered_until, st.heard):
            _late_for_the_last(st, fb, rules, out)
    for _ in range(8):  # each round resolves a dispatch or opens one; what is known bounds the rounds
        d = st.dispatch
        if d is not None:
            cure = _cure(st, d)
            if cure is None:
                _refresh(st, d, rules, out)
                return
            _resolve(
                st,
                d,
                cure.ended_at,
                f"{_where(st)}: charging works again (session {cure.session_id} delivered "
                f"{cure.energy_wh / 1000:g} kWh on connector {cure.connector_id})",
                {"resolved_by": "session", "resolving_session": cure.session_id},
                out,
            )
            st.answered_until = max(st.answered_until, cure.ended_at)
            continue
        trigger = _trigger(st, rules)
        if trigger is None:
            return
        start, reason = trigger
        _open(st, start, reason, rules, out)


def _candidates(st: StationCare) -> list[Feedback]:
    """Failure reports no dispatch has answered, that the engine has caught up with, oldest first."""
    return sorted(
        (
            f
            for fid, f in st.reports.items()
            if fid not in st.used and st.answered_until < report_time(f) <= st.heard
        ),
        key=lambda f: (report_time(f), f.feedback_id),
    )


def _trigger(st: StationCare, rules: FaultRules) -> tuple[int, str] | None:
    """The earliest moment a dispatch was due, and why."""
    return _trigger_over(st, _candidates(st), rules)


def _trigger_over(st: StationCare, cands: list[Feedback], rules: FaultRules) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    window = rules.dispatch_window_ms
    for i, r in enumerate(cands):
        t = report_time(r)
        recent = [c for c in cands[: i + 1] if report_time(c) > t - window]
        if len(recent) >= rules.dispatch_reports:
            best = (t, f"{len(recent)} failure reports within {window / HOUR_MS:g} h")
            break
    for r in cands:
        t = report_time(r)
        alert = _open_at(st, t)
        if alert is not None:
            if best is None or t < best[0]:
                best = (t, f"a driver reported {r.category} while {alert.type} was open")
            break
    return best


def _open_at(st: StationCare, t: int) -> Alert | None:
    """A fault, offline or start-failure alert of the station open at event time ``t``."""
    for alert in sorted(st.alerts.values(), key=lambda a: (a.opened_at, a.alert_id)):
        if alert.opened_at <= t and (alert.resolved_at is None or t < alert.resolved_at):
            return alert
    return None


def _joinable(st: StationCare, opened_at: int, rules: FaultRules) -> list[Feedback]:
    """The unanswered reports a dispatch takes: from a window before it opened on."""
    return [f for f in _candidates(st) if report_time(f) > opened_at - rules.dispatch_window_ms]


def _open(st: StationCare, start: int, reason: str, rules: FaultRules, out: list[Alert]) -> None:
    reports = _joinable(st, start, rules)
    st.used.update(dict.fromkeys(f.feedback_id for f in reports))
    details = _context(st, reports, start, reason, rules)
    st.dispatches += 1
    st.dispatch = Alert(
        # The station's n-th dispatch: reports from several phones arrive in any order, and the one
        # that happened to tip the rule must not decide the id (a replay or a restart gives the same n).
        alert_id=alert_id(DISPATCH, st.station_id, None, st.dispatches),
        type=DISPATCH,
        status="opened",
        opened_at=start,
        updated_at=max([start, *(report_time(f) for f in reports)]),
        severity=_severity(details),
        version=1,
        station_id=st.station_id,
        site_id=st.site_id,
        members=_members(st, details),
        summary=_summary(st, details),
        details=details,
    )
    out.append(st.dispatch)


def _refresh(st: StationCare, d: Alert, rules: FaultRules, out: list[Alert]) -> None:
    """New reports or newly opened alerts join the open dispatch (one version per change)."""
    new = _joinable(st, d.opened_at, rules)
    old_reports: list[dict[str, Any]] = d.details.get("reports", [])
    known = [st.reports[r["feedback_id"]] for r in old_reports if r["feedback_id"] in st.reports]
    reports = sorted([*known, *new], key=lambda f: (report_time(f), f.feedback_id))
    # A report that arrived late may show the dispatch was due earlier: its start moves back.
    start, reason = d.opened_at, str(d.details.get("reason", ""))
    earlier = _trigger_over(st, reports, rules)
    if earlier is not None and earlier[0] < start:
        start, reason = earlier
    listed = set(d.details.get("alerts_seen", []))
    if not new and start == d.opened_at and all(a["alert_id"] in listed for a in _open_alerts(st)):
        return  # an alert it lists resolving is no news for the technician: the next version says it
    st.used.update(dict.fromkeys(f.feedback_id for f in new))
    details = _context(st, reports, start, reason, rules, tuple(listed))
    at = max([d.updated_at, *(report_time(f) for f in new), *(a["updated_at"] for a in _open_alerts(st))])
    st.dispatch = replace(
        d,
        status="updated",
        opened_at=start,
        updated_at=at,
        version=d.version + 1,
        severity=_severity(details),
        members=_members(st, details),
        summary=_summary(st, details),
        details=details,
    )
    out.append(st.dispatch)


def _resolve(
    st: StationCare, d: Alert, at: int, summary: str, extra: dict[str, Any], out: list[Alert]
) -> None:
    # Reports made after the cure are new trouble (they reached the stage before the cure did):
    # released, for the next dispatch.
    kept = [r for r in d.details.get("reports", []) if r["submitted_at"] <= at]
    for r in d.details.get("reports", []):
        if r["submitted_at"] > at:
            st.used.pop(r["feedback_id"], None)
    at = max(at, d.updated_at)  # an alert never goes back in time
    out.append(
        replace(
            d,
            status="resolved",
            severity="info",
            updated_at=at,
            resolved_at=at,
            version=d.version + 1,
            summary=summary,
            details={**d.details, **extra, "reports": kept, "report_count": len(kept)},
        )
    )
    st.dispatch = None
    st.answered = out[-1]


def _late_for_the_last(st: StationCare, fb: Feedback, rules: FaultRules, out: list[Alert]) -> bool:
    """A report made before the last dispatch was resolved, arriving after (a phone that was offline):
    it joins that dispatch (a new version, still resolved), as if it had come in time."""
    d = st.answered
    t = report_time(fb)
    st.used[fb.feedback_id] = None
    if d is None or t <= d.opened_at - rules.dispatch_window_ms:
        return False  # older than anything a dispatch answered: stored, and counted by the sink
    known = [
        st.reports[r["feedback_id"]] for r in d.details.get("reports", []) if r["feedback_id"] in st.reports
    ]
    reports = sorted([*known, fb], key=lambda f: (report_time(f), f.feedback_id))
    start = d.opened_at
    earlier = _trigger_over(st, reports, rules)
    if earlier is not None and earlier[0] < start:
        start = earlier[0]
    views = [report_view(f) for f in reports]
    st.answered = replace(
        d,
        opened_at=start,
        version=d.version + 1,
        details={**d.details, "reports": views[-REPORTS_SHOWN:], "report_count": len(views)},
    )
    out.append(st.answered)
    return True


def _cure(st: StationCare, d: Alert) -> SessionOutcome | None:
    """The first session after the dispatch that delivered energy where the trouble was."""
    about = set(d.details.get("connectors_reported", []))
    cures = [
        s
        for s in st.sessions.values()
        if s.delivered and s.plugged_in_at >= d.opened_at and (not about or s.connector_id in about)
    ]
    return min(cures, key=lambda s: (s.ended_at, s.session_id)) if cures else None


# --- what the technician reads -------------------------------------------------------------------


def _context(
    st: StationCare,
    reports: list[Feedback],
    start: int,
    reason: str,
    rules: FaultRules,
    seen: tuple[str, ...] = (),
) -> dict[str, Any]:
    reports = sorted(reports, key=lambda f: (report_time(f), f.feedback_id))
    open_alerts = _open_alerts(st)
    about = {f.connector_id for f in reports}
    station_wide = None in about or any(a["type"] in STATION_DOWN for a in open_alerts)
    named = {c for c in about if c is not None} | {
        a["connector_id"] for a in open_alerts if a["connector_id"]
    }
    connectors = [] if station_wide else sorted(named)
    good = [s for s in st.sessions.values() if s.delivered]
    last_good = max(good, key=lambda s: (s.plugged_in_at, s.session_id)) if good else None
    since = last_good.plugged_in_at if last_good else -1
    failed = sorted(
        (s for s in st.sessions.values() if not s.delivered and not s.withdrawn and s.plugged_in_at > since),
        key=lambda s: (s.plugged_in_at, s.session_id),
    )
    return {
        "priority": _priority(open_alerts, reports, st),
        "reason": reason,
        "dispatch_reports": rules.dispatch_reports,
        "dispatch_window_hours": rules.dispatch_window_ms / HOUR_MS,
        "since": start,
        "connectors": [
            {"connector_id": c, "status": status, "since": at}
            for c, (at, status) in sorted(st.statuses.items())
        ],
        "connectors_reported": connectors,
        "open_alerts": open_alerts,
        "alerts_seen": sorted({a["alert_id"] for a in open_alerts} | set(seen)),
        "last_successful_session": None
        if last_good is None
        else {
            "session_id": last_good.session_id,
            "connector_id": last_good.connector_id,
            "plugged_in_at": last_good.plugged_in_at,
            "ended_at": last_good.ended_at,
            "kwh": last_good.energy_wh / 1000,
        },
        "failed_sessions_since": [
            {"session_id": s.session_id, "connector_id": s.connector_id, "plugged_in_at": s.plugged_in_at}
            for s in failed[-FAILED_SHOWN:]
        ],
        "failed_sessions_count": len(failed),
        "reports": [report_view(f) for f in reports[-REPORTS_SHOWN:]],
        "report_count": len(reports),
    }


def _open_alerts(st: StationCare) -> list[dict[str, Any]]:
    return [
        {
            "alert_id": a.alert_id,
            "type": a.type,
            "connector_id": a.connector_id,
            "opened_at": a.opened_at,
            "updated_at": a.updated_at,
            "parent_id": a.parent_id,
            "summary": a.summary,
        }
        for a in sorted(st.alerts.values(), key=lambda a: (a.opened_at, a.alert_id))
        if a.status != "resolved"
    ]


def _priority(open_alerts: list[dict[str, Any]], reports: list[Feedback], st: StationCare) -> str:
    """P1: the whole station is down. P2: drivers cannot charge at a connector. P3: it charges, badly."""
    if any(a["type"] in STATION_DOWN for a in open_alerts):
        return "P1"
    statuses = [s for _, s in st.statuses.values()]
    if statuses and all(s == "Faulted" for s in statuses):
        return "P1"
    if open_alerts or any(f.category in CHARGING_BLOCKED for f in reports):
        return "P2"
    return "P3"


def _severity(details: dict[str, Any]) -> str:
    return "critical" if details["priority"] == "P1" else "warning"


def _members(st: StationCare, details: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    connectors = details["connectors_reported"] or [None]
    return tuple({"station_id": st.station_id, "connector_id": c} for c in connectors)


def _where(st: StationCare) -> str:
    return f"{st.station_id} ({st.site_id})" if st.site_id else st.station_id


def _summary(st: StationCare, details: dict[str, Any]) -> str:
    counts = Counter(r["category"] for r in details["reports"])
    said = ", ".join(f"{c} ×{n}" for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    line = f"{_where(st)}: send a technician ({details['priority']}) — {details['reason']}"
    line += f"; drivers said {said}"
    if details["open_alerts"]:
        line += "; open: " + ", ".join(
            a["type"] + (f" on connector {a['connector_id']}" if a["connector_id"] else "")
            for a in details["open_alerts"][:3]
        )
    return line


def _joined_idle(st: StationCare, feedback_id: str) -> bool:
    return any(feedback_id in relay.reports for relay in st.idle.values())
