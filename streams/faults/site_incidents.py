"""The site stage: the station alerts of one site, in the order they reach it, become what ops act on.

* site_outage — most of the site's stations (``site_outage_share``, at least ``site_outage_stations``)
  went down (station_offline or station_fault) within ``site_outage_window_ms`` of each other: one
  incident with the stations as members; resolved when fewer than that are still down.
* site_fault_burst — ``burst_connectors`` distinct connectors on ``burst_stations`` stations of the
  site faulted within ``burst_window_ms``: one incident, updated as connectors join; resolved when all
  its connectors are healthy again.

Every station alert is relayed from here to `alerts.faults` (this stage is its only writer there), so
that a member alert can be **folded**: it carries the incident's id in `parent_id`, and when an incident
opens, the alerts it folds are re-sent once as `updated` with their `parent_id`. Ops who follow incidents
skip alerts with a parent; nothing is withheld from anyone. The relay numbers versions itself (one
writer, one sequence); a station alert seen again (replay, restart) at a version it already relayed
changes nothing.

Decisions use the alerts' event times (when a station went down), not when the news arrived, so the
stations of one site reaching this stage in another order give the same incidents. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from schemas.events import DAY_MS, MINUTE_MS
from schemas.records import Alert
from streams.compact import fields_reduce
from streams.faults.alerts import alert_id, changed
from streams.faults.rules import FaultRules

DOWN_TYPES = frozenset({"station_offline", "station_fault"})
FAULT_TYPES = frozenset({"connector_fault", "station_fault"})
RELAYED_KEPT = 512  # resolved relays remembered (a replay of older ones finds their version here)


@dataclass(frozen=True, slots=True)
class StationSeen:
    """A station of the site, as its boot described it (the site's size and the station's model)."""

    station_id: str
    site_id: str
    vendor: str | None = None
    model: str | None = None
    firmware: str | None = None


@dataclass(slots=True)
class _Relay:
    version: int  # the version this stage last sent
    source_version: int  # the station engine's version it came from
    last: Alert


@dataclass(slots=True)
class SiteFaults:
    __reduce__ = fields_reduce

    site_id: str
    stations: dict[str, StationSeen] = field(default_factory=dict)
    relays: dict[str, _Relay] = field(default_factory=dict)
    # station_offline / station_fault alert id -> (station, down since, back at or None): its down span
    down: dict[str, tuple[str, int, int | None]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)  # spans already in an outage
    outage_spans: list[str] = field(default_factory=list)  # the spans of the open outage
    # fault alert id -> (station, its connectors, opened at, over at or None); a station fault is all of them
    faults: dict[str, tuple[str, tuple[int, ...], int, int | None]] = field(default_factory=dict)
    outage: Alert | None = None
    burst: Alert | None = None
    burst_used: set[str] = field(default_factory=set)  # faults of past bursts
    past_bursts: list[Alert] = field(default_factory=list)  # resolved within two days: late faults join
    latest: int = 0  # the newest event time of the site's news (how far back state is kept)
    parents: dict[str, str] = field(
        default_factory=dict
    )  # station alert id -> the incident it is folded into


def on_station(st: SiteFaults, seen: StationSeen) -> None:
    st.stations[seen.station_id] = seen


def on_alert(st: SiteFaults, alert: Alert, rules: FaultRules) -> list[Alert]:
    """One station alert of the site: the site incidents it opens, joins or ends, then its relay."""
    relay = st.relays.get(alert.alert_id)
    if relay is not None and alert.version <= relay.source_version:
        return []  # seen: a replay, a restarted worker, a duplicate
    out: list[Alert] = []
    at = alert.updated_at
    if alert.station_id and alert.station_id not in st.stations:
        st.stations[alert.station_id] = StationSeen(alert.station_id, st.site_id)
    if alert.type in DOWN_TYPES:
        _track_down(st, alert)
        _outage(st, at, rules, out)
    if alert.type in FAULT_TYPES:
        _track_fault(st, alert, rules)
        _burst(st, at, rules, out)
    _relay(st, alert, out, source_version=alert.version)
    return out


# --- site_outage --------------------------------------------------------------------------------


def _track_down(st: SiteFaults, alert: Alert) -> None:
    if not alert.station_id:
        return
    until = (alert.resolved_at or alert.updated_at) if alert.status == "resolved" else None
    st.down[alert.alert_id] = (alert.station_id, alert.opened_at, until)
    # Spans over for two days that no open outage holds are forgotten (bounded state).
    horizon = alert.updated_at - 2 * DAY_MS
    for aid, (_, _, end) in list(st.down.items()):
        if end is not None and end < horizon and aid not in st.outage_spans:
            del st.down[aid]
            st.used.discard(aid)
            st.parents.pop(aid, None)


def outage_threshold(st: SiteFaults, rules: FaultRules) -> int:
    return max(rules.site_outage_stations, math.ceil(rules.site_outage_share * len(st.stations) - 1e-9))


def _outage(st: SiteFaults, at: int, rules: FaultRules, out: list[Alert]) -> None:
    """Judged on the stations' down spans (event time), not on who is down when the news arrives: a
    replay at any speed delivers a station's going down and coming back in one breath, and the spans
    still say who was down together."""
    need = outage_threshold(st, rules)
    window = rules.site_outage_window_ms
    if st.outage is None:
        found = _outage_start(st, window, need)
        if found is None:
            return
        start, spans = found
        st.outage_spans = spans
        st.used |= set(spans)
        members = _span_stations(st, spans)
        st.outage = _open_site_alert(
            st,
            "site_outage",
            start,
            at,
            "critical",
            f"{st.site_id}: {len(members)} of {len(st.stations)} stations down at once: power or network "
            "at the site, one incident (check the supply before sending technicians per station)",
            {"stations_down": len(members), "stations": len(st.stations), "excludable": True},
            tuple({"station_id": s, "connector_id": 0} for s in members),
        )
        out.append(st.outage)
        _fold(st, set(spans), st.outage.alert_id, at, out)
    else:
        # Stations that went down close to the start (their news came later) join.
        opened = st.outage.opened_at
        joined = [
            aid
            for aid, (_, since, until) in sorted(st.down.items())
            if aid not in st.used
            and opened - window <= since <= opened + window
            and (until or since) >= opened
        ]
        if joined:
            st.outage_spans = [*st.outage_spans, *joined]
            st.used |= set(joined)
            members = _span_stations(st, st.outage_spans)
            st.outage = changed(
                st.outage,
                "updated",
                at,
                members=tuple({"station_id": s, "connector_id": 0} for s in members),
                details={**st.outage.details, "stations_down": len(members), "stations": len(st.stations)},
            )
            out.append(st.outage)
            _fold(st, set(joined), st.outage.alert_id, at, out)
    end = _outage_end(st, need)
    if end is not None:
        minutes = round((end - st.outage.opened_at) / MINUTE_MS, 1)
        out.append(
            changed(
                st.outage,
                "resolved",
                end,
                severity="info",
                resolved_at=end,
                summary=f"{st.site_id}: stations back after {minutes:g} min",
                details={**st.outage.details, "outage_minutes": minutes},
            )
        )
        st.outage, st.outage_spans = None, []


def _span_stations(st: SiteFaults, spans: list[str]) -> list[str]:
    return sorted({st.down[aid][0] for aid in spans if aid in st.down})


def _outage_start(st: SiteFaults, window: int, need: int) -> tuple[int, list[str]] | None:
    """The earliest moment ``need`` stations were down together, having gone down within ``window``
    of the first of them: its start, and the spans (alert ids) of the stations down then."""
    spans = sorted(
        (
            (since, aid, station, until)
            for aid, (station, since, until) in st.down.items()
            if aid not in st.used
        ),
    )
    for i, (first, *_rest) in enumerate(spans):
        inside = [sp for sp in spans[i:] if sp[0] <= first + window]
        for t, *_ in inside:
            down = [sp for sp in inside if sp[0] <= t and (sp[3] is None or sp[3] > t)]
            if len({sp[2] for sp in down}) >= need:
                return first, [sp[1] for sp in down]
    return None


def _outage_end(st: SiteFaults, need: int) -> int | None:
    """When fewer than ``need`` of the outage's stations were still down, once the news has said so."""
    back: dict[str, int | None] = {}  # each member station: when it came back (None: still down)
    for aid in st.outage_spans:
        if aid not in st.down or back.get(st.down[aid][0], 0) is None:
            continue
        station, _, until = st.down[aid]
        back[station] = None if until is None else max(until, back.get(station) or until)
    returns = sorted(t for t in back.values() if t is not None)
    k = len(back) - need  # after the (k+1)-th station is back, fewer than need are down
    return returns[max(k, 0)] if 0 <= max(k, 0) < len(returns) else None


