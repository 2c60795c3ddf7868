"""The report's plots: matplotlib figures rendered to inline SVG (see the README for why matplotlib).

Figures are built on `matplotlib.figure.Figure`, not pyplot: no global state, nothing left open.
Labels are data from outside (site and station ids): math text is off so a `$` is a `$`, long ids are
cut, and the SVG writer escapes the rest. A fixed hash salt and no date make the SVG of the same data
the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import matplotlib as mpl
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

from chargestream.report.sections import (
    COMPONENTS,
    UPTIME_TARGET_PCT,
    Durations,
    EnergyPerDay,
    Faults,
    Histogram,
    Idle,
    PeakHours,
    Revenue,
    Speeds,
    Uptime,
)

# Okabe-Ito: told apart by colour-blind readers too.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#999999")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
RC: dict[RcKeyType, object] = {
    "svg.fonttype": "none",  # text stays text: selectable, searchable, small
    "svg.hashsalt": "chargestream",
    "date.epoch": "1970-01-01T00:00:00",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=PALETTE),
}


def label(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    with mpl.rc_context(RC):
        yield Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Figure) -> str:
    """Called inside `_figure`'s block: saved under the same settings it was drawn with."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]  # inline in HTML: no XML prolog or doctype


def peak_hours(data: PeakHours) -> str | None:
    if not data.grids:
        return None
    sites = list(data.grids)
    cols = min(3, len(sites))
    rows = -(-len(sites) // cols)
    top = max(max(max(r) for r in g) for g in data.grids.values()) or 1
    with _figure(3.6 * cols, 1.9 * rows + 0.5) as fig:
        axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
        image = None
        for i, ax in enumerate(axes.flat):
            if i >= len(sites):
                ax.set_visible(False)
                continue
            image = ax.imshow(data.grids[sites[i]], aspect="auto", cmap="viridis", vmin=0, vmax=top)
            ax.set_title(label(sites[i]), fontsize=9)
            ax.set_yticks(range(7), WEEKDAYS)
            ax.set_xticks(range(0, 24, 3))
        for ax in axes[-1]:
            ax.set_xlabel("local hour")
        if image is not None:
            fig.colorbar(image, ax=axes, shrink=0.8, label="sessions started")
        return _svg(fig)


def energy_per_day(data: EnergyPerDay) -> str | None:
    if not data.days:
        return None
    days = [_when(int(datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp() * 1000)) for d in data.days]
    with _figure(9, 3.2) as fig:
        ax = fig.subplots()
        bottom = [0.0] * len(days)
        for site, kwh in data.kwh_by_site.items():
            ax.bar(days, kwh, bottom=bottom, label=label(site), width=0.8)
            bottom = [b + k for b, k in zip(bottom, kwh, strict=True)]
        ax.xaxis_date(UTC)
        ax.set_ylabel("energy delivered (kWh)")
        ax.legend(fontsize=7, ncols=2, frameon=False)
        fig.autofmt_xdate()
        return _svg(fig)


def _histogram(ax: Axes, hist: Histogram, unit: str, color: str) -> None:
    edges = [i * hist.width for i in range(len(hist.counts))]
    ax.bar(edges, hist.counts, width=hist.width, align="edge", color=color, edgecolor="white", linewidth=0.3)
    last = edges[-1]
    ax.annotate(
        f"≥ {last:g} {unit}", (last + hist.width / 2, hist.counts[-1]), ha="center", va="bottom", fontsize=7
    )
    ax.set_ylabel("sessions")


def durations_and_speeds(durations: Durations, speeds: Speeds) -> str | None:
    if not durations.histogram.total and not speeds.total:
        return None
    with _figure(9, 3.2) as fig:
        left, right = fig.subplots(1, 2)
        _histogram(left, durations.histogram, "min", PALETTE[0])
        left.set_xlabel("minutes plugged in")
        if durations.median_min is not None:
            left.set_title(
                f"session duration (median {durations.median_min:.0f} min, p90 {durations.p90_min:.0f} min)",
                fontsize=9,
            )
        for i, (power_class, bins) in enumerate(speeds.by_class.items()):
            right.bar(
                [b.kw_from for b in bins],
                [b.sessions for b in bins],
                width=[b.kw_width for b in bins],
                align="edge",
                alpha=0.85,
                color=PALETTE[i % len(PALETTE)],
                label=power_class,
            )
        right.set_xlabel("mean charging power (kW)")
        right.set_ylabel("sessions")
        right.set_title("charging speed by power class", fontsize=9)
        if speeds.by_class:
            right.legend(fontsize=7, frameon=False)
        return _svg(fig)


def idle(data: Idle) -> str | None:
    if not data.histogram.total:
        return None
    with _figure(9, 3.2) as fig:
        left, right = fig.subplots(1, 2, width_ratios=(3, 2))
        _histogram(left, data.histogram, "min", PALETTE[3])
        left.set_xlabel("idle minutes (plugged in after charging ended)")
        left.set_title(f"{data.histogram.total} sessions with idle time", fontsize=9)
        worst = data.offenders[::-1]
        right.barh([label(o.who, 12) for o in worst], [o.idle_total_min for o in worst], color=PALETTE[3])
        right.set_xlabel("idle minutes, total")
        right.set_title("worst offenders (hashed id token)", fontsize=9)
        return _svg(fig)


MAX_PORTS_PLOTTED = 25


def uptime(data: Uptime) -> str | None:
    if not data.ports:
        return None
    worst = data.ports[:MAX_PORTS_PLOTTED][::-1]
    low = min(p.uptime_pct for p in worst)
    with _figure(9, 0.8 + 0.2 * len(worst)) as fig:
        ax = fig.subplots()
        ax.barh(
            [label(f"{p.station} #{p.connector}", 34) for p in worst],
            [p.uptime_pct for p in worst],
            color=[PALETTE[3] if p.uptime_pct < UPTIME_TARGET_PCT else PALETTE[2] for p in worst],
        )
        ax.axvline(UPTIME_TARGET_PCT, color="black", linestyle="--", linewidth=0.8)
        ax.annotate(f"NEVI {UPTIME_TARGET_PCT:g} %", (UPTIME_TARGET_PCT, len(worst) - 0.4), fontsize=7)
        ax.set_xlim(max(0.0, min(low, UPTIME_TARGET_PCT) - 2), 100)
        ax.set_xlabel("uptime over the period (%)")
        ax.tick_params(axis="y", labelsize=7)
        return _svg(fig)


MAX_TIMELINE_ROWS = 30


def fault_timeline(data: Faults, since_ms: int, until_ms: int) -> str | None:
    if not data.alerts:
        return None
    per_row: dict[str, int] = {}
    for a in data.alerts:
        per_row[a.row] = per_row.get(a.row, 0) + 1
    rows = sorted(per_row, key=lambda r: (-per_row[r], r))[:MAX_TIMELINE_ROWS]
    y = {r: i for i, r in enumerate(sorted(rows, reverse=True))}
    kinds = sorted({a.kind for a in data.alerts})
    colors = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(kinds)}
    with _figure(9, 1.0 + 0.22 * len(rows)) as fig:
        ax = fig.subplots()
        for kind in kinds:
            spans = [
                (_when(max(a.opened_ms, since_ms)), _when(min(a.resolved_ms or until_ms, until_ms)), y[a.row])
                for a in data.alerts
                if a.kind == kind and a.row in y
            ]
            if spans:
                ax.hlines(
                    [s[2] for s in spans],
                    [s[0] for s in spans],
                    [s[1] for s in spans],
                    colors=colors[kind],
                    linewidth=5,
                    label=kind,
                )
                ax.plot([s[0] for s in spans], [s[2] for s in spans], "|", color=colors[kind], markersize=8)
        ax.set_yticks(list(y.values()), [label(r, 30) for r in y])
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlim(_when(since_ms), _when(until_ms))
        ax.xaxis_date(UTC)
        fig.legend(fontsize=7, ncols=5, frameon=False, loc="outside upper center")
        ax.set_xlabel("time (UTC): opened → resolved (to the period's end while open)")
        fig.autofmt_xdate()
        return _svg(fig)


def _when(ms: int) -> float:
    """Epoch ms as matplotlib's date number: days since its epoch, pinned to 1970 in RC."""
    return ms / 86_400_000


def revenue(data: Revenue) -> str | None:
    totals = data.totals()
    if not totals:
        return None
    with _figure(9, 0.9 + 0.35 * len(totals) + 0.25 * min(len(data.rows), 12)) as fig:
        ax = fig.subplots()
        rows = [*totals, *sorted(data.rows, key=lambda r: (r.currency, -r.total))[:12]]
        names = [label(f"{r.site} ({r.currency})", 34) for r in rows][::-1]
        left = [0.0] * len(rows)
        for i, component in enumerate(COMPONENTS):
            values = [float(getattr(r, component)) for r in rows][::-1]
            ax.barh(names, values, left=left, color=PALETTE[i], label=component)
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.set_xlabel("billed, excl. VAT (each row in its own currency)")
        fig.legend(fontsize=7, ncols=4, frameon=False, loc="outside upper center")
        ax.tick_params(axis="y", labelsize=7)
        return _svg(fig)
