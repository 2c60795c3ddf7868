"""The report as one HTML page: inline CSS and SVG, no script, nothing fetched when it is opened.

Its Content-Security-Policy says so to the browser (no script, no request but `data:` images), so a
station id or driver comment that slipped through as markup could still neither run nor phone home;
every value from the store is escaped on the way in anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from html import escape

from chargestream.report.queries import Period
from chargestream.report.sections import (
    COMPONENTS,
    UPTIME_TARGET_PCT,
    Faults,
    Headline,
    Idle,
    PeakHours,
    Revenue,
    Uptime,
)

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; } h2 { font-size: 1.2rem; margin: 2.2rem 0 .4rem; }
.meta, .note { color: #555; font-size: .85rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: .6rem;
         margin: 1rem 0; }
.tile { border: 1px solid #ddd; border-radius: 6px; padding: .5rem .7rem; }
.tile b { display: block; font-size: 1.3rem; }
figure { margin: .6rem 0; } figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: .85rem; margin: .6rem 0; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.empty { color: #777; font-style: italic; }
nav a { margin-right: .8rem; }
"""


@dataclass(frozen=True)
class Plots:
    peak_hours: str | None
    energy_per_day: str | None
    sessions: str | None
    idle: str | None
    uptime: str | None
    faults: str | None
    revenue: str | None


@dataclass(frozen=True)
class Content:
    period: Period
    generated_at: str
    source: str
    headline: Headline
    peak: PeakHours
    idle: Idle
    uptime: Uptime
    faults: Faults
    revenue: Revenue
    plots: Plots


SECTIONS = (
    ("peak", "Peak hours"),
    ("energy", "Energy per day"),
    ("sessions", "Sessions"),
    ("idle", "Idle time"),
    ("uptime", "Uptime"),
    ("faults", "Faults"),
    ("billing", "Billing"),
)


def _figure(svg: str | None, caption: str) -> str:
    if svg is None:
        return '<p class="empty">No data in this period.</p>'
    text = escape(caption)
    return (
        f'<figure role="img" aria-label="{text}">{svg}<figcaption class="note">{text}</figcaption></figure>'
    )


def _table(head: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    if not rows:
        return ""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _money(v: Decimal) -> str:
    return f"{v:,.2f}"


def _tiles(h: Headline, u: Uptime, f: Faults) -> str:
    rate = "–" if h.success_rate is None else f"{h.success_rate:.1%}"
    mean = "–" if u.mean_pct is None else f"{u.mean_pct:.2f} %"
    still_open = sum(n_open for _, n_open in f.counts().values())
    tiles = [
        ("sessions billed", f"{h.sessions:,}", f"{h.stations} stations, {h.sites} sites"),
        (
            "energy billed",
            f"{h.energy_kwh:,.1f} kWh",
            f"{h.energy_kwh / max(h.sessions, 1):.1f} kWh a session",
        ),
        ("charging success", rate, f"{h.successes:,} of {h.attempts:,} attempts"),
        ("mean port uptime", mean, f"{u.below_target} of {len(u.ports)} ports below {UPTIME_TARGET_PCT:g} %"),
        ("fault alerts", f"{len(f.alerts):,}", f"{still_open} still open"),
        ("dispatches", f"{h.dispatches:,}", f"{h.dispatches_resolved} resolved"),
    ]
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile">{escape(t)}<b>{escape(v)}</b><span class="note">{escape(n)}</span></div>'
            for t, v, n in tiles
        )
        + "</div>"
    )