# --- site_fault_burst ----------------------------------------------------------------------------


def _track_fault(st: SiteFaults, alert: Alert, rules: FaultRules) -> None:
    if alert.station_id is None:
        return
    if alert.connector_id is not None:
        connectors: tuple[int, ...] = (alert.connector_id,)
    else:
        connectors = tuple(sorted({int(m.get("connector_id") or 0) for m in alert.members})) or (0,)
    closed = (alert.resolved_at or alert.updated_at) if alert.status == "resolved" else None
    st.faults[alert.alert_id] = (alert.station_id, connectors, alert.opened_at, closed)
    st.latest = max(st.latest, alert.updated_at)
    # Faults over for two days (by the newest news of the site, not this alert's: stations reach this
    # stage hours apart when a worker catches up) that no open burst holds are forgotten (bounded state).
    members = set(_ids(st.burst)) if st.burst else set()
    horizon = st.latest - 2 * DAY_MS
    for aid, (_, _, _, over) in list(st.faults.items()):
        if over is not None and over < horizon and aid not in members:
            del st.faults[aid]
            st.burst_used.discard(aid)
            st.parents.pop(aid, None)
    st.past_bursts = [b for b in st.past_bursts if (b.resolved_at or b.updated_at) >= horizon]


def _ids(burst: Alert) -> list[str]:
    return [r["alert_id"] for r in burst.details["faults"]]


