"""Drivers' blocked-by-idle-car reports join the idle alert of their connector: ops see the car and
the driver it kept waiting in one alert, and nobody is dispatched for a car. Pure.

A report is matched once the station engine's time has reached it (``heard``), as the dispatch rule
does: until then an earlier idle period may look open that the engine has already ended.

The maintenance stage relays the station engine's idle alerts to `alerts.idle` (its only writer there)
and numbers the versions itself: a joined report is a change of the alert (a version), and a source
version seen again (a replay, a restart) changes nothing. A report that comes before its alert (the
alert opens only once the car has idled past the threshold) waits for it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from schemas.records import Alert, Feedback
from streams.maintenance.state import IdleRelay, StationCare, report_time, report_view, tick


def relay_idle(st: StationCare, alert: Alert, out: list[Alert]) -> None:
    """A new version of an idle alert from the station engine."""
    relay = st.idle.get(alert.alert_id)
    if relay is not None and alert.version <= relay.source_version:
        return
    tick(st, alert.updated_at)
    if relay is None:
        relay = st.idle[alert.alert_id] = IdleRelay(0, 0, alert)
    relay.source_version, relay.last = alert.version, alert
    for fid, fb in sorted(st.blocked.items(), key=lambda kv: (report_time(kv[1]), kv[0])):
        if report_time(fb) <= st.heard and _covers(alert, fb):
            relay.reports[fid] = fb
            del st.blocked[fid]
    _send(relay, alert, out)


def join_idle_report(st: StationCare, fb: Feedback, out: list[Alert]) -> None:
    """A driver found a connector blocked by a car that had finished charging."""
    st.blocked[fb.feedback_id] = fb
    join_waiting(st, out)


def join_waiting(st: StationCare, out: list[Alert]) -> None:
    """The reports the engine's time has reached join the idle alert that covers them, if one does."""
    for fid, fb in sorted(st.blocked.items(), key=lambda kv: (report_time(kv[1]), kv[0])):
        if report_time(fb) > st.heard:
            continue
        for relay in sorted(st.idle.values(), key=lambda r: (r.last.opened_at, r.last.alert_id)):
            if _covers(relay.last, fb):
                relay.reports[fid] = fb
                del st.blocked[fid]
                last = relay.last
                _send(relay, last if last.status == "resolved" else replace(last, status="updated"), out)
                break


def _covers(alert: Alert, fb: Feedback) -> bool:
    """The report is about this idle period: its connector (or none named), while the car idled."""
    if fb.connector_id is not None and fb.connector_id != alert.connector_id:
        return False
    t = report_time(fb)
    since = int(alert.details.get("idle_since", alert.opened_at))
    return since <= t and (alert.resolved_at is None or t <= alert.resolved_at)


def _send(relay: IdleRelay, alert: Alert, out: list[Alert]) -> None:
    relay.version += 1
    if not relay.reports:
        out.append(replace(alert, version=relay.version))
        return
    reports = sorted(relay.reports.values(), key=lambda f: (report_time(f), f.feedback_id))
    n = len(reports)
    details: dict[str, Any] = {
        **alert.details,
        "reports": [report_view(f) for f in reports],
        "report_count": n,
    }
    summary = f"{alert.summary}; {n} driver{'s' if n > 1 else ''} found the connector blocked"
    out.append(replace(alert, version=relay.version, details=details, summary=summary))