def render(c: Content) -> str:
    p = c.period
    last = p.until - timedelta(days=1)
    scope = f"site {p.site}" if p.site else "all sites"
    offenders = _table(
        ("hashed id token", "sessions", "idle min total", "mean", "p90", "idle fees"),
        [
            (
                o.who[:16],
                o.sessions,
                f"{o.idle_total_min:,.0f}",
                f"{o.idle_mean_min:.0f}",
                f"{o.idle_p90_min:.0f}",
                f"{_money(o.fees)} {o.currency}",
            )
            for o in c.idle.offenders
        ],
    )
    worst_ports = _table(
        ("port", "outage min", "excluded min", "uptime %"),
        [
            (
                f"{u.station} #{u.connector}",
                f"{u.outage_min:,.1f}",
                f"{u.excluded_min:,.1f}",
                f"{u.uptime_pct:.3f}",
            )
            for u in c.uptime.ports[:10]
        ],
    )
    fault_counts = _table(
        ("alert type", "alerts", "still open"), [(k, n, o) for k, (n, o) in c.faults.counts().items()]
    )
    bills = _table(
        ("site", "currency", "sessions", "kWh", *COMPONENTS, "total excl. VAT", "incl. VAT"),
        [
            (
                r.site,
                r.currency,
                f"{r.sessions:,}",
                f"{r.energy_kwh:,.1f}",
                *(_money(getattr(r, comp)) for comp in COMPONENTS),
                _money(r.total),
                _money(r.total_incl_vat),
            )
            for r in [*c.revenue.totals(), *c.revenue.rows]
        ],
    )
    more_sites = (
        f'<p class="note">{c.peak.other_sites} quieter sites not drawn.</p>' if c.peak.other_sites else ""
    )
    nav = "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in SECTIONS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chargestream report {p.since} – {last}</title>
<style>{CSS}</style>
</head>
<body><main>
<h1>Charging network report</h1>
<p class="meta">{escape(scope)}, local days {p.since} to {last} ({p.days} days) ·
generated {escape(c.generated_at)} from {escape(c.source)}</p>
<nav>{nav}</nav>
{_tiles(c.headline, c.uptime, c.faults)}

<h2 id="peak">Peak hours</h2>
<p class="note">Sessions started per weekday and hour, in each site's own time zone (view
<code>billing</code>, as <code>peak_hours</code>).</p>
{_figure(c.plots.peak_hours, "Sessions started by weekday and local hour, per site")}
{more_sites}

<h2 id="energy">Energy per day</h2>
<p class="note">kWh delivered per local day; a session that spans midnight counts on both days
(view <code>hourly_site</code>).</p>
{_figure(c.plots.energy_per_day, "Energy delivered per day, stacked by site")}

<h2 id="sessions">Sessions</h2>
<p class="note">Plugged-in time of every billed session; mean power over the charging time of the sessions
that delivered energy, by the station's rated power class (view <code>charging_speed</code>).</p>
{_figure(c.plots.sessions, "Distribution of session duration and of mean charging power")}

<h2 id="idle">Idle time</h2>
<p class="note">{c.headline.with_idle:,} of {c.headline.sessions:,} sessions stayed plugged in after charging
ended (view <code>idle_offenders</code>; drivers appear only as the hash of their id token).</p>
{_figure(c.plots.idle, "Idle minutes per session, and the drivers with the most")}
{offenders}

<h2 id="uptime">Uptime</h2>
<p class="note">Per port over the period: (minutes − (outage − excluded)) / minutes; outages are Faulted,
Unavailable and offline time, excluded is time inside a site-wide outage (view
<code>port_outage_spans</code>; the NEVI monthly figure is <code>port_uptime_monthly</code>). The
{min(len(c.uptime.ports), 25)} worst of {len(c.uptime.ports)} ports.</p>
{_figure(c.plots.uptime, "Uptime per port, worst first")}
{worst_ports}

<h2 id="faults">Faults</h2>
<p class="note">Every fault, offline, start-failure and incident alert open during the period, from the
<code>alerts</code> table (newest state of each), on the stations with the most.</p>
{_figure(c.plots.faults, "Fault timeline per station")}
{fault_counts}

<h2 id="billing">Billing</h2>
<p class="note">The current bills (corrections replace what they correct), by tariff component, per
currency and per site (view <code>revenue_daily</code>).</p>
{_figure(c.plots.revenue, "Billed amounts by component")}
{bills}
</main></body>
</html>
"""
