"""Fault incidents: planned before the sessions (which avoid them), rendered as station events. Pure.

Kinds (DOMAIN.md "Faults"): one connector faulted for a while; a burst of faults at one site
within minutes; a site-wide outage (every station loses its connection, then reboots); a
model + firmware cluster (one error code across sites); a flapping connector.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, fields, replace

from producers.simulator.drafts import Draft
from producers.simulator.network import Site, Station
from producers.simulator.sampling import poisson, weighted
from schemas.events import DAY_MS, MINUTE_MS, ConnectionChange, Payload, StationBoot, StatusChange

CONNECTOR_FAULT_CODES = (
    ("GroundFailure", 0.2),
    ("ConnectorLockFailure", 0.15),
    ("EVCommunicationError", 0.15),
    ("OverCurrentFailure", 0.1),
    ("PowerMeterFailure", 0.1),
    ("ReaderFailure", 0.1),
    ("InternalError", 0.1),
    ("HighTemperature", 0.1),
)
SITE_BURST_CODES = ("GroundFailure", "OverVoltage", "UnderVoltage", "HighTemperature")
FLAPPING_CODES = (("ConnectorLockFailure", 0.5), ("EVCommunicationError", 0.5))
CABLE_CODES = frozenset({"ConnectorLockFailure", "GroundFailure"})  # drivers call these a broken cable


@dataclass(frozen=True)
class IncidentRates:
    """Expected incidents per day of each kind (0 disables one)."""

    connector_fault: float = 0.03  # per connector
    site_burst: float = 0.02  # per site with 2+ stations
    site_outage: float = 0.01  # per site
    model_cluster: float = 0.05  # per model + firmware present at 2+ sites
    flapping: float = 0.01  # per connector

    @classmethod
    def none(cls) -> IncidentRates:
        return cls(**{f.name: 0.0 for f in fields(cls)})

    @classmethod
    def only(cls, **rates: float) -> IncidentRates:
        return replace(cls.none(), **rates)

    def scaled(self, factor: float) -> IncidentRates:
        return IncidentRates(**{f.name: getattr(self, f.name) * factor for f in fields(self)})

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) > 0 for f in fields(self))


INCIDENT_PRESETS = {
    "none": IncidentRates.none(),
    "moderate": IncidentRates(),
    "heavy": IncidentRates().scaled(10),
}


@dataclass(frozen=True)
class Member:
    station_id: str
    connector_id: int  # 0: the whole station
    start: int
    end: int


@dataclass(frozen=True)
class Incident:
    incident_id: str
    type: str  # connector_fault | site_burst | site_outage | model_cluster | flapping
    members: tuple[Member, ...]
    site_id: str | None = None
    error_code: str | None = None
    vendor_error_code: str | None = None
    model: str | None = None
    firmware_version: str | None = None
    toggles: tuple[int, ...] = ()  # flapping: Faulted, Available, Faulted, … times

    @property
    def start(self) -> int:
        return min(m.start for m in self.members)

    @property
    def end(self) -> int:
        return max(m.end for m in self.members)


@dataclass(frozen=True)
class Block:
    """A window in which a connector cannot take a session."""

    start: int
    end: int
    incident: Incident


class _Calendar:
    """Incidents of one station must not overlap (a margin apart), so each one reads clearly."""

    def __init__(self) -> None:
        self._busy: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def free(self, members: list[Member], margin: int = 10 * MINUTE_MS) -> bool:
        return all(
            m.end + margin <= a or b + margin <= m.start for m in members for a, b in self._busy[m.station_id]
        )

    def take(self, members: list[Member]) -> None:
        for m in members:
            self._busy[m.station_id].append((m.start, m.end))


def plan_incidents(
    rates: IncidentRates,
    sites: list[Site],
    stations: list[Station],
    start_ms: int,
    horizon_ms: int,
    seed: int,
) -> list[Incident]:
    rng = random.Random(f"incidents|{seed}")
    days = horizon_ms / DAY_MS
    cal = _Calendar()
    out: list[Incident] = []

    def when() -> int:
        return start_ms + 30 * MINUTE_MS + rng.randrange(max(1, horizon_ms - 30 * MINUTE_MS))

    def add(kind: str, members: list[Member], **info: str | tuple[int, ...] | None) -> None:
        if members and cal.free(members):
            cal.take(members)
            out.append(Incident(f"INC-{seed}-{len(out):04d}", kind, tuple(members), **info))  # type: ignore[arg-type]

    by_site: dict[str, list[Station]] = defaultdict(list)
    for st in stations:
        by_site[st.site.site_id].append(st)
    # Wide incidents first: they need many free calendars at once.
    for site in sites:
        members_of = by_site[site.site_id]
        for _ in range(poisson(rng, rates.site_outage * days)):
            t, dur = when(), rng.randint(15, 180) * MINUTE_MS
            ms = [
                Member(s.station_id, 0, t + rng.randint(0, 20_000), t + dur + rng.randint(0, 60_000))
                for s in members_of
            ]
            add("site_outage", ms, site_id=site.site_id)
        if len(members_of) < 2:
            continue
        for _ in range(poisson(rng, rates.site_burst * days)):
            t, code = when(), rng.choice(SITE_BURST_CODES)
            chosen = rng.sample(members_of, rng.randint(2, min(4, len(members_of))))
            ms = []
            for s in chosen:
                a = t + rng.randint(0, 10 * MINUTE_MS)
                conn = 0 if rng.random() < 0.5 else rng.choice(s.connector_ids)
                ms.append(Member(s.station_id, conn, a, a + rng.randint(10, 90) * MINUTE_MS))
            # A burst is 3+ connectors (the rule's default): too few, and whole stations fault instead.
            pairs = zip(ms, chosen, strict=True)
            faulted = sum(1 if m.connector_id else len(s.connector_ids) for m, s in pairs)
            if faulted < 3:
                ms = [replace(m, connector_id=0) for m in ms]
                if sum(len(s.connector_ids) for s in chosen) < 3:
                    continue
            add("site_burst", ms, site_id=site.site_id, error_code=code)
    groups: dict[tuple[str, str], list[Station]] = defaultdict(list)
    for st in stations:
        groups[(st.model.name, st.firmware_version)].append(st)
    for (model, fw), group in sorted(groups.items()):
        if len({s.site.site_id for s in group}) < 2 or len(group) < 3:
            continue  # a cluster is 3+ stations at 2+ sites (the rule's default)
        for _ in range(poisson(rng, rates.model_cluster * days)):
            t, n = when(), rng.randint(3, min(6, len(group)))
            # one station per site first, so the cluster spans sites
            firsts = list({s.site.site_id: s for s in rng.sample(group, len(group))}.values())
            chosen = (firsts + [s for s in group if s not in firsts])[:n]
            vendor_code = f"{model.split()[0].upper()}-E{rng.randint(100, 999)}"
            ms = []
            for s in chosen:
                a = t + rng.randint(0, 6 * 60) * MINUTE_MS
                ms.append(Member(s.station_id, 1, a, a + rng.randint(5, 60) * MINUTE_MS))
            add(
                "model_cluster",
                ms,
                error_code="InternalError",
                vendor_error_code=vendor_code,
                model=model,
                firmware_version=fw,
            )
    for st in stations:
        for c in st.connector_ids:
            for _ in range(poisson(rng, rates.flapping * days)):
                t = when()
                toggles, at = [], t
                for _ in range(rng.randint(4, 10)):
                    toggles.append(at)
                    at += rng.randint(20, 180) * 1000
                    toggles.append(at)
                    at += rng.randint(30, 300) * 1000
                add(
                    "flapping",
                    [Member(st.station_id, c, t, toggles[-1])],
                    site_id=st.site.site_id,
                    error_code=weighted(rng, FLAPPING_CODES),
                    toggles=tuple(toggles),
                )
            for _ in range(poisson(rng, rates.connector_fault * days)):
                t = when()
                add(
                    "connector_fault",
                    [Member(st.station_id, c, t, t + rng.randint(20, 240) * MINUTE_MS)],
                    site_id=st.site.site_id,
                    error_code=weighted(rng, CONNECTOR_FAULT_CODES),
                )
    out.sort(key=lambda i: (i.start, i.incident_id))
    return out


def blocks_by_connector(
    incidents: list[Incident], stations: list[Station]
) -> dict[tuple[str, int], list[Block]]:
    """Per (station, connector) the windows it is unusable; connector 0 and outages block them all."""
    n_conn = {s.station_id: s.connectors for s in stations}
    out: dict[tuple[str, int], list[Block]] = defaultdict(list)
    for inc in incidents:
        for m in inc.members:
            conns = range(1, n_conn[m.station_id] + 1) if m.connector_id == 0 else (m.connector_id,)
            for c in conns:
                out[(m.station_id, c)].append(Block(m.start, m.end, inc))
    for blocks in out.values():
        blocks.sort(key=lambda b: b.start)
    return out


def render_incident(inc: Incident, station: Station, next_order: list[int]) -> list[Draft]:
    """The events one station sends for its part of an incident."""

    def draft(at: int, connector: int, payload: Payload) -> Draft:
        next_order[0] += 1
        return Draft(at, connector, payload, next_order[0])

    out = []
    for m in inc.members:
        if m.station_id != station.station_id:
            continue
        if inc.type == "site_outage":
            out.append(draft(m.start, 0, ConnectionChange(False, "power outage")))
            out.append(draft(m.end, 0, ConnectionChange(True, "reconnected")))
            out.append(draft(m.end, 0, boot_payload(station, "PowerUp")))
            out += [draft(m.end, c, StatusChange("Available", "NoError")) for c in station.connector_ids]
        elif inc.type == "flapping":
            for i, at in enumerate(inc.toggles):
                faulted = i % 2 == 0
                status = (
                    StatusChange("Faulted", inc.error_code)
                    if faulted
                    else StatusChange("Available", "NoError")
                )
                out.append(draft(at, m.connector_id, status))
        else:
            out.append(
                draft(
                    m.start,
                    m.connector_id,
                    StatusChange(
                        "Faulted", inc.error_code, inc.vendor_error_code, inc.type.replace("_", " ")
                    ),
                )
            )
            out.append(draft(m.end, m.connector_id, StatusChange("Available", "NoError")))
    return out


def boot_payload(station: Station, reason: str) -> StationBoot:
    return StationBoot(
        vendor=station.model.vendor,
        model=station.model.name,
        firmware_version=station.firmware_version,
        serial_number=station.serial_number,
        reason=reason,
        site_id=station.site.site_id,
        time_zone=station.site.time_zone,
        latitude=station.site.latitude,
        longitude=station.site.longitude,
        max_power_kw=station.max_power_kw,
        connectors=station.connectors,
    )