def _window(st: SiteFaults, burst: Alert, rules: FaultRules) -> tuple[int, int]:
    """When a fault may begin to belong to the burst: within the window of the burst's faults' starts."""
    starts = [st.faults[i][2] for i in _ids(burst) if i in st.faults] or [burst.opened_at]
    return min(starts) - rules.burst_window_ms, max(starts) + rules.burst_window_ms


def _burst(st: SiteFaults, at: int, rules: FaultRules, out: list[Alert]) -> None:
    """Open, grow and resolve the site's burst from the faults known, judged by when each began and
    ended (event time), so stations reaching this stage hours apart give the same burst."""
    _late_members(st, at, rules, out)
    while True:
        if st.burst is None:
            found = _burst_window(st, rules)
            if found is None:
                return
            start, ids = found
            st.burst = _open_site_alert(
                st,
                "site_fault_burst",
                start,
                at,
                "critical",
                _burst_summary(st, ids),
                {"faults": _fault_refs(st, ids), "window_minutes": rules.burst_window_ms // 60_000},
                _fault_members(st, ids),
            )
            out.append(st.burst)
            _fold(st, set(ids), st.burst.alert_id, at, out)
        burst = st.burst
        joined = _joining(st, burst, rules)
        if joined:
            _grow(st, burst, joined, at, out)
            continue
        ids = _ids(burst)
        if any(st.faults[i][3] is None for i in ids if i in st.faults):
            return
        ended = max((st.faults[i][3] or 0 for i in ids if i in st.faults), default=at)
        resolved = changed(
            burst,
            "resolved",
            at,
            severity="info",
            resolved_at=ended,
            summary=f"{st.site_id}: every connector of the fault burst is healthy again",
        )
        out.append(resolved)
        st.burst_used |= set(ids)
        st.past_bursts.append(resolved)
        st.burst = None  # and look again: faults of a later burst may be known already


def _joining(st: SiteFaults, burst: Alert, rules: FaultRules) -> list[str]:
    """Faults not in any burst that fit this one, a chain of them at a time (each may widen the window)."""
    ids = set(_ids(burst))
    lo, hi = _window(st, burst, rules)
    fit = [
        (opened, aid)
        for aid, (_, _, opened, _) in st.faults.items()
        if lo <= opened <= hi and aid not in ids and aid not in st.burst_used
    ]
    return [aid for _, aid in sorted(fit)]


def _grow(
    st: SiteFaults,
    burst: Alert,
    joined: list[str],
    at: int,
    out: list[Alert],
    *,
    status: str = "updated",
    resolved_at: int | None = None,
) -> Alert:
    """The burst with faults joined: open (again) as `updated`, or still `resolved` with its new end."""
    ids = _ids(burst) + joined
    changes: dict[str, Any] = {
        "opened_at": min(burst.opened_at, *(st.faults[i][2] for i in joined)),
        "members": _fault_members(st, ids),
        "details": {**burst.details, "faults": _fault_refs(st, ids)},
    }
    if status == "updated":
        changes |= {"severity": "critical", "resolved_at": None, "summary": _burst_summary(st, ids)}
    else:
        changes |= {"resolved_at": resolved_at}
        st.burst_used |= set(joined)
    grown = changed(burst, status, at, **changes)
    out.append(grown)
    if st.burst is not None and st.burst.alert_id == burst.alert_id:
        st.burst = grown
    _fold(st, set(joined), burst.alert_id, at, out)
    return grown


def _late_members(st: SiteFaults, at: int, rules: FaultRules, out: list[Alert]) -> None:
    """A fault that reaches this stage after the burst it belongs to was resolved (its station's partition
    ran behind) joins it: still faulted, it opens the burst again (when no other burst holds the site);
    over already, the resolved burst is re-sent with it and its end."""
    for i, past in enumerate(st.past_bursts):
        late = _joining(st, past, rules)
        if not late:
            continue
        if st.burst is None and any(st.faults[a][3] is None for a in late):
            del st.past_bursts[i]
            st.burst = past
            _grow(st, past, late, at, out)
            return
        end = max(past.resolved_at or 0, *(st.faults[a][3] or at for a in late))
        st.past_bursts[i] = _grow(st, past, late, at, out, status="resolved", resolved_at=end)


def _burst_window(st: SiteFaults, rules: FaultRules) -> tuple[int, list[str]] | None:
    # Faults judged by when they began, open or over (a fast replay brings both at once); those of a
    # past burst are not counted again.
    recent = sorted(
        ((aid, f) for aid, f in st.faults.items() if aid not in st.burst_used),
        key=lambda kv: (kv[1][2], kv[0]),
    )
    for i, (_, (_, _, start, _)) in enumerate(recent):
        inside = [kv for kv in recent[i:] if kv[1][2] <= start + rules.burst_window_ms]
        connectors = {(s, c) for _, (s, cs, _, _) in inside for c in cs}
        stations = {s for s, _ in connectors}
        if len(connectors) >= rules.burst_connectors and len(stations) >= rules.burst_stations:
            return start, [aid for aid, _ in inside]
    return None


def _fault_refs(st: SiteFaults, ids: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "alert_id": i,
            "station_id": st.faults[i][0],
            "connectors": list(st.faults[i][1]),
            "at": st.faults[i][2],
        }
        for i in ids
        if i in st.faults
    ]


