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
    down: dict[str, tuple[str, int]] = field(default_factory=dict)  # alert id -> (station, since)
    # fault alert id -> (station, its connectors, opened at, still open); a station fault is all of them
    faults: dict[str, tuple[str, tuple[int, ...], int, bool]] = field(default_factory=dict)
    outage: Alert | None = None
    burst: Alert | None = None


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
    if alert.status == "resolved":
        st.down.pop(alert.alert_id, None)
    elif alert.station_id:
        st.down[alert.alert_id] = (alert.station_id, alert.opened_at)


def _down_since(st: SiteFaults) -> dict[str, int]:
    """Each station that is down now, and since when."""
    since: dict[str, int] = {}
    for station, at in st.down.values():
        since[station] = min(at, since.get(station, at))
    return since


def outage_threshold(st: SiteFaults, rules: FaultRules) -> int:
    return max(rules.site_outage_stations, math.ceil(rules.site_outage_share * len(st.stations) - 1e-9))


def _outage(st: SiteFaults, at: int, rules: FaultRules, out: list[Alert]) -> None:
    since = _down_since(st)
    need = outage_threshold(st, rules)
    if st.outage is None:
        window = _densest(sorted(since.values()), rules.site_outage_window_ms, need)
        if window is None:
            return
        start, end = window
        members = sorted(s for s, t in since.items() if start <= t <= end)
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
        _fold(st, set(members), DOWN_TYPES, st.outage.alert_id, at, out)
        return
    known = {m["station_id"] for m in st.outage.members}
    # A station that went down just before the first one known (its news came late) joins too.
    earliest = st.outage.opened_at - rules.site_outage_window_ms
    joined = sorted(s for s, t in since.items() if s not in known and t >= earliest)
    if joined:
        members = sorted(known | set(joined))
        st.outage = changed(
            st.outage,
            "updated",
            at,
            members=tuple({"station_id": s, "connector_id": 0} for s in members),
            details={**st.outage.details, "stations_down": len(members), "stations": len(st.stations)},
        )
        out.append(st.outage)
        _fold(st, set(joined), DOWN_TYPES, st.outage.alert_id, at, out)
    elif len(since) < need:
        minutes = round((at - st.outage.opened_at) / 60_000, 1)
        out.append(
            changed(
                st.outage,
                "resolved",
                at,
                severity="info",
                resolved_at=at,
                summary=f"{st.site_id}: stations back after {minutes:g} min ({len(since)} still down)",
                details={**st.outage.details, "outage_minutes": minutes, "still_down": len(since)},
            )
        )
        st.outage = None


def _densest(times: list[int], window_ms: int, need: int) -> tuple[int, int] | None:
    """The earliest stretch of ``window_ms`` holding at least ``need`` of the sorted times."""
    for i in range(len(times) - need + 1):
        if times[i + need - 1] - times[i] <= window_ms:
            return times[i], times[i] + window_ms
    return None


# --- site_fault_burst ----------------------------------------------------------------------------


def _track_fault(st: SiteFaults, alert: Alert, rules: FaultRules) -> None:
    if alert.station_id is None:
        return
    if alert.connector_id is not None:
        connectors: tuple[int, ...] = (alert.connector_id,)
    else:
        connectors = tuple(sorted({int(m.get("connector_id") or 0) for m in alert.members})) or (0,)
    st.faults[alert.alert_id] = (
        alert.station_id,
        connectors,
        alert.opened_at,
        alert.status != "resolved",
    )
    # Resolved faults too old to join any burst are forgotten (bounded state).
    members = {m["alert_id"] for m in (st.burst.details.get("faults", []) if st.burst else [])}
    horizon = alert.opened_at - 2 * rules.burst_window_ms
    for aid, (_, _, opened, is_open) in list(st.faults.items()):
        if not is_open and opened < horizon and aid not in members:
            del st.faults[aid]


def _burst(st: SiteFaults, at: int, rules: FaultRules, out: list[Alert]) -> None:
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
        _fold(st, set(), FAULT_TYPES, st.burst.alert_id, at, out, ids=set(ids))
        return
    ids = [r["alert_id"] for r in st.burst.details["faults"]]
    last = max(st.faults[i][2] for i in ids if i in st.faults) if ids else st.burst.opened_at
    joined = [
        aid
        for aid, (_, _, opened, is_open) in sorted(st.faults.items(), key=lambda kv: kv[1][2])
        if aid not in ids
        and is_open
        and st.burst.opened_at - rules.burst_window_ms <= opened <= last + rules.burst_window_ms
    ]
    if joined:
        ids = ids + joined
        st.burst = changed(
            st.burst,
            "updated",
            at,
            members=_fault_members(st, ids),
            summary=_burst_summary(st, ids),
            details={**st.burst.details, "faults": _fault_refs(st, ids)},
        )
        out.append(st.burst)
        _fold(st, set(), FAULT_TYPES, st.burst.alert_id, at, out, ids=set(joined))
    elif not any(st.faults[i][3] for i in ids if i in st.faults):
        out.append(
            changed(
                st.burst,
                "resolved",
                at,
                severity="info",
                resolved_at=at,
                summary=f"{st.site_id}: every connector of the fault burst is healthy again",
            )
        )
        st.burst = None


def _burst_window(st: SiteFaults, rules: FaultRules) -> tuple[int, list[str]] | None:
    recent = sorted(st.faults.items(), key=lambda kv: (kv[1][2], kv[0]))
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
    outage, burst = st.outage, st.burst
    if alert.type in DOWN_TYPES and outage and alert.station_id in {m["station_id"] for m in outage.members}:
        return outage.alert_id
    if (
        alert.type in FAULT_TYPES
        and burst
        and alert.alert_id in {r["alert_id"] for r in burst.details["faults"]}
    ):
        return burst.alert_id
    return None


def _fold(
    st: SiteFaults,
    stations: set[str],
    types: frozenset[str],
    parent: str,
    at: int,
    out: list[Alert],
    *,
    ids: set[str] | None = None,
) -> None:
    """Re-send, once, the open alerts an incident now covers, with its id as their parent."""
    for aid, relay in sorted(st.relays.items()):
        last = relay.last
        covered = aid in ids if ids is not None else last.station_id in stations
        if not covered or last.type not in types or last.status == "resolved" or last.parent_id:
            continue
        folded = replace(
            last,
            status="updated",
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
