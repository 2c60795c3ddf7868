"""What each part of the report shows, fetched from ClickHouse into plain typed values (no plotting here)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal

from chargestream.report import queries as q
from chargestream.report.queries import Fetch, Period, number

UPTIME_TARGET_PCT = 97.0  # NEVI, 23 CFR 680.116(b)


@dataclass(frozen=True)
class Histogram:
    """Counts per bin of `width` from 0; the last bin also holds everything above it."""

    width: float
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


def histogram(rows: q.Rows, width: float, bins: int) -> Histogram:
    counts = [0] * (bins + 1)
    for row in rows:
        counts[min(int(number(row["bin"])), bins)] += int(number(row["sessions"]))
    return Histogram(width, counts)


@dataclass(frozen=True)
class Headline:
    sessions: int
    energy_kwh: float
    stations: int
    sites: int
    with_idle: int
    attempts: int
    successes: int
    dispatches: int
    dispatches_resolved: int

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None


def headline(fetch: Fetch, period: Period) -> Headline:
    p = period.params()
    h = fetch(q.HEADLINE, p)[0]
    s = fetch(q.SUCCESS, p)[0]
    d = fetch(q.DISPATCHES, p)[0]
    return Headline(
        sessions=int(number(h["sessions"])),
        energy_kwh=number(h["energy_wh"]) / 1000,
        stations=int(number(h["stations"])),
        sites=int(number(h["sites"])),
        with_idle=int(number(h["with_idle"])),
        attempts=int(number(s["attempts"])),
        successes=int(number(s["successes"])),
        dispatches=int(number(d["raised"])),
        dispatches_resolved=int(number(d["resolved"])),
    )


@dataclass(frozen=True)
class PeakHours:
    """Sessions started per site, weekday (0 = Monday) and local hour; the busiest sites only."""

    grids: dict[str, list[list[int]]]
    other_sites: int


MAX_HEATMAPS = 12


def peak_hours(fetch: Fetch, period: Period) -> PeakHours:
    grids: dict[str, list[list[int]]] = defaultdict(lambda: [[0] * 24 for _ in range(7)])
    for row in fetch(q.PEAK_HOURS, period.params()):
        grids[str(row["site"])][int(number(row["weekday"])) - 1][int(number(row["hour"]))] += int(
            number(row["sessions"])
        )
    busiest = sorted(grids, key=lambda s: (-sum(map(sum, grids[s])), s))
    return PeakHours({s: grids[s] for s in busiest[:MAX_HEATMAPS]}, max(0, len(busiest) - MAX_HEATMAPS))


@dataclass(frozen=True)
class EnergyPerDay:
    days: list[str]
    kwh_by_site: dict[str, list[float]]  # the busiest sites, then "other sites"


MAX_SERIES = 8


def energy_per_day(fetch: Fetch, period: Period) -> EnergyPerDay:
    rows = fetch(q.ENERGY_PER_DAY, period.params())
    days = sorted({str(r["day"]) for r in rows})
    index = {d: i for i, d in enumerate(days)}
    per_site: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(days))
    for r in rows:
        per_site[str(r["site"])][index[str(r["day"])]] += number(r["wh"]) / 1000
    ranked = sorted(per_site, key=lambda s: (-sum(per_site[s]), s))
    out = {s: per_site[s] for s in ranked[:MAX_SERIES]}
    if len(ranked) > MAX_SERIES:
        out[f"{len(ranked) - MAX_SERIES} other sites"] = [
            sum(per_site[s][i] for s in ranked[MAX_SERIES:]) for i in range(len(days))
        ]
    return EnergyPerDay(days, out)


@dataclass(frozen=True)
class Durations:
    histogram: Histogram  # minutes plugged in
    median_min: float | None
    p90_min: float | None


def durations(fetch: Fetch, period: Period) -> Durations:
    p = period.params()
    hist = histogram(fetch(q.DURATIONS, p), q.DURATION_BIN_MIN, q.DURATION_BINS)
    quantiles = fetch(q.DURATION_QUANTILES, p)[0]["q"] if hist.total else None
    return Durations(
        hist,
        number(quantiles[0]) if quantiles else None,
        number(quantiles[1]) if quantiles else None,
    )


@dataclass(frozen=True)
class SpeedBin:
    kw_from: float
    kw_width: float
    sessions: int


@dataclass(frozen=True)
class Speeds:
    by_class: dict[str, list[SpeedBin]]

    @property
    def total(self) -> int:
        return sum(b.sessions for bins in self.by_class.values() for b in bins)


def speeds(fetch: Fetch, period: Period) -> Speeds:
    by_class: dict[str, list[SpeedBin]] = defaultdict(list)
    for r in fetch(q.SPEEDS, period.params()):
        by_class[str(r["power_class"])].append(
            SpeedBin(number(r["kw_from"]), number(r["kw_width"]), int(number(r["sessions"])))
        )
    return Speeds(dict(sorted(by_class.items())))


@dataclass(frozen=True)
class Offender:
    who: str  # the hashed id token: the report never sees a driver's token
    sessions: int
    idle_total_min: float
    idle_mean_min: float
    idle_p90_min: float
    fees: Decimal
    currency: str


@dataclass(frozen=True)
class Idle:
    histogram: Histogram  # idle minutes of the sessions that had any
    offenders: list[Offender]


def idle(fetch: Fetch, period: Period) -> Idle:
    p = period.params()
    return Idle(
        histogram(fetch(q.IDLE, p), q.IDLE_BIN_MIN, q.IDLE_BINS),
        [
            Offender(
                str(r["who"]),
                int(number(r["sessions"])),
                number(r["idle_total"]),
                number(r["idle_mean"]),
                number(r["idle_p90"]),
                Decimal(str(r["fees"])),
                str(r["money"]),
            )
            for r in fetch(q.OFFENDERS, p)
        ],
    )


@dataclass(frozen=True)
class PortUptime:
    station: str
    connector: int
    outage_min: float
    excluded_min: float
    uptime_pct: float


@dataclass(frozen=True)
class Uptime:
    period_min: float
    ports: list[PortUptime]  # worst first

    @property
    def below_target(self) -> int:
        return sum(p.uptime_pct < UPTIME_TARGET_PCT for p in self.ports)

    @property
    def mean_pct(self) -> float | None:
        return sum(p.uptime_pct for p in self.ports) / len(self.ports) if self.ports else None


def uptime(fetch: Fetch, period: Period) -> Uptime:
    total = period.days * 1440.0
    ports = []
    for r in fetch(q.UPTIME, period.params()):
        outage, excluded = number(r["outage_min"]), number(r["excluded_min"])
        pct = (total - (outage - excluded)) / total * 100 if total else 100.0
        ports.append(PortUptime(str(r["station"]), int(number(r["connector"])), outage, excluded, pct))
    ports.sort(key=lambda p: (p.uptime_pct, p.station, p.connector))
    return Uptime(total, ports)


@dataclass(frozen=True)
class FaultAlert:
    alert_id: str
    kind: str
    severity: str
    status: str
    station: str
    site: str
    opened_ms: int
    resolved_ms: int | None
    parent_id: str | None

    @property
    def row(self) -> str:
        """Where the timeline draws it: its station, its site for a site incident, else the fleet."""
        if self.station:
            return self.station
        return f"site {self.site}" if self.site else "fleet (model / firmware)"


@dataclass(frozen=True)
class Faults:
    alerts: list[FaultAlert] = field(default_factory=list)

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per type: alerts, and those still open."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for a in self.alerts:
            out[a.kind][0] += 1
            out[a.kind][1] += a.status != "resolved"
        return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def faults(fetch: Fetch, period: Period) -> Faults:
    return Faults(
        [
            FaultAlert(
                str(r["id"]),
                str(r["kind"]),
                str(r["level"]),
                str(r["state"]),
                str(r["station"]),
                str(r["site"]),
                int(number(r["opened_ms"])),
                None if r["resolved_ms"] is None else int(number(r["resolved_ms"])),
                r["parent"] or None,
            )
            for r in fetch(q.FAULT_ALERTS, period.params())
        ]
    )


@dataclass(frozen=True)
class RevenueRow:
    site: str
    currency: str
    sessions: int
    energy_kwh: float
    energy: Decimal
    time: Decimal
    parking: Decimal
    flat: Decimal
    total: Decimal
    total_incl_vat: Decimal


COMPONENTS = ("energy", "time", "parking", "flat")


@dataclass(frozen=True)
class Revenue:
    rows: list[RevenueRow]

    def totals(self) -> list[RevenueRow]:
        """One row per currency, summed over sites (amounts are never added across currencies)."""
        out: dict[str, RevenueRow] = {}
        for r in self.rows:
            t = out.get(r.currency)
            out[r.currency] = replace(r, site="all sites") if t is None else _add(t, r)
        return list(out.values())


def _add(a: RevenueRow, b: RevenueRow) -> RevenueRow:
    return RevenueRow(
        a.site,
        a.currency,
        *(getattr(a, f.name) + getattr(b, f.name) for f in fields(RevenueRow)[2:]),
    )


def revenue(fetch: Fetch, period: Period) -> Revenue:
    return Revenue(
        [
            RevenueRow(
                str(r["site"]),
                str(r["money"]),
                int(number(r["n"])),
                number(r["wh"]) / 1000,
                *(Decimal(str(r[c])) for c in (*COMPONENTS, "total", "total_incl_vat")),
            )
            for r in fetch(q.REVENUE, period.params())
        ]
    )