def _fault_members(st: SiteFaults, ids: list[str]) -> tuple[dict[str, Any], ...]:
    pairs = sorted({(st.faults[i][0], c) for i in ids if i in st.faults for c in st.faults[i][1]})
    return tuple({"station_id": s, "connector_id": c} for s, c in pairs)


def _burst_summary(st: SiteFaults, ids: list[str]) -> str:
    members = _fault_members(st, ids)
    stations = len({m["station_id"] for m in members})
    return (
        f"{st.site_id}: {len(members)} connectors on {stations} stations faulted together: "
        "look for a site cause (supply, weather, vandalism)"
    )


# --- relays and folds ----------------------------------------------------------------------------


def _relay(st: SiteFaults, alert: Alert, out: list[Alert], *, source_version: int) -> None:
    previous = st.relays.get(alert.alert_id)
    parent = previous.last.parent_id if previous else None
    parent = parent or _parent_of(st, alert)
    sent = replace(alert, version=(previous.version if previous else 0) + 1, parent_id=parent)
    st.relays[alert.alert_id] = _Relay(sent.version, source_version, sent)
    out.append(sent)
    if alert.status == "resolved":
        _forget_resolved(st)


def _parent_of(st: SiteFaults, alert: Alert) -> str | None:
    return st.parents.get(alert.alert_id)


def _fold(st: SiteFaults, ids: set[str], parent: str, at: int, out: list[Alert]) -> None:
    """Re-send, once, the alerts an incident now covers with its id as their parent (one already over,
    as a fast replay delivers it, stays resolved)."""
    for aid in sorted(ids):
        st.parents.setdefault(aid, parent)
        relay = st.relays.get(aid)
        if relay is None or relay.last.parent_id:
            continue  # not relayed yet (its relay will carry the parent), or folded already
        last = relay.last
        folded = replace(
            last,
            status="resolved" if last.status == "resolved" else "updated",
            version=relay.version + 1,
            parent_id=parent,
            updated_at=max(at, last.updated_at),
        )
        st.relays[aid] = _Relay(folded.version, relay.source_version, folded)
        out.append(folded)


def _forget_resolved(st: SiteFaults) -> None:
    resolved = [aid for aid, r in st.relays.items() if r.last.status == "resolved"]
    for aid in resolved[: max(0, len(resolved) - RELAYED_KEPT)]:
        del st.relays[aid]


def _open_site_alert(
    st: SiteFaults,
    kind: str,
    start: int,
    at: int,
    severity: str,
    summary: str,
    details: dict[str, Any],
    members: tuple[dict[str, Any], ...],
) -> Alert:
    return Alert(
        alert_id=alert_id(kind, st.site_id, None, start),
        type=kind,
        status="opened",
        opened_at=start,
        updated_at=max(at, start),
        severity=severity,
        version=1,
        station_id=None,
        connector_id=None,
        site_id=st.site_id,
        members=members,
        summary=summary,
        details=details,
    )
