"""From the store to the page: every section fetched and drawn in turn, with a step for the progress bar."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from chargestream.report import plots, sections
from chargestream.report.page import Content, Plots, render
from chargestream.report.queries import BOUNDS, Fetch, Period

STEPS = 9  # the calls of `step` below: the progress bar's total


def default_period(fetch: Fetch, site: str = "", today: date | None = None) -> Period:
    """Every local day with data (a billed session or an hourly aggregate); today alone when none."""
    row = fetch(BOUNDS, {"site": site})[0]
    if int(row["n"] or 0) == 0:
        first = last = today or datetime.now(UTC).date()
    else:
        first, last = date.fromisoformat(row["first_day"]), date.fromisoformat(row["last_day"])
    return Period(first, last + timedelta(days=1), site)


def build(fetch: Fetch, period: Period, source: str, step: Callable[[str], None] = lambda _: None) -> str:
    """The report's HTML. ``step(what)`` is called before each part."""
    step("headline figures")
    headline = sections.headline(fetch, period)
    step("peak hours")
    peak = sections.peak_hours(fetch, period)
    peak_svg = plots.peak_hours(peak)
    step("energy per day")
    energy_svg = plots.energy_per_day(sections.energy_per_day(fetch, period))
    step("session durations and charging speed")
    sessions_svg = plots.durations_and_speeds(
        sections.durations(fetch, period), sections.speeds(fetch, period)
    )
    step("idle time and offenders")
    idle = sections.idle(fetch, period)
    idle_svg = plots.idle(idle)
    step("uptime per port")
    uptime = sections.uptime(fetch, period)
    uptime_svg = plots.uptime(uptime)
    step("fault timeline")
    faults = sections.faults(fetch, period)
    faults_svg = plots.fault_timeline(faults, period.since_ms, period.until_ms)
    step("billing totals")
    revenue = sections.revenue(fetch, period)
    revenue_svg = plots.revenue(revenue)
    step("writing the page")
    drawn = Plots(peak_svg, energy_svg, sessions_svg, idle_svg, uptime_svg, faults_svg, revenue_svg)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return render(Content(period, generated, source, headline, peak, idle, uptime, faults, revenue, drawn))
